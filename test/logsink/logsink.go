// Package logsink is a log destination that many goroutines write to while
// another reads what was written: the functions' logs on the local stack, and
// the loggers of in-process tests.
package logsink

import (
	"bytes"
	"io"
	"sync"
)

// Buffer keeps everything written to it and is safe for concurrent use.
// When Tee is set (before the first write), every write is copied to it too.
type Buffer struct {
	Tee io.Writer

	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p (and writes it to Tee, if set).
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
