package authreq

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/authreq/authreq/htpasswd"
)

// sink is a ResponseWriter that keeps nothing between requests but its
// header map, as net/http's own response does per request.
type sink struct{ h http.Header }

func (s *sink) Header() http.Header         { return s.h }
func (s *sink) Write(p []byte) (int, error) { return len(p), nil }
func (s *sink) WriteHeader(int)             {}

// BenchmarkServeCached is a cached decision's own cost, without the HTTP
// stack's: one request value served again and again. Its allocs/op beside
// BenchmarkServeYes (a handler that only answers 200 with the same
// headers) are what authreq adds per request.
func BenchmarkServeCached(b *testing.B) {
	// The audit log apart from the watched htpasswd file, as installed:
	// beside it, every line would wake the file watcher.
	s := serveHtpasswd(b, "x:"+hashOf(b, "y")+"\n", func(c *Config) { c.Audit.Output = filepath.Join(b.TempDir(), "audit.log") })
	hash, _ := htpasswd.Generate(htpasswd.Bcrypt, []byte("pw"), 10)
	os.WriteFile(s.file, []byte("alice:"+hash+"\n"), 0o640)
	s.Reload()
	benchServe(b, s)
}

func BenchmarkServeYes(b *testing.B) {
	benchServe(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.Header.Get("Authorization")
		w.Header().Set("X-User", "alice")
		w.Header().Set("X-Auth-Request-User", "alice")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(200)
	}))
}

func benchServe(b *testing.B, h http.Handler) {
	r := httptest.NewRequest("GET", "/auth", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("Authorization", basic("alice", "pw"))
	r.Header.Set("X-Original-URI", "/api/2.0/mlflow/experiments/search")
	r.Header.Set("X-Original-Method", "GET")
	w := &sink{h: make(http.Header)}
	h.ServeHTTP(w, r)
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}
