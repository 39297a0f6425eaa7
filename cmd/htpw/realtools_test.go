package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/authreq/authreq/htpasswd"
	"github.com/authreq/authreq/htpasswd/k8s"
	"github.com/authreq/authreq/internal/realtest"
)

var htpwBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "htpw-test-")
	if err != nil {
		panic(err)
	}
	htpwBin = filepath.Join(dir, "htpw")
	if out, err := exec.Command("go", "build", "-o", htpwBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building htpw: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func htpw(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	return runExit(t, exec.Command(htpwBin, args...), stdin)
}

// runExit runs cmd with stdin and returns its output and exit code.
func runExit(t *testing.T, cmd *exec.Cmd, stdin string) (string, int) {
	t.Helper()
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

var writeAlgos = [][]string{{"--algo", "bcrypt"}, {"--algo", "apr1"}, {"--algo", "sha256"}, {"--algo", "sha512"}, {"--algo", "sha1", "--insecure"}}

// Every scheme htpw writes passes Apache's htpasswd -v and a real nginx
// auth_basic location.
func TestWrittenHashesWorkInApacheAndNginx(t *testing.T) {
	apache := realtest.Need(t, "htpasswd")
	dir := t.TempDir()
	file := filepath.Join(dir, "htpasswd")
	users := map[string]string{}
	for _, algo := range writeAlgos {
		user := "u-" + algo[1]
		pw := "pw for " + algo[1] + " ü:$"
		users[user] = pw
		if out, code := htpw(t, pw+"\n", append([]string{"add", "-f", file, "--stdin", user}, algo...)...); code != 0 {
			t.Fatalf("add %s: %s", user, out)
		}
		if out, err := exec.Command(apache, "-vb", file, user, pw).CombinedOutput(); err != nil {
			t.Errorf("htpasswd -v %s: %v %s", user, err, out)
		}
		if err := exec.Command(apache, "-vb", file, user, pw+"x").Run(); err == nil {
			t.Errorf("htpasswd -v %s accepts a wrong password", user)
		}
	}
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("ok\n"), 0o644)
	// Content from a file, not `return`: return runs before the access
	// phase and would skip auth_basic.
	n := realtest.StartNginx(t, fmt.Sprintf(`server {
  listen 127.0.0.1:{{PORT}};
  location / { auth_basic "test"; auth_basic_user_file %s; root %s; }
}`, file, dir))
	for user, pw := range users {
		for _, tc := range []struct {
			pw   string
			want int
		}{{pw, 200}, {pw + "x", 401}, {"", 401}} {
			req, _ := http.NewRequest("GET", n.URL+"/", nil)
			req.SetBasicAuth(user, tc.pw)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("nginx %s with password %q: %d, want %d", user, tc.pw, resp.StatusCode, tc.want)
			}
		}
	}
}

// Files written by Apache's htpasswd are read by htpw verify.
func TestVerifyApacheFiles(t *testing.T) {
	apache := realtest.Need(t, "htpasswd")
	file := filepath.Join(t.TempDir(), "htpasswd")
	flags := []string{"-B", "-m", "-5", "-2", "-s", "-d"}
	for i, fl := range flags {
		args := []string{"-b", fl, file, fmt.Sprintf("user%d", i), "pw" + fl}
		if i == 0 {
			args = append([]string{"-c"}, args...)
		}
		if out, err := exec.Command(apache, args...).CombinedOutput(); err != nil {
			t.Fatalf("htpasswd %v: %v %s", args, err, out)
		}
	}
	for i, fl := range flags {
		user := fmt.Sprintf("user%d", i)
		if out, code := htpw(t, "pw"+fl+"\n", "verify", "-f", file, "--stdin", user); code != 0 {
			t.Errorf("verify %s (%s): exit %d %s", user, fl, code, out)
		}
		if _, code := htpw(t, "nope\n", "verify", "-f", file, "--stdin", user); code != 3 {
			t.Errorf("verify %s wrong password: exit %d, want 3", user, code)
		}
	}
	if _, code := htpw(t, "x\n", "verify", "-f", file, "--stdin", "nobody"); code != 6 {
		t.Errorf("verify of a missing user: exit %d, want 6", code)
	}
}

// addInParallel runs n htpw add processes at once, adding user00, user01,
// … to the target that args name, and fails the test for any that fails.
func addInParallel(t *testing.T, n int, args ...string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("user%02d", i)
			cmd := exec.Command(htpwBin, append(append([]string{"add"}, args...), "--stdin", "--algo", "apr1", user)...)
			cmd.Stdin = strings.NewReader("pw\n")
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Sprintf("%s: %v %s", user, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// Fifty htpw processes adding users to one file at once lose none.
func TestParallelAdds(t *testing.T) {
	file := filepath.Join(t.TempDir(), "htpasswd")
	addInParallel(t, 50, "-f", file)
	f, err := htpasswd.ReadFile(file)
	if err != nil || f.Len() != 50 {
		t.Fatalf("%d users, %v", f.Len(), err)
	}
	if out, code := htpw(t, "", "lint", "-f", file); code != 0 {
		t.Errorf("lint: %s", out)
	}
}

// Thirty htpw processes adding users to one Secret manifest in place at
// once lose none, and the manifest keeps its mode.
func TestParallelSecretAddsInPlace(t *testing.T) {
	manifest, err := os.ReadFile("testdata/secret-kubectl.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "secret.yaml")
	if err := os.WriteFile(file, manifest, 0o600); err != nil {
		t.Fatal(err)
	}
	addInParallel(t, 30, "--secret", file, "--in-place")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s, err := k8s.ParseSecret(b)
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.File("")
	if err != nil {
		t.Fatal(err)
	}
	users := []string{"alice"} // there before
	for i := range 30 {
		users = append(users, fmt.Sprintf("user%02d", i))
	}
	var lost []string
	for _, user := range users {
		if _, ok := f.Lookup(user); !ok {
			lost = append(lost, user)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d users lost: %s", len(lost), strings.Join(lost, " "))
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode())
	}
}

// typeAtPrompts runs a shell command under script(1)'s pseudo-terminal and
// types secretPassword at each of the two prompts once it shows, when echo
// is off, as a person would. It returns what the terminal showed.
func typeAtPrompts(t *testing.T, command string) string {
	t.Helper()
	script := realtest.Need(t, "script")
	cmd := exec.Command(script, "-qec", command, "/dev/null")
	stdin, _ := cmd.StdinPipe()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var seen strings.Builder
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 256)
		prompts := []string{"password: ", "retype password: "}
		for len(prompts) > 0 {
			n, err := pr.Read(buf)
			seen.Write(buf[:n])
			if strings.Count(seen.String(), "password: ") > 2-len(prompts) {
				io.WriteString(stdin, secretPassword+"\n")
				prompts = prompts[1:]
			}
			if err != nil {
				done <- err
				return
			}
		}
		stdin.Close()
		rest, _ := io.ReadAll(pr)
		seen.Write(rest)
		done <- nil
	}()
	err := cmd.Wait()
	pw.Close()
	if rerr := <-done; err != nil || rerr != nil {
		t.Fatalf("%v %v: %q", err, rerr, seen.String())
	}
	out := seen.String()
	if !strings.Contains(out, "retype password:") {
		t.Errorf("prompts not shown: %q", out)
	}
	if strings.Contains(out, secretPassword) {
		t.Errorf("password echoed: %q", out)
	}
	return out
}

// The prompt on a real terminal.
func TestTerminalPrompt(t *testing.T) {
	file := filepath.Join(t.TempDir(), "htpasswd")
	typeAtPrompts(t, htpwBin+" add -f "+file+" --cost 4 alice")
	if out, code := htpw(t, secretPassword+"\n", "verify", "-f", file, "--stdin", "alice"); code != 0 {
		t.Errorf("verify: %s", out)
	}
}

// DESIGN's pipeline: the manifest on stdin, the password asked at the
// terminal, the new manifest on stdout.
func TestTerminalPromptWithSecretPipe(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.yaml")
	typeAtPrompts(t, "cat testdata/secret-kubectl.yaml | "+htpwBin+" add --secret - --cost 4 bob > "+out)
	if o, code := htpw(t, secretPassword+"\n", "verify", "--secret", out, "--stdin", "bob"); code != 0 {
		t.Errorf("verify in the piped manifest: %s", o)
	}
}

// The finding this guards against: an editor who is not root deletes a
// user, the file changes group, the service (another user, reading the file
// through its group) can no longer read it, and the deleted user stays in.
func TestDeleteByGroupMemberKeepsServiceAccess(t *testing.T) {
	realtest.NeedRoot(t)
	apache := realtest.Need(t, "htpasswd")
	const group, editor, service = 4242, 4243, 4246
	pub := realtest.PublicDir(t)
	bin := realtest.CopyExecutable(t, htpwBin, pub)
	dir := filepath.Join(pub, "etc")
	file := filepath.Join(dir, "htpasswd")
	if err := os.Mkdir(dir, 0o770); err != nil {
		t.Fatal(err)
	}
	// The admin makes the file with Apache's tool, then hands it to the
	// group.
	for i, user := range []string{"alice", "bob"} {
		args := []string{"-bm", file, user, "pw"}
		if i == 0 {
			args[0] = "-cbm"
		}
		if out, err := exec.Command(apache, args...).CombinedOutput(); err != nil {
			t.Fatalf("htpasswd %v: %v %s", args, err, out)
		}
	}
	for _, p := range []string{dir, file} {
		if err := os.Chown(p, 0, group); err != nil {
			t.Fatal(err)
		}
	}
	for p, mode := range map[string]os.FileMode{dir: 0o770, file: 0o660} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	as := func(uid uint32, stdin string, args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		realtest.AsUser(cmd, uid, uid, group)
		return runExit(t, cmd, stdin)
	}
	if out, code := as(editor, "", "delete", "-f", file, "alice"); code != 0 {
		t.Fatalf("delete as a member of the file's group: exit %d %s", code, out)
	}
	if out, code := as(service, "pw\n", "verify", "-f", file, "--stdin", "alice"); code != 6 {
		t.Errorf("the service's user after the delete: exit %d, want 6 (no such user): %s", code, out)
	}
	if out, code := as(service, "pw\n", "verify", "-f", file, "--stdin", "bob"); code != 0 {
		t.Errorf("the service's user cannot check bob: exit %d %s", code, out)
	}
}
