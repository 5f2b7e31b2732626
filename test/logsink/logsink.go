// Package logsink is a log destination many goroutines write to while another reads it.
package logsink

import (
	"bytes"
	"io"
	"sync"
)

// Buffer keeps everything written to it, and copies it to Tee if set; it is safe for concurrent use.
type Buffer struct {
	Tee io.Writer

	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Tee != nil {
		b.Tee.Write(p)
	}
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
