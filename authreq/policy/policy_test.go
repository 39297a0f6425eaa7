package policy

import (
	"strings"
	"testing"

	"github.com/authreq/authreq/authreq/identity"
	"github.com/authreq/authreq/authreq/request"
	"go.yaml.in/yaml/v3"
)

func mustPolicy(t *testing.T, src string) *Policy {
	t.Helper()
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	p, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func req(method, uri, host string) Request {
	return Request{Original: request.Original{Method: method, URI: uri, Host: host, Form: request.Nginx}, Workspace: "default"}
}

var (
	alice   = identity.Identity{User: "alice", Source: "htpasswd"}
	analyst = identity.Identity{User: "ann", Groups: []string{"Analysts"}, Source: "ldap", Role: "user"}
	boss    = identity.Identity{User: "boss", Role: "admin", Source: "ldap"}
	root    = identity.Identity{User: "root", Source: "htpasswd"}
)

func TestRules(t *testing.T) {
	p := mustPolicy(t, `
rules:
  - {pathPrefix: /health, public: true}
  - {host: admin.example.org, roles: [admin]}
  - {pathRegex: "^/reports/", methods: [GET], groups: [analysts]}
  - {pathPrefix: /api/, methods: [DELETE], users: [alice]}
  - {pathPrefix: /open/}
`)
	for _, tt := range []struct {
		name   string
		id     identity.Identity
		r      Request
		allow  bool
		public bool
	}{
		{"public", alice, req("GET", "/health", "m.example"), true, true},
		{"public with a query", identity.Identity{}, req("GET", "/health?x=1", "m.example"), true, true},
		{"admin host, user", alice, req("GET", "/", "admin.example.org"), false, false},
		{"admin host with port, user", alice, req("GET", "/", "ADMIN.example.org:443"), false, false},
		{"admin host, admin role", boss, req("GET", "/", "admin.example.org"), true, false},
		{"reports, analyst", analyst, req("GET", "/reports/q3", "m.example"), true, false},
		{"reports, HEAD is GET", analyst, req("HEAD", "/reports/q3", "m.example"), true, false},
		{"reports, not an analyst", alice, req("GET", "/reports/q3", "m.example"), false, false},
		{"reports, other method falls through", alice, req("POST", "/reports/q3", "m.example"), true, false},
		{"delete, alice", alice, req("DELETE", "/api/x", "m.example"), true, false},
		{"delete, analyst", analyst, req("DELETE", "/api/x", "m.example"), false, false},
		{"no subjects: any user", analyst, req("GET", "/open/x", "m.example"), true, false},
		{"no rule", analyst, req("GET", "/elsewhere", "m.example"), true, false},
		{"admins pass every rule", boss, req("DELETE", "/api/x", "m.example"), true, false},

		// The path the upstream routes, never a weaker rule's.
		{"dot segments", analyst, req("GET", "/health/../reports/q3", "m.example"), false, false},
		{"encoded dots", analyst, req("GET", "/health/%2e%2e/api/x", "m.example"), false, false},
		{"double slash", alice, req("GET", "//health", "m.example"), false, false},
		{"encoded slash", alice, req("GET", "/health%2fx", "m.example"), false, false},
		{"semicolon", alice, req("GET", "/health;x", "m.example"), false, false},
		{"backslash", alice, req("GET", "/health\\..\\x", "m.example"), false, false},
		{"bad escape", alice, req("GET", "/health%zz", "m.example"), false, false},
		{"encoded letters decode once", analyst, req("GET", "/%72eports/q3", "m.example"), true, false},
		{"encoded letters, not an analyst", alice, req("GET", "/%72eports/q3", "m.example"), false, false},
		{"double encoding stays encoded", alice, req("GET", "/%2572eports/q3", "m.example"), true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Public(tt.r); got != tt.public {
				t.Errorf("Public %v, want %v", got, tt.public)
			}
			if d := p.Decide(tt.id, tt.r); d.Allow != tt.allow || d.Reason == "" {
				t.Errorf("%+v, want allow %v", d, tt.allow)
			}
		})
	}
}

func TestAdmins(t *testing.T) {
	def := mustPolicy(t, `rules: [{pathPrefix: /x, users: [nobody]}]`)
	named := mustPolicy(t, `{admins: {users: [root], groups: [ops]}, rules: [{pathPrefix: /x, users: [nobody]}]}`)
	for _, tt := range []struct {
		p     *Policy
		id    identity.Identity
		admin bool
	}{
		{def, boss, true}, {def, root, false},
		{named, root, true}, {named, boss, false}, // the key replaces the role default
		{named, identity.Identity{User: "o", Groups: []string{"OPS"}}, true},
		{named, identity.Identity{User: "Root"}, false}, // user names match exactly
	} {
		d := tt.p.Decide(tt.id, req("GET", "/x", "h"))
		if d.Admin != tt.admin || d.Allow != tt.admin {
			t.Errorf("%+v: %+v, want admin %v", tt.id, d, tt.admin)
		}
	}
}

// A description of the original request that cannot be believed is
// refused for everyone but admins, and is never public.
func TestUnbelievedRequests(t *testing.T) {
	p := mustPolicy(t, `rules: [{pathPrefix: /health, public: true}]`)
	for _, err := range []error{request.ErrConflict, request.ErrNoForm} {
		r := req("GET", "/health", "h")
		r.Err = err
		if p.Public(r) || p.Decide(alice, r).Allow || !p.Decide(boss, r).Allow {
			t.Errorf("%v: public %v, alice %+v, admin %+v", err, p.Public(r), p.Decide(alice, r), p.Decide(boss, r))
		}
	}
}

func TestNoPolicy(t *testing.T) {
	for _, src := range []string{`{}`, `{rules: []}`} {
		p := mustPolicy(t, src)
		r := req("DELETE", "/x/../y", "h")
		r.Err = request.ErrConflict
		if p.Enabled() || p.Public(r) || !p.Decide(alice, r).Allow {
			t.Errorf("%s: a policy that says nothing must allow every authenticated user, and nothing without credentials", src)
		}
	}
}

func TestCanonicalPath(t *testing.T) {
	for uri, want := range map[string]string{
		"/":               "/",
		"/a/b?x=1":        "/a/b",
		"/a%20b":          "/a b",
		"/a/":             "/a/",
		"/%41":            "/A",
		"/a/b%3Fc?d":      "/a/b?c",
		"/api/2.0/mlflow": "/api/2.0/mlflow",
	} {
		if got, _, ok := CanonicalPath(uri); !ok || got != want {
			t.Errorf("%q: %q %v, want %q", uri, got, ok, want)
		}
	}
	for _, uri := range []string{"", "a", "//", "/a//b", "/./a", "/a/.", "/a/..", "/%2e%2e/a", "/a/%2E", "/a%2fb", "/a%2Fb",
		"/a%5cb", "/a\\b", "/a;b", "/a%3bb/..", "/a%00", "/a%zz", "/a%", "http://x/a", "*"} {
		if p, _, ok := CanonicalPath(uri); ok {
			t.Errorf("%q: canonical %q", uri, p)
		}
	}
}

func FuzzCanonicalPath(f *testing.F) {
	for _, s := range []string{"/a/b", "/a/../b", "/%2e%2e", "//x", "/a;b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		p, _, ok := CanonicalPath(uri)
		if !ok {
			return
		}
		// A canonical path has no segment an upstream could resolve
		// differently.
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") || strings.Contains(p, "/./") || strings.Contains(p, "/../") ||
			strings.HasSuffix(p, "/..") || strings.HasSuffix(p, "/.") || strings.ContainsAny(p, ";\\\x00") {
			t.Fatalf("%q → %q", uri, p)
		}
	})
}
