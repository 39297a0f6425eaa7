// Package audit writes the decision log: one JSON line per /auth answer,
// never a password, a hash or the Authorization header.
package audit

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Decisions written to the audit log and counted in metrics.
const (
	Allow     = "allow"
	Deny      = "deny"
	Throttled = "throttled"
	Forbidden = "forbidden"
	Error     = "error"
)

// Record is one line of the audit log. It never holds a password or the
// Authorization header.
type Record struct {
	Time      time.Time `json:"time"`
	RequestID string    `json:"request_id,omitempty"`
	ClientIP  string    `json:"client_ip"`
	User      string    `json:"user,omitempty"`
	TokenID   string    `json:"token_id,omitempty"` // the API token's id, never the token
	Method    string    `json:"method,omitempty"`
	URI       string    `json:"uri,omitempty"`
	Host      string    `json:"host,omitempty"`
	Decision  string    `json:"decision"`
	Reason    string    `json:"reason,omitempty"`
	Backend   string    `json:"backend,omitempty"`
	Role      string    `json:"role,omitempty"`
	CacheHit  bool      `json:"cache_hit"`
	Latency   float64   `json:"latency_seconds"`
}

// Log writes one JSON line per decision to stdout, stderr or a file, which
// Reopen opens anew (after logrotate moved it).
type Log struct {
	mu   sync.Mutex
	path string // "" for stdout/stderr
	w    io.Writer
	f    *os.File
	buf  []byte // the line being written, under mu
}

// Open opens output: "stdout", "stderr" or a file path (appended to,
// created 0640).
func Open(output string) (*Log, error) {
	a := &Log{}
	switch output {
	case "stdout":
		a.w = os.Stdout
	case "stderr":
		a.w = os.Stderr
	default:
		a.path = output
		if err := a.Reopen(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Reopen reopens a file output; a no-op for stdout and stderr.
func (a *Log) Reopen() error {
	if a.path == "" {
		return nil
	}
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("audit.output: %w", err)
	}
	a.mu.Lock()
	old := a.f
	a.f, a.w = f, f
	a.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Write writes one record.
func (a *Log) Write(rec *Record) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.buf = append(rec.appendJSON(a.buf[:0]), '\n')
	a.w.Write(a.buf)
	if cap(a.buf) > 64<<10 {
		a.buf = nil // one odd record does not keep a large buffer
	}
}

// Close closes a file output.
func (a *Log) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f != nil {
		return a.f.Close()
	}
	return nil
}
