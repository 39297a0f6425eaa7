package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authreq/authreq/authreq/tokens"
)

// API tokens through nginx with the shipped snippets: Bearer and Basic,
// and the upstream never receives the Authorization header.
func TestTokensThroughNginx(t *testing.T) {
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "tokens")
	tok, tk, err := tokens.New("alice", "READ", "e2e", time.Now(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(tokFile, []byte(tk.Format()+"\n"), 0o640)
	cfg := filepath.Join(dir, "authreq.yaml")
	os.WriteFile(cfg, []byte("tokens:\n  files: ["+tokFile+"]\n"), 0o640)
	s := startStack(t, map[string]string{"alice": "alice-pw", "bob": "bob-pw"}, "--config", cfg)
	path := "/api/2.0/mlflow/experiments/search?max_results=1"
	resp, sn := s.get(t, "GET", path, "", "", map[string]string{"Authorization": "Bearer " + tok, "X-User": "admin"}, "")
	if resp.StatusCode != 200 || sn.User != "alice" || sn.AuthUser != "alice" || sn.Role != "" || sn.Authorization {
		t.Errorf("bearer: %d %+v", resp.StatusCode, sn)
	}
	resp, sn = s.get(t, "GET", path, "alice", tok, nil, "")
	if resp.StatusCode != 200 || sn.User != "alice" || sn.Authorization {
		t.Errorf("basic with the token: %d %+v", resp.StatusCode, sn)
	}
	if resp, _ := s.get(t, "GET", path, "bob", tok, nil, ""); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != challenge {
		t.Errorf("another user's token: %d", resp.StatusCode)
	}
	if resp, _ := s.get(t, "GET", path, "", "", map[string]string{"Authorization": "Bearer " + tok + "x"}, ""); resp.StatusCode != 401 {
		t.Errorf("wrong bearer: %d", resp.StatusCode)
	}
	if strings.Contains(s.authreq.Output(), tok[len(tokens.Prefix)+13:]) {
		t.Error("authreq's output shows a token")
	}
}
