package authreq

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Decisions written to the audit log and counted in metrics.
const (
	decisionAllow     = "allow"
	decisionDeny      = "deny"
	decisionThrottled = "throttled"
	decisionForbidden = "forbidden"
	decisionError     = "error"
)

// auditRecord is one line of the audit log. It never holds a password or
// the Authorization header.
type auditRecord struct {
	Time      time.Time `json:"time"`
	RequestID string    `json:"request_id,omitempty"`
	ClientIP  string    `json:"client_ip"`
	User      string    `json:"user,omitempty"`
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

// auditLog writes one JSON line per decision to stdout, stderr or a file,
// which Reopen opens anew (after logrotate moved it).
type auditLog struct {
	mu   sync.Mutex
	path string // "" for stdout/stderr
	w    io.Writer
	f    *os.File
}

func openAudit(output string) (*auditLog, error) {
	a := &auditLog{}
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
func (a *auditLog) Reopen() error {
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

func (a *auditLog) Write(rec *auditRecord) {
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	b = append(b, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	a.w.Write(b)
}

func (a *auditLog) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f != nil {
		return a.f.Close()
	}
	return nil
}
