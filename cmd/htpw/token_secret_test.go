package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The "tokens" key of an auth-file Secret, beside "auth": in place, or the
// manifest on stdout (the token then on stderr); list and revoke alike.
func TestTokenCommandsOnSecrets(t *testing.T) {
	h := newHarness(t)
	m := filepath.Join(h.dir, "secret.yaml")
	os.WriteFile(m, []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: mlflow-auth\ntype: Opaque\ndata:\n  auth: YWxpY2U6eAo=\n"), 0o600)
	r := h.run("", "token", "create", "--secret", m, "--in-place", "--name", "ci", "alice")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "authreq_") {
		t.Fatalf("create in place: %+v", r)
	}
	tok := strings.TrimSpace(r.stdout)
	b, _ := os.ReadFile(m)
	if strings.Contains(string(b), tok) || !strings.Contains(string(b), "tokens: ") || !strings.Contains(string(b), "auth: YWxpY2U6eAo=") {
		t.Errorf("manifest:\n%s", b)
	}
	r = h.run("", "token", "list", "--secret", m)
	id := tok[len("authreq_") : len("authreq_")+12]
	if r.code != 0 || !strings.Contains(r.stdout, id) || strings.Contains(r.stdout, tok) {
		t.Errorf("list: %+v", r)
	}
	// To stdout: the manifest there, the new token on stderr only.
	r = h.run(string(b), "token", "create", "--secret", "-", "bob")
	if r.code != 0 || !strings.Contains(r.stdout, "kind: Secret") || strings.Contains(r.stdout, "authreq_") || !strings.Contains(r.stderr, "authreq_") {
		t.Errorf("create to stdout: %+v", r)
	}
	h.want(h.run("", "token", "revoke", "--secret", m, "--in-place", id), 0, "")
	b2, _ := os.ReadFile(m)
	enc := strings.SplitN(strings.SplitN(string(b2), "tokens: ", 2)[1], "\n", 2)[0]
	if dec, _ := base64.StdEncoding.DecodeString(enc); strings.Contains(string(dec), id) {
		t.Errorf("revoked token still in the Secret: %q", dec)
	}
	h.want(h.run("", "token", "revoke", "--secret", m, "--in-place", id), 6, "no token")
	authMap := filepath.Join(h.dir, "map.yaml")
	os.WriteFile(authMap, []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: m}\ndata:\n  alice: eA==\n"), 0o600)
	h.want(h.run("", "token", "create", "--secret", authMap, "--in-place", "alice"), 1, "auth-map")
	h.want(h.run("", "token", "list", "--in-place"), 2, "--in-place needs --secret")
}
