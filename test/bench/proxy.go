package main

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// meter accounts the time one function spends waiting on its peers: the
// wall time during which at least one of its requests to a peer is in
// flight (so overlapping requests are not counted twice), and the number of
// requests per peer and operation. Every function gets its own meter and its
// own proxies, and an instance runs one invocation at a time, so the
// difference of two snapshots taken around an invocation is that
// invocation's peer time.
type meter struct {
	mu        sync.Mutex
	inflight  int
	busySince time.Time
	busy      time.Duration
	calls     map[string]int // "peer operation" → count
	refused   int            // RotateSecret calls answered InvalidRequestException
	ends      []callEnd
}

// callEnd is one finished peer request.
type callEnd struct {
	op  string
	end time.Time
}

// meterSnapshot is a meter's state at one instant.
type meterSnapshot struct {
	busy    time.Duration
	calls   map[string]int
	refused int
}

func newMeter() *meter { return &meter{calls: map[string]int{}} }

func (m *meter) begin() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inflight == 0 {
		m.busySince = time.Now()
	}
	m.inflight++
}

func (m *meter) end(op string, refused bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	m.inflight--
	if m.inflight == 0 {
		m.busy += now.Sub(m.busySince)
	}
	m.calls[op]++
	if refused {
		m.refused++
	}
	m.ends = append(m.ends, callEnd{op: op, end: now})
}

func (m *meter) snapshot() meterSnapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.busy
	if m.inflight > 0 {
		b += time.Since(m.busySince)
	}
	return meterSnapshot{busy: b, calls: maps.Clone(m.calls), refused: m.refused}
}

// lastEnd returns when the last request for op finished.
func (m *meter) lastEnd(op string) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.ends) - 1; i >= 0; i-- {
		if m.ends[i].op == op {
			return m.ends[i].end, true
		}
	}
	return time.Time{}, false
}

// diff returns the calls made between two snapshots.
func diff(before, after map[string]int) map[string]int {
	d := map[string]int{}
	for k, v := range after {
		if n := v - before[k]; n > 0 {
			d[k] = n
		}
	}
	return d
}

// timingProxy is a peer endpoint as a function sees it: it names each
// request's operation, times it on the function's meter and hands it to the
// real peer.
type timingProxy struct {
	peer     string
	meter    *meter
	classify func(r *http.Request) string
	next     http.Handler
}

func (p *timingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := p.classify(r)
	if p.peer != "" {
		op = p.peer + " " + op
	}
	p.meter.begin()
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		// The rotation engine refuses a RotateSecret while a rotation is incomplete.
		p.meter.end(op, op == "Secrets Manager RotateSecret" && sw.errorType == "InvalidRequestException")
	}()
	p.next.ServeHTTP(sw, r)
}

// statusWriter notes the AWS error type of an answer.
type statusWriter struct {
	http.ResponseWriter
	errorType string
}

func (w *statusWriter) WriteHeader(status int) {
	if status >= 400 {
		w.errorType = w.Header().Get("X-Amzn-ErrorType")
	}
	w.ResponseWriter.WriteHeader(status)
}

// forward returns a reverse proxy to base.
func forward(base string) http.Handler {
	u, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	return httputil.NewSingleHostReverseProxy(u)
}

// Operation names of the three protocols the functions speak.

// jsonTarget names an AWS JSON-protocol request (Secrets Manager) by its
// X-Amz-Target operation.
func jsonTarget(r *http.Request) string {
	t := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(t, '.'); i >= 0 {
		return t[i+1:]
	}
	return "?"
}

// queryAction names an AWS query-protocol request (SNS) by its Action form
// field. The body is read and put back.
func queryAction(r *http.Request) string {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return "?"
	}
	v, err := url.ParseQuery(string(body))
	if err != nil || v.Get("Action") == "" {
		return "?"
	}
	return v.Get("Action")
}

// amazonPath names an LWA or SP-API request by its path.
func amazonPath(r *http.Request) string {
	switch r.URL.Path {
	case "/auth/o2/token":
		return "LWA token"
	case "/applications/2023-11-30/clientSecret":
		return "SP-API rotateApplicationClientSecret"
	}
	return r.URL.Path
}
