package authreq

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authreq/authreq/authreq/policy"
	"github.com/authreq/authreq/authreq/policy/mlflow"
	"github.com/authreq/authreq/internal/realtest"
)

func policyServer(t *testing.T) *testServer {
	t.Helper()
	return newTestServer(t, map[string]string{"alice": "pw", "root": "rootpw", "ann": "annpw"}, func(c *Config) {
		c.Policy = policy.Config{
			Admins: &policy.Subjects{Users: []string{"root"}},
			Rules: []policy.Rule{
				{PathPrefix: "/health", Public: true},
				{PathPrefix: "/api/", Methods: []string{"DELETE"}, Subjects: policy.Subjects{Users: []string{"ann"}}},
			},
		}
	})
}

func TestPolicyAnswers(t *testing.T) {
	s := policyServer(t)
	orig := func(method, uri string, hdr ...string) map[string]string {
		m := map[string]string{"X-Original-URI": uri, "X-Original-Method": method}
		for i := 0; i+1 < len(hdr); i += 2 {
			m[hdr[i]] = hdr[i+1]
		}
		return m
	}
	with := func(m map[string]string, user, pw string) map[string]string {
		m["Authorization"] = basic(user, pw)
		return m
	}
	for _, tt := range []struct {
		name       string
		hdr        map[string]string
		code       int
		user, role string
	}{
		{"public without credentials", orig("GET", "/health"), 200, "", ""},
		{"public with wrong credentials: none checked", with(orig("GET", "/health"), "alice", "wrong"), 200, "", ""},
		{"protected without credentials", orig("GET", "/api/x"), 401, "", ""},
		{"allowed", with(orig("GET", "/api/x"), "alice", "pw"), 200, "alice", ""},
		{"forbidden", with(orig("DELETE", "/api/x"), "alice", "pw"), 403, "", ""},
		{"forbidden, wrong password first", with(orig("DELETE", "/api/x"), "alice", "wrong"), 401, "", ""},
		{"rule's user", with(orig("DELETE", "/api/x"), "ann", "annpw"), 200, "ann", ""},
		{"admin", with(orig("DELETE", "/api/x"), "root", "rootpw"), 200, "root", "admin"},
		{"not canonical", with(orig("GET", "/health/../api/x"), "alice", "pw"), 403, "", ""},
		{"not canonical is never public", orig("GET", "/health/%2e%2e/api/x"), 401, "", ""},
		{"conflicting forms", with(orig("DELETE", "/api/x", "X-Forwarded-Uri", "/health"), "ann", "annpw"), 403, "", ""},
		{"conflicting forms are never public", orig("GET", "/health", "X-Forwarded-Uri", "/api/x"), 401, "", ""},
		{"conflicting forms, admin", with(orig("DELETE", "/api/x", "X-Forwarded-Uri", "/health"), "root", "rootpw"), 200, "root", "admin"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := s.do("GET", "/auth", tt.hdr)
			h := resp.Header
			if resp.StatusCode != tt.code || h.Get("X-User") != tt.user || h.Get("X-Role") != tt.role {
				t.Errorf("%d %q %q, want %d %q %q", resp.StatusCode, h.Get("X-User"), h.Get("X-Role"), tt.code, tt.user, tt.role)
			}
			if (h.Get("WWW-Authenticate") != "") != (tt.code == 401) {
				t.Errorf("%d with WWW-Authenticate %q", resp.StatusCode, h.Get("WWW-Authenticate"))
			}
		})
	}
	if got := s.metric(`authreq_decisions_total{backend="htpasswd",result="forbidden"}`); got != "3" {
		t.Errorf("forbidden decisions counted %q, want 3", got)
	}
	audit := s.auditLog(t)
	if !strings.Contains(audit, `"decision":"forbidden","reason":"rules[1]: not among its users, groups or roles"`) ||
		!strings.Contains(audit, `"reason":"conflicting original-request headers: nginx and forwarded"`) {
		t.Errorf("audit log lacks the forbidden decisions' reasons:\n%s", audit)
	}
}

// auditLog is what the server's audit log holds so far.
func (s *testServer) auditLog(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Group files give htpasswd users groups: in X-Groups, for the policy's
// rules, and reloaded like password files — a member removed from a group
// loses what the group gave at the reload, cache included.
func TestGroupFiles(t *testing.T) {
	var groups string
	s := newTestServer(t, map[string]string{"ann": "annpw", "bob": "bobpw"}, func(c *Config) {
		groups = filepath.Join(filepath.Dir(c.Htpasswd.Files[0]), "groups")
		os.WriteFile(groups, []byte("# teams\nanalysts: ann bob\nops: ann\n"), 0o640)
		c.Htpasswd.GroupFiles = []string{groups}
		c.Policy.Rules = []policy.Rule{{PathPrefix: "/reports/", Subjects: policy.Subjects{Groups: []string{"analysts"}}}}
	})
	get := func(user, pw string) (int, string) {
		resp := s.do("GET", "/auth", map[string]string{"Authorization": basic(user, pw), "X-Original-URI": "/reports/q3"})
		return resp.StatusCode, resp.Header.Get("X-Groups")
	}
	if code, g := get("ann", "annpw"); code != 200 || g != "analysts,ops" {
		t.Errorf("ann: %d %q", code, g)
	}
	if code, g := get("bob", "bobpw"); code != 200 || g != "analysts" {
		t.Errorf("bob: %d %q", code, g)
	}
	os.WriteFile(groups, []byte("# teams\nanalysts: ann\nops: ann\n"), 0o640)
	realtest.Eventually(t, 5*time.Second, "bob out of analysts", func() bool { code, _ := get("bob", "bobpw"); return code == 403 })
	if code, g := get("ann", "annpw"); code != 200 || g != "analysts,ops" {
		t.Errorf("ann after the reload: %d %q", code, g)
	}
	// A broken group file keeps the previous groups (and users), as a
	// broken password file does.
	os.WriteFile(groups, []byte("analysts ann\n"), 0o640)
	realtest.Eventually(t, 5*time.Second, "reload error counted", func() bool { return s.metric("authreq_reload_errors_total") >= "1" })
	if code, _ := get("ann", "annpw"); code != 200 {
		t.Errorf("ann with a broken group file: %d", code)
	}
}

// The mlflow preset through /auth, for every endpoint of its table, at
// every level, with each proxy's way of describing the original request.
func TestMLflowPresetThroughAuth(t *testing.T) {
	users := map[string]string{"nobody": "NO_PERMISSIONS", "reader": "READ", "user": "USE", "editor": "EDIT", "manager": "MANAGE", "root": "admin"}
	pw := map[string]string{}
	for u := range users {
		pw[u] = u + "-pw"
	}
	s := newTestServer(t, pw, func(c *Config) {
		c.Policy = policy.Config{Preset: "mlflow", DefaultPermission: "NO_PERMISSIONS", Admins: &policy.Subjects{Users: []string{"root"}}}
		for u, l := range users {
			if l != "admin" && l != "NO_PERMISSIONS" {
				c.Policy.Grants = append(c.Policy.Grants, policy.Grant{Subjects: policy.Subjects{Users: []string{u}}, Level: l})
			}
		}
	})
	forms := map[string]func(method, uri string) (string, string, map[string]string){
		"nginx": func(m, u string) (string, string, map[string]string) {
			return "GET", "/auth", map[string]string{"X-Original-URI": u, "X-Original-Method": m}
		},
		"ingress-nginx": func(m, u string) (string, string, map[string]string) {
			return "GET", "/auth", map[string]string{"X-Original-URL": "https://mlflow.example" + u, "X-Original-Method": m}
		},
		"forwarded": func(m, u string) (string, string, map[string]string) {
			return "GET", "/auth", map[string]string{"X-Forwarded-Uri": u, "X-Forwarded-Method": m, "X-Forwarded-Host": "mlflow.example"}
		},
		"envoy": func(m, u string) (string, string, map[string]string) { return m, "/auth" + u, map[string]string{} },
	}
	n := 0
	for _, r := range mlflow.Routes {
		uri := r.Example()
		for form, build := range forms {
			for u, level := range users {
				method, path, hdr := build(r.Method, uri)
				hdr["Authorization"] = basic(u, pw[u])
				code := s.do(method, path, hdr).StatusCode
				want := 403
				if policyExpect(r.Action, level) {
					want = 200
				}
				if code != want {
					t.Errorf("%s %s (%s) via %s as %s: %d, want %d", r.Method, uri, r.Action, form, level, code, want)
				}
				n++
			}
			method, path, hdr := build(r.Method, uri)
			if code := s.do(method, path, hdr).StatusCode; (code == 200) != (r.Action == "public") || (code != 200 && code != 401) {
				t.Errorf("%s %s (%s) via %s without credentials: %d", r.Method, uri, r.Action, form, code)
			}
		}
	}
	t.Logf("%d decisions", n)
}

// policyExpect: may a user at level (or "admin") do a route's action?
func policyExpect(action, level string) bool {
	switch {
	case level == "admin", action == "public", action == "authenticated":
		return true
	case action == "admin":
		return false
	}
	need, _ := policy.Action(action).Needs()
	have, _ := policy.ParseLevel(level)
	return have >= need
}

func TestGroupsHeader(t *testing.T) {
	if got := groupsHeader([]string{"x,mlflow-admins", "a%b", "plain"}); got != "x%2Cmlflow-admins,a%25b,plain" {
		t.Errorf("%q", got)
	}
}
