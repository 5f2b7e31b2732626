package logsink

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

func TestBufferConcurrentWritesAndTee(t *testing.T) {
	var tee bytes.Buffer
	b := &Buffer{Tee: &tee}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("line\n"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "line\n"); n != 800 {
		t.Errorf("buffer holds %d lines, want 800", n)
	}
	if tee.String() != b.String() {
		t.Error("tee did not receive every write")
	}
}
