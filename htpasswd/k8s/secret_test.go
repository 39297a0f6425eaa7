package k8s

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/authreq/authreq/htpasswd"
)

func mustSecret(t *testing.T, name string) *Secret {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSecret(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

func users(f *htpasswd.File) string {
	var u []string
	for _, e := range f.Entries() {
		u = append(u, e.User)
	}
	return strings.Join(u, ",")
}

func TestSecretEditRoundTrip(t *testing.T) {
	for _, name := range []string{"secret-kubectl.yaml", "secret-kubectl.json", "secret-stringdata.yaml"} {
		t.Run(name, func(t *testing.T) {
			s := mustSecret(t, name)
			if s.Format() != AuthFile {
				t.Fatalf("format %s", s.Format())
			}
			f, err := s.File("")
			if err != nil {
				t.Fatal(err)
			}
			if e, ok := f.Lookup("alice"); !ok || !e.Parsed.Verify([]byte("password")) {
				t.Fatal("alice missing")
			}
			f.Set("bob", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=")
			if err := s.SetFile(f, ""); err != nil {
				t.Fatal(err)
			}
			out, err := s.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			for _, gone := range []string{"resourceVersion", "uid:", `"uid"`, "creationTimestamp", "managedFields", "last-applied", "stringData"} {
				if bytes.Contains(out, []byte(gone)) {
					t.Errorf("output keeps %s:\n%s", gone, out)
				}
			}
			if strings.HasSuffix(name, ".json") != bytes.HasPrefix(out, []byte("{")) {
				t.Errorf("output format differs from input:\n%s", out)
			}
			if strings.Contains(name, "kubectl") && !bytes.Contains(out, []byte("mlflow")) {
				t.Errorf("labels/namespace lost:\n%s", out)
			}
			back, err := ParseSecret(out)
			if err != nil {
				t.Fatalf("reparse: %v\n%s", err, out)
			}
			f2, err := back.File("")
			if err != nil || users(f2) != "alice,bob" {
				t.Fatalf("after round trip: %s, %v", users(f2), err)
			}
			if !bytes.Equal(f2.Bytes(), f.Bytes()) {
				t.Errorf("htpasswd content changed: %q vs %q", f2.Bytes(), f.Bytes())
			}
		})
	}
}

func TestSecretAuthMap(t *testing.T) {
	s := mustSecret(t, "secret-authmap.yaml")
	if s.Format() != AuthMap {
		t.Fatalf("format %s", s.Format())
	}
	f, err := s.File("")
	if err != nil || users(f) != "alice,bob" {
		t.Fatalf("%s %v", users(f), err)
	}
	f.Delete("alice")
	f.Set("carol", "$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.")
	if err := s.SetFile(f, ""); err != nil {
		t.Fatal(err)
	}
	out, _ := s.Marshal()
	back, _ := ParseSecret(out)
	f2, err := back.File(AuthMap)
	if err != nil || users(f2) != "bob,carol" {
		t.Fatalf("%s %v\n%s", users(f2), err, out)
	}
	if _, err := f.Set("dave smith", "{SHA}x"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFile(f, AuthMap); !errors.Is(err, ErrUserNotInMap) || !strings.Contains(err.Error(), "dave smith") {
		t.Errorf("bad map key: %v", err)
	}
}

func TestNewSecret(t *testing.T) {
	f, _ := htpasswd.Parse(strings.NewReader("alice:$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.\n"))
	s, err := NewSecret("mlflow-auth", "mlflow", f, AuthFile)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := s.Marshal()
	want := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: mlflow-auth\n  namespace: mlflow\ntype: Opaque\ndata:\n  auth: YWxpY2U6JGFwcjEkc2FsdCRYeGQxaXJXVDl5Y3FvWXhHRm40Y2IuCg==\n"
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	for _, bad := range [][2]string{{"Bad_Name", ""}, {"", ""}, {"ok", "Bad NS"}, {strings.Repeat("a", 254), ""}} {
		if _, err := NewSecret(bad[0], bad[1], f, AuthFile); err == nil {
			t.Errorf("NewSecret(%q, %q) succeeded", bad[0], bad[1])
		}
	}
}

func TestSecretErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "not a Kubernetes Secret"},
		{"kind: ConfigMap\napiVersion: v1\n", `kind is "ConfigMap"`},
		{"kind: List\nitems: []\n", "pass one Secret"},
		{"kind: Secret\napiVersion: v2\n", "apiVersion"},
		{"kind: Secret\ndata:\n  auth: 'not*base64'\n", `data["auth"]: invalid base64`},
		{"kind: Secret\ndata: [1, 2]\n", "data: not a mapping"},
		{"kind: Secret\n---\nkind: Secret\n", "more than one"},
		{"{not yaml", "decoding"},
		{"kind: Secret\nmetadata: &a {name: x}\nother: *a\n", "aliases"},
		{"- a\n- b\n", "not a mapping"},
	}
	for _, tt := range tests {
		_, err := ParseSecret([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSecret(%q) = %v, want %q", tt.in, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "not*base64") {
			t.Errorf("error quotes the value: %v", err)
		}
	}
	s, err := ParseSecret([]byte("kind: Secret\ndata:\n  other: eA==\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.File(AuthFile); !errors.Is(err, ErrNoAuthKey) {
		t.Errorf("missing key: %v", err)
	}
	s, _ = ParseSecret([]byte("kind: Secret\nstringData:\n  auth: \"no colon\"\n"))
	if _, err := s.File(""); err == nil || !strings.Contains(err.Error(), `stringData["auth"]: line 1`) {
		t.Errorf("broken htpasswd in secret: %v", err)
	}
	// A Secret holds at most 1 MiB: a manifest over 3 MiB is none.
	if _, err := ParseSecret(bytes.Repeat([]byte(" "), MaxSecretSize+1)); !errors.Is(err, ErrSecretTooLarge) || !strings.Contains(err.Error(), "3 MiB") {
		t.Errorf("oversize: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	os.WriteFile(big, append([]byte("kind: Secret\n#"), bytes.Repeat([]byte("x"), MaxSecretSize)...), 0o600)
	if err := UpdateSecretFile(big, "", setUser("a", "{SHA}x")); !errors.Is(err, ErrSecretTooLarge) || !strings.Contains(err.Error(), big) {
		t.Errorf("oversize manifest file: %v", err)
	}
}

func FuzzParseSecret(f *testing.F) {
	files, _ := filepath.Glob("testdata/secret-*")
	for _, name := range files {
		b, _ := os.ReadFile(name)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := ParseSecret(in)
		if err != nil {
			return
		}
		file, err := s.File("")
		if err != nil {
			return
		}
		format := s.Format()
		if err := s.SetFile(file, format); err != nil {
			return // e.g. a user name an auth-map cannot hold
		}
		out, err := s.Marshal()
		if err != nil {
			return // e.g. a YAML-only scalar in a JSON manifest
		}
		back, err := ParseSecret(out)
		if err != nil {
			t.Fatalf("reparse of our own output: %v\n%s", err, out)
		}
		again, err := back.File(format)
		if err != nil {
			t.Fatalf("htpasswd.File after round trip: %v", err)
		}
		if users(again) != users(file) {
			t.Fatalf("users %q became %q", users(file), users(again))
		}
	})
}

func TestUpdateSecretFile(t *testing.T) {
	for _, name := range []string{"secret-kubectl.yaml", "secret-kubectl.json", "secret-authmap.yaml"} {
		t.Run(name, func(t *testing.T) {
			orig, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), name)
			if err := os.WriteFile(path, orig, 0o600); err != nil {
				t.Fatal(err)
			}
			before, _ := mustSecret(t, name).File("")
			// Concurrent edits, each reading the manifest under the lock,
			// lose nothing.
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- UpdateSecretFile(path, "", setUser(fmt.Sprintf("user%02d", i), "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="))
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			b, _ := os.ReadFile(path)
			s, err := ParseSecret(b)
			if err != nil {
				t.Fatal(err)
			}
			f, err := s.File("")
			if err != nil {
				t.Fatal(err)
			}
			if f.Len() != before.Len()+20 || s.Format() != mustSecret(t, name).Format() {
				t.Errorf("%d users in %s, want %d in %s", f.Len(), s.Format(), before.Len()+20, mustSecret(t, name).Format())
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", fi.Mode())
			}
			// A failing edit leaves the file as it was.
			boom := errors.New("boom")
			if err := UpdateSecretFile(path, "", func(f *htpasswd.File) error { f.Delete("user00"); return boom }); !errors.Is(err, boom) {
				t.Errorf("fn error: %v", err)
			}
			if again, _ := os.ReadFile(path); !bytes.Equal(again, b) {
				t.Error("a failed edit changed the file")
			}
		})
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "configmap.yaml")
	os.WriteFile(bad, []byte("kind: ConfigMap\n"), 0o600)
	if err := UpdateSecretFile(bad, "", setUser("a", "{SHA}x")); !errors.Is(err, ErrNotSecret) || !strings.Contains(err.Error(), bad) {
		t.Errorf("not a Secret: %v", err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	if err := UpdateSecretFile(missing, "", setUser("a", "{SHA}x")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing manifest: %v", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a missing manifest was created")
	}
}
