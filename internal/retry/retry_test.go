package retry

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"5", 5 * time.Second},
		{" 60 ", time.Minute},
		{"0", 0},
		{"-3", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Add(72 * time.Hour).Format(http.TimeFormat), MaxAfter},
		{"99999999999", MaxAfter},
	}
	for _, tt := range tests {
		if got := After(tt.in, now); got != tt.want {
			t.Errorf("After(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestSleepUntil(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if !SleepUntil(ctx, start.Add(20*time.Millisecond)) {
		t.Error("SleepUntil(before the deadline) = false, want true")
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Error("SleepUntil returned before t")
	}
	start = time.Now()
	if SleepUntil(ctx, start.Add(time.Second)) {
		t.Error("SleepUntil(past the deadline) = true, want false")
	}
	if time.Since(start) > 100*time.Millisecond {
		t.Error("SleepUntil started a wait the deadline cuts short")
	}
	cancel()
	if SleepUntil(ctx, time.Now().Add(-time.Second)) {
		t.Error("SleepUntil on a done context = true, want false")
	}
}

func TestSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	if !Sleep(ctx, 0) {
		t.Error("Sleep(0) on a live context = false, want true")
	}
	start := time.Now()
	if !Sleep(ctx, 20*time.Millisecond) || time.Since(start) < 20*time.Millisecond {
		t.Error("Sleep(20ms) did not wait 20ms and report true")
	}
	time.AfterFunc(20*time.Millisecond, cancel)
	start = time.Now()
	if Sleep(ctx, time.Minute) {
		t.Error("Sleep cut short by cancel = true, want false")
	}
	if time.Since(start) > 30*time.Second {
		t.Error("Sleep did not return when the context was cancelled")
	}
	if Sleep(ctx, 0) {
		t.Error("Sleep(0) on a done context = true, want false")
	}
}

func TestBackoff(t *testing.T) {
	const first, ceil = 100 * time.Millisecond, time.Second
	for n := 1; n <= 64; n++ {
		lo := ceil
		if n < 8 {
			lo = min(first<<(n-1), ceil)
		}
		hi := min(lo+lo/2, ceil)
		for range 200 {
			if d := Backoff(n, first, ceil); d < lo || d > hi {
				t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", n, d, lo, hi)
			}
		}
	}
	if d := Backoff(3, 0, 0); d != time.Millisecond {
		t.Errorf("Backoff(3, 0, 0) = %v, want the 1ms floor", d)
	}
}
