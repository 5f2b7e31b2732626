// Package retry holds what the LWA and SP-API clients share when they retry: a
// jittered exponential backoff, the Retry-After header (RFC 9110), and waits that
// do not start when the caller's deadline would cut them short.
package retry

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxAfter caps a Retry-After delay.
const MaxAfter = 24 * time.Hour

// Backoff returns the wait before retry n (n >= 1): first·2ⁿ⁻¹ plus up to half
// of that in jitter, never above ceil; a wait is never shorter than the one before.
func Backoff(n int, first, ceil time.Duration) time.Duration {
	d := max(first, time.Millisecond)
	ceil = max(ceil, d)
	for i := 1; i < n && d < ceil; i++ {
		d += min(d, ceil-d) // doubles, but never past ceil (nor overflows)
	}
	return min(d+rand.N(d/2+1), ceil)
}

// After reads a Retry-After value (delay-seconds or an HTTP date) at now:
// 0 when absent, malformed or past, at most MaxAfter.
func After(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(min(max(s, 0), int64(MaxAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), MaxAfter)
	}
	return 0
}

// SleepUntil waits until t unless ctx ends first, and reports whether t was
// reached; it does not start a wait that would not end before ctx's deadline.
func SleepUntil(ctx context.Context, t time.Time) bool {
	if dl, ok := ctx.Deadline(); ok && !t.Before(dl) {
		return false
	}
	return Sleep(ctx, time.Until(t))
}

// Sleep waits d unless ctx ends first and reports whether d elapsed (d <= 0: whether ctx is live).
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-time.After(d): // unreferenced timers are collected (Go 1.23)
		return true
	case <-ctx.Done():
		return false
	}
}
