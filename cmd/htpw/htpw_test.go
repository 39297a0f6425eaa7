package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authreq/authreq/htpasswd"
	"github.com/authreq/authreq/htpasswd/k8s"
)

// secretPassword is distinctive so that tests can grep every output for it.
const secretPassword = "Zebra-Quartz-91!"

type result struct {
	code           int
	stdout, stderr string
}

type harness struct {
	t      *testing.T
	dir    string
	file   string
	tty    bool
	typed  []string // answers to prompts, in order
	asked  []string
	busy   bool // the last isTTY call was told stdin carries a manifest
	extEnv map[string]string
	// onPrompt, if set, runs at each password prompt.
	onPrompt func()
}

func newHarness(t *testing.T) *harness {
	dir := t.TempDir()
	return &harness{t: t, dir: dir, file: filepath.Join(dir, "htpasswd"), extEnv: map[string]string{}}
}

// run runs htpw in-process with args (after "htpw") and stdin.
func (h *harness) run(stdin string, args ...string) result {
	h.t.Helper()
	var out, errb bytes.Buffer
	e := &env{
		stdin:  strings.NewReader(stdin),
		stdout: &out,
		stderr: &errb,
		getenv: func(k string) string { return h.extEnv[k] },
		isTTY:  func(busy bool) bool { h.busy = busy; return h.tty },
		readPassword: func(prompt string, busy bool) ([]byte, error) {
			h.asked = append(h.asked, prompt)
			if h.onPrompt != nil {
				h.onPrompt()
			}
			if len(h.typed) == 0 {
				return nil, errors.New("EOF")
			}
			p := h.typed[0]
			h.typed = h.typed[1:]
			return []byte(p), nil
		},
	}
	code := run(context.Background(), append([]string{"htpw"}, args...), e)
	r := result{code, out.String(), errb.String()}
	for _, s := range []string{r.stdout, r.stderr} {
		if strings.Contains(s, secretPassword) {
			h.t.Errorf("output shows the password: %q", s)
		}
		if strings.Contains(s, "$2a$") || strings.Contains(s, "$2y$") || strings.Contains(s, "$apr1$") || strings.Contains(s, "$6$") {
			h.t.Errorf("output shows a hash: %q", s)
		}
	}
	return r
}

func (h *harness) want(r result, code int, stderrHas string) {
	h.t.Helper()
	if r.code != code || !strings.Contains(r.stderr, stderrHas) {
		h.t.Errorf("exit %d stderr %q; want exit %d with %q", r.code, r.stderr, code, stderrHas)
	}
}

func TestAddPasswdDeleteVerify(t *testing.T) {
	h := newHarness(t)
	f := h.file
	h.want(h.run(secretPassword+"\n", "add", "-f", f, "--stdin", "--cost", "4", "alice"), 0, "")
	if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("new file: %v %v", fi, err)
	}
	h.want(h.run(secretPassword+"\n", "verify", "-f", f, "--stdin", "alice"), 0, "correct")
	h.want(h.run("wrong\n", "verify", "-f", f, "--stdin", "alice"), 3, "does not match")
	h.want(h.run(secretPassword+"\n", "verify", "-f", f, "--stdin", "bob"), 6, `user "bob" not found`)
	h.want(h.run("x\n", "add", "-f", f, "--stdin", "alice"), 1, "already exists")
	h.want(h.run("x\n", "passwd", "-f", f, "--stdin", "bob"), 6, "not found")
	h.want(h.run("new-"+secretPassword+"\r\n", "passwd", "-f", f, "--stdin", "--algo", "apr1", "alice"), 0, "")
	h.want(h.run("new-"+secretPassword+"\n", "verify", "-f", f, "--stdin", "alice"), 0, "")
	h.want(h.run("", "delete", "-f", f, "bob"), 6, "not found")
	h.want(h.run("", "delete", "-f", f, "alice"), 0, "")
	h.want(h.run("", "verify", "-f", f, "--stdin", "alice"), 6, "not found")
	h.want(h.run("", "passwd", "-f", filepath.Join(h.dir, "missing"), "--stdin", "alice"), 1, "no such file")
	h.want(h.run("", "delete", "-f", h.dir, "alice"), 1, "is a directory")
	h.want(h.run("x\n", "add", "-f", h.dir, "--stdin", "alice"), 1, "is a directory")
}

// An edit refuses a FILE that is a symbolic link, before asking for a
// password, and says what to do instead.
func TestEditRefusesSymlink(t *testing.T) {
	h := newHarness(t)
	real := filepath.Join(h.dir, "real")
	os.WriteFile(real, []byte("alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"), 0o640)
	link := filepath.Join(h.dir, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	h.tty, h.typed = true, []string{secretPassword, secretPassword}
	for _, args := range [][]string{
		{"add", "-f", link, "bob"},
		{"passwd", "-f", link, "alice"},
		{"delete", "-f", link, "alice"},
	} {
		r := h.run("", args...)
		h.want(r, 1, link+": is a symbolic link")
		if !strings.Contains(r.stderr, "htpw: hint: pass the path of the file itself") {
			t.Errorf("%s: no hint: %q", args[0], r.stderr)
		}
	}
	if len(h.asked) != 0 {
		t.Errorf("asked for a password before refusing: %q", h.asked)
	}
	if b, _ := os.ReadFile(real); string(b) != "alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n" {
		t.Errorf("the link's target changed: %q", b)
	}
	// Reading through a link is fine.
	h.want(h.run("", "list", "-f", link), 0, "")
	// So is a manifest through a link, unless written back in place.
	manifest, _ := os.ReadFile(filepath.Join("testdata", "secret-kubectl.yaml"))
	sreal := filepath.Join(h.dir, "secret.yaml")
	os.WriteFile(sreal, manifest, 0o600)
	sl := filepath.Join(h.dir, "secret-link.yaml")
	os.Symlink(sreal, sl)
	h.want(h.run("", "delete", "--secret", sl, "alice"), 0, "")
	h.want(h.run("", "delete", "--secret", sl, "--in-place", "alice"), 1, "is a symbolic link")
	if b, _ := os.ReadFile(sreal); !bytes.Equal(b, manifest) {
		t.Error("the manifest behind the link changed")
	}
}

func TestEnvAndDefaultFile(t *testing.T) {
	h := newHarness(t)
	h.extEnv["HTPASSWD_FILE"] = h.file
	h.want(h.run(secretPassword+"\n", "add", "--stdin", "--cost", "4", "alice"), 0, "")
	if _, err := os.Stat(h.file); err != nil {
		t.Fatal("HTPASSWD_FILE not used")
	}
	t.Chdir(h.dir)
	delete(h.extEnv, "HTPASSWD_FILE")
	h.want(h.run(secretPassword+"\n", "add", "--stdin", "--algo", "apr1", "bob"), 0, "")
	if _, err := os.Stat(filepath.Join(h.dir, ".htpasswd")); err != nil {
		t.Fatal("./.htpasswd not the default")
	}
}

func TestPasswordRules(t *testing.T) {
	h := newHarness(t)
	f := h.file
	h.want(h.run("\n", "add", "-f", f, "--stdin", "alice"), 1, "empty password refused")
	h.want(h.run(strings.Repeat("x", 73)+"\n", "add", "-f", f, "--stdin", "alice"), 1, "72 bytes")
	r := h.run(strings.Repeat("x", 73)+"\n", "add", "-f", f, "--stdin", "alice")
	if !strings.Contains(r.stderr, "hint: use --algo sha512") {
		t.Errorf("no hint: %q", r.stderr)
	}
	// nginx would read it only up to the NUL.
	h.want(h.run("pw\x00junk\n", "add", "-f", f, "--stdin", "--algo", "sha512", "alice"), 1, "NUL byte")
	h.want(h.run(strings.Repeat("x", 100)+"\n", "add", "-f", f, "--stdin", "--algo", "sha512", "alice"), 0, "")
	h.want(h.run("x\n", "add", "-f", f, "--stdin", "a:b"), 2, "contains ':'")
	h.want(h.run("x\n", "add", "-f", f, "--stdin", "a\x01b"), 2, "control character")
	h.want(h.run("x\n", "add", "-f", f, "--stdin", "--algo", "sha1", "carol"), 2, "insecure")
	h.want(h.run("x\n", "add", "-f", f, "--stdin", "--algo", "md5", "carol"), 2, "--algo")
	h.want(h.run("x\n", "add", "-f", f, "--stdin", "--algo", "sha1", "--insecure", "carol"), 0, "")
	h.want(h.run("", "add", "-f", f, "dave"), 1, "no terminal")
	h.want(h.run("", "add", "-f", f, "--stdin", "--generate", "dave"), 2, "not both")
	h.want(h.run("", "add", "-f", f, "alice", "secret"), 2, "exactly one USER")
	h.want(h.run("", "add", "-f", f), 2, "exactly one USER")
	h.want(h.run("", "frobnicate"), 2, "unknown command")
	h.want(h.run("", "add", "--no-such-flag", "x"), 2, "no-such-flag")
	// An empty password from elsewhere is checked like any other.
	os.WriteFile(f, []byte("empty:{PLAIN}\n"), 0o640)
	h.want(h.run("\n", "verify", "-f", f, "--stdin", "empty"), 0, "")
}

func TestPrompt(t *testing.T) {
	h := newHarness(t)
	h.tty = true
	h.typed = []string{secretPassword, secretPassword}
	h.want(h.run("", "add", "-f", h.file, "--cost", "4", "alice"), 0, "")
	if strings.Join(h.asked, "|") != "password: |retype password: " {
		t.Errorf("prompts %q", h.asked)
	}
	h.typed = []string{"one", "two"}
	h.want(h.run("", "passwd", "-f", h.file, "alice"), 1, "do not match")
	h.asked, h.typed = nil, []string{secretPassword}
	h.want(h.run("", "verify", "-f", h.file, "alice"), 0, "correct")
	if len(h.asked) != 1 {
		t.Errorf("verify asked %d times", len(h.asked))
	}
}

// With the manifest on stdin, the password is asked at the terminal.
func TestPromptWithSecretOnStdin(t *testing.T) {
	h := newHarness(t)
	manifest, _ := os.ReadFile("testdata/secret-kubectl.yaml")
	h.tty = true
	h.typed = []string{secretPassword, secretPassword}
	r := h.run(string(manifest), "add", "--secret", "-", "--cost", "4", "erin")
	if r.code != 0 || !h.busy || len(h.asked) != 2 || !strings.Contains(r.stdout, "kind: Secret") {
		t.Fatalf("%+v busy=%v asked=%q", r, h.busy, h.asked)
	}
	h.tty = false
	h.want(h.run(string(manifest), "add", "--secret", "-", "frank"), 1, "no terminal")
}

func TestGenerate(t *testing.T) {
	h := newHarness(t)
	r := h.run("", "add", "-f", h.file, "--generate", "--cost", "4", "alice")
	pw := strings.TrimSpace(r.stdout)
	if r.code != 0 || len(pw) != 20 || r.stdout != pw+"\n" {
		t.Fatalf("generate: %+v", r)
	}
	h.want(h.run(pw+"\n", "verify", "-f", h.file, "--stdin", "alice"), 0, "")
	r = h.run("", "passwd", "-f", h.file, "--generate=40", "--cost", "4", "alice")
	if pw2 := strings.TrimSpace(r.stdout); len(pw2) != 40 || pw2 == pw {
		t.Fatalf("generate=40: %q", r.stdout)
	}
	h.want(h.run("", "add", "-f", h.file, "--generate=3", "bob"), 2, "8 to 256")
	h.want(h.run("", "verify", "-f", h.file, "--generate", "alice"), 2, "generate")
}

func TestListAndLint(t *testing.T) {
	h := newHarness(t)
	content := "# team\nalice:$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.\nbob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\ncarol:garbage\nalice:$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.\n"
	os.WriteFile(h.file, []byte(content), 0o640)
	r := h.run("", "list", "-f", h.file, "--json")
	var list []listEntry
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || r.code != 0 {
		t.Fatalf("list --json: %v %+v", err, r)
	}
	want := []listEntry{
		{User: "alice", Scheme: "apr1", Line: 2, Usable: true},
		{User: "bob", Scheme: "sha1", Line: 3, Usable: true},
		{User: "carol", Scheme: "unknown", Line: 4, Usable: false, Problem: "unknown hash scheme"},
	}
	if got, _ := json.Marshal(list); string(got) != mustJSON(want) {
		t.Errorf("list: %s\nwant %s", got, mustJSON(want))
	}
	r = h.run("", "list", "-f", h.file)
	if r.code != 0 || !strings.Contains(r.stdout, "alice  apr1") {
		t.Errorf("list: %+v", r)
	}
	r = h.run("", "lint", "-f", h.file)
	if r.code != 1 || !strings.Contains(r.stdout, ":3: weak-scheme") || !strings.Contains(r.stdout, ":4: unknown-scheme") || !strings.Contains(r.stdout, ":5: duplicate-user") {
		t.Errorf("lint: %+v", r)
	}
	os.WriteFile(h.file, []byte("alice:$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.\n"), 0o640)
	h.want(h.run("", "lint", "-f", h.file), 0, "1 users, no problems")
	os.WriteFile(h.file, []byte("slow:$2y$16$aaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"), 0o640)
	if r := h.run("", "lint", "-f", h.file); r.code != 1 || !strings.Contains(r.stdout, `:1: slow-hash: user "slow": bcrypt cost 16: each check takes seconds`) {
		t.Errorf("lint of a slow hash: %+v", r)
	}
	os.WriteFile(h.file, []byte("alice:x\nbroken line\n"), 0o640)
	r = h.run("", "lint", "-f", h.file)
	if r.code != 1 || !strings.Contains(r.stdout, ":1: unknown-scheme") || !strings.Contains(r.stdout, ":2: malformed-line: missing ':'") {
		t.Errorf("lint of a broken file: %+v", r)
	}
	h.want(h.run("", "list", "-f", h.file), 1, "line 2")
	if b, _ := os.ReadFile(h.file); string(b) != "alice:x\nbroken line\n" {
		t.Error("a failed command changed the file")
	}
	h.want(h.run("x\n", "add", "-f", h.file, "--stdin", "bob"), 1, "line 2")
	if b, _ := os.ReadFile(h.file); string(b) != "alice:x\nbroken line\n" {
		t.Error("add changed a broken file")
	}
}

// list shows a user name that holds bidi or other unprintable characters
// quoted, as lint's messages do, so that "adm\u202euser" cannot pass for
// "adm" followed by something reversed; its JSON carries such characters
// escaped, the same strings once decoded.
func TestListEscapesNames(t *testing.T) {
	h := newHarness(t)
	names := []string{"alice", "adm\u202euser", "x\u00a0y", "tag\U000e0041", "caf\u00e9", "emoji\U0001f600"}
	var content strings.Builder
	for _, n := range names {
		content.WriteString(n + ":{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n")
	}
	os.WriteFile(h.file, []byte(content.String()), 0o640)
	r := h.run("", "list", "-f", h.file)
	for _, want := range []string{"\nalice ", `"adm\u202euser"`, `"x\u00a0y"`, `"tag\U000e0041"`, "\ncaf\u00e9 ", "\nemoji\U0001f600 "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("list lacks %q:\n%s", want, r.stdout)
		}
	}
	r2 := h.run("", "list", "-f", h.file, "--json")
	for _, out := range []string{r.stdout, r2.stdout} {
		if strings.ContainsAny(out, "\u202e\u00a0\U000e0041") {
			t.Errorf("raw unprintable characters in %q", out)
		}
	}
	var list []listEntry
	if err := json.Unmarshal([]byte(r2.stdout), &list); err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		if i >= len(list) || list[i].User != n {
			t.Errorf("JSON user %d: %+v, want %q", i, list, n)
		}
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestSecretCommand(t *testing.T) {
	h := newHarness(t)
	os.WriteFile(h.file, []byte("alice:$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.\n"), 0o640)
	r := h.run("", "secret", "-f", h.file, "--name", "mlflow-auth", "--namespace", "mlflow")
	golden, _ := os.ReadFile("testdata/secret-auth-file.golden.yaml")
	if r.code != 0 || r.stdout != string(golden) {
		t.Errorf("secret:\n%s\nwant\n%s", r.stdout, golden)
	}
	r = h.run("", "secret", "-f", h.file, "--name", "mlflow-auth", "--format", "auth-map")
	golden, _ = os.ReadFile("testdata/secret-auth-map.golden.yaml")
	if r.code != 0 || r.stdout != string(golden) {
		t.Errorf("secret auth-map:\n%s\nwant\n%s", r.stdout, golden)
	}
	h.want(h.run("", "secret", "-f", h.file), 2, "name")
	h.want(h.run("", "secret", "-f", h.file, "--name", "Bad_Name"), 1, "secret name")
	h.want(h.run("", "secret", "-f", filepath.Join(h.dir, "nope"), "--name", "x"), 1, "no such file")
}

func TestEditSecret(t *testing.T) {
	for _, in := range []string{"testdata/secret-kubectl.yaml", "testdata/secret-kubectl.json", "testdata/secret-authmap.yaml"} {
		t.Run(filepath.Base(in), func(t *testing.T) {
			h := newHarness(t)
			manifest, _ := os.ReadFile(in)
			// kubectl get secret ... | htpw add --secret - --generate erin | kubectl apply -f -
			r := h.run(string(manifest), "add", "--secret", "-", "--generate", "--cost", "4", "erin")
			if r.code != 0 {
				t.Fatalf("%+v", r)
			}
			_, pw, ok := strings.Cut(strings.TrimSpace(r.stderr), "generated password for erin: ")
			if !ok || len(pw) != 20 {
				t.Fatalf("password not on stderr: %q", r.stderr)
			}
			for _, gone := range []string{"managedFields", "resourceVersion", "creationTimestamp", "last-applied"} {
				if strings.Contains(r.stdout, gone) {
					t.Errorf("%s kept", gone)
				}
			}
			s, err := k8s.ParseSecret([]byte(r.stdout))
			if err != nil {
				t.Fatalf("output: %v\n%s", err, r.stdout)
			}
			f, _ := s.File("")
			if e, ok := f.Lookup("erin"); !ok || !e.Parsed.Verify([]byte(pw)) {
				t.Fatal("erin not in the output Secret")
			}
			if _, ok := f.Lookup("alice"); !ok {
				t.Fatal("alice lost")
			}
			// list and verify read a Secret file too; --in-place writes it.
			sf := filepath.Join(h.dir, "secret"+filepath.Ext(in))
			os.WriteFile(sf, []byte(r.stdout), 0o600)
			h.want(h.run(pw+"\n", "verify", "--secret", sf, "--stdin", "erin"), 0, "")
			h.want(h.run("", "delete", "--secret", sf, "--in-place", "alice"), 0, "")
			r = h.run("", "list", "--secret", sf, "--json")
			if r.code != 0 || strings.Contains(r.stdout, "alice") || !strings.Contains(r.stdout, "erin") {
				t.Errorf("after delete --in-place: %+v", r)
			}
			if fi, _ := os.Stat(sf); fi.Mode().Perm() != 0o600 {
				t.Errorf("--in-place changed the mode to %v", fi.Mode())
			}
		})
	}
	h := newHarness(t)
	manifest, _ := os.ReadFile("testdata/secret-kubectl.yaml")
	h.want(h.run(string(manifest), "add", "--secret", "-", "--stdin", "bob"), 1, "both want standard input")
	h.want(h.run("kind: Secret\ndata:\n  other: eA==\n", "list", "--secret", "-", "--format", "auth-file"), 1, `no "auth" key`)
	h.want(h.run("kind: Secret\ndata:\n  auth: '***'\n", "list", "--secret", "-"), 1, `data["auth"]: invalid base64`)
	h.want(h.run("kind: Secret\n#"+strings.Repeat("x", k8s.MaxSecretSize), "list", "--secret", "-"), 1, "larger than 3 MiB")
	h.want(h.run("kind: ConfigMap\n", "list", "--secret", "-"), 1, "not a Kubernetes Secret")
	h.want(h.run("", "list", "--secret", "-", "--in-place"), 2, "--in-place")
	m, _ := os.ReadFile("testdata/secret-authmap.yaml")
	h.want(h.run(string(m), "add", "--secret", "-", "--generate", "dave smith"), 1, "auth-map")
}

// While htpw waits at the prompt, another editor adds a user to the same
// manifest: the prompt holds no lock, and the edit, which reads the
// manifest under the lock after the prompt, keeps that user.
func TestSecretInPlaceEditDuringPrompt(t *testing.T) {
	h := newHarness(t)
	manifest, _ := os.ReadFile("testdata/secret-kubectl.yaml")
	sf := filepath.Join(h.dir, "secret.yaml")
	os.WriteFile(sf, manifest, 0o600)
	h.tty = true
	h.typed = []string{secretPassword, secretPassword}
	h.onPrompt = func() {
		h.onPrompt = nil
		done := make(chan error, 1)
		go func() {
			done <- k8s.UpdateSecretFile(sf, "", func(f *htpasswd.File) error {
				_, err := f.Set("concurrent", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=")
				return err
			})
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("concurrent edit: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("the manifest is locked while htpw waits at the prompt")
		}
	}
	h.want(h.run("", "add", "--secret", sf, "--in-place", "--cost", "4", "erin"), 0, "")
	h.want(h.run(secretPassword+"\n", "verify", "--secret", sf, "--stdin", "erin"), 0, "")
	h.want(h.run("x\n", "verify", "--secret", sf, "--stdin", "concurrent"), 3, "does not match")
	h.want(h.run("x\n", "verify", "--secret", sf, "--stdin", "alice"), 3, "does not match")
}

// lint reports every problem of a file in one run, structural errors
// included, each with its line number, and never a hash or a line's text.
func TestLintReportsEveryProblem(t *testing.T) {
	const file = "testdata/lint-problems.htpasswd"
	h := newHarness(t)
	r := h.run("", "lint", "-f", file)
	want := []string{
		"3: malformed-line",
		"4: weak-scheme",
		"5: invalid-user",
		"6: malformed-hash",
		"7: malformed-hash",
		"9: duplicate-user",
		"10: unknown-scheme",
		"11: invalid-user",
		"13: invalid-user",
		"14: weak-scheme",
	}
	got := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 1 || len(got) != len(want) {
		t.Fatalf("exit %d, %d problems; want exit 1 and %d:\n%s%s", r.code, len(got), len(want), r.stdout, r.stderr)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], file+":"+w+": ") {
			t.Errorf("problem %d: %q, want %s:%s: …", i+1, got[i], file, w)
		}
	}
	if !strings.Contains(r.stderr, "10 problem(s)") {
		t.Errorf("stderr %q", r.stderr)
	}
	// Nothing after a user's ':' shows, nor a line without one.
	content, _ := os.ReadFile(file)
	for _, line := range strings.Split(string(content), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		secret := line
		if _, hash, ok := strings.Cut(line, ":"); ok {
			secret = hash
		}
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("output shows %q", secret)
		}
	}
}
