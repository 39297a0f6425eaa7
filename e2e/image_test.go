package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authreq/authreq/authreq"
	"github.com/authreq/authreq/htpasswd"
	"github.com/authreq/authreq/internal/realtest"
)

// The image's user: numeric and not root (distroless's "nonroot").
const imageUID = 65532

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case
	args string
}

func parseDockerfile(src string) []instruction {
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, l := range strings.Split(src, "\n") {
		t := strings.TrimSpace(l)
		if cur.Len() == 0 && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(t, `\`) {
			cur.WriteString(strings.TrimSuffix(t, `\`) + " ")
			continue
		}
		cur.WriteString(t)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{start, strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

var numericUser = regexp.MustCompile(`^(\d+)(?::(\d+))?$`)

// dockerfileProblems says why a Dockerfile would not make the image the
// issue asks for: one stage over scratch or distroless static, no shell
// needed anywhere (no RUN, exec-form ENTRYPOINT and CMD), a numeric
// non-root USER, the service's port exposed.
func dockerfileProblems(src string, port string) []string {
	var probs []string
	bad := func(in instruction, format string, a ...any) {
		probs = append(probs, fmt.Sprintf("line %d: %s: %s", in.line, in.cmd, fmt.Sprintf(format, a...)))
	}
	seen := map[string]int{}
	for _, in := range parseDockerfile(src) {
		seen[in.cmd]++
		switch in.cmd {
		case "FROM":
			if seen["FROM"] > 1 {
				bad(in, "a second stage; the binary is built by make, not in the image")
			}
			if in.args != "scratch" && !strings.HasPrefix(in.args, "gcr.io/distroless/static") {
				bad(in, "%q: want scratch or gcr.io/distroless/static", in.args)
			}
		case "RUN":
			bad(in, "needs a shell in the image, or a base image to pull")
		case "ADD":
			bad(in, "may fetch from the network; use COPY")
		case "USER":
			m := numericUser.FindStringSubmatch(in.args)
			if m == nil {
				bad(in, "%q: want numeric uid[:gid], which needs no /etc/passwd and satisfies runAsNonRoot", in.args)
			} else if m[1] == "0" || m[2] == "0" {
				bad(in, "%q: root", in.args)
			}
		case "ENTRYPOINT", "CMD":
			var argv []string
			if json.Unmarshal([]byte(in.args), &argv) != nil || len(argv) == 0 {
				bad(in, "%q: shell form runs /bin/sh -c; want the JSON exec form", in.args)
			}
		case "EXPOSE":
			if in.args != port && in.args != port+"/tcp" {
				bad(in, "%q: the service listens on %s", in.args, port)
			}
		}
	}
	for _, c := range []string{"FROM", "USER", "ENTRYPOINT", "EXPOSE"} {
		if seen[c] == 0 {
			probs = append(probs, c+" missing")
		}
	}
	return probs
}

// staticProblems says why the binary at path could not run over scratch:
// built with cgo, or asking for a dynamic loader or shared libraries.
func staticProblems(path string) []string {
	var probs []string
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return []string{err.Error()}
	}
	cgo := "unset"
	for _, s := range bi.Settings {
		if s.Key == "CGO_ENABLED" {
			cgo = s.Value
		}
	}
	if cgo != "0" {
		probs = append(probs, "CGO_ENABLED="+cgo)
	}
	f, err := elf.Open(path)
	if err != nil {
		return append(probs, err.Error())
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			probs = append(probs, "has an ELF interpreter (PT_INTERP)")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		probs = append(probs, fmt.Sprintf("needs shared libraries %v", libs))
	}
	return probs
}

func defaultPort(t *testing.T) string {
	_, port, err := net.SplitHostPort(authreq.DefaultConfig().Listen)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func readDockerfile(t *testing.T) string {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// makeTarget runs `make target` at the repository root with vars, bounded.
func makeTarget(t *testing.T, timeout time.Duration, target string, vars ...string) {
	t.Helper()
	mk := realtest.Need(t, "make")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, mk, append([]string{"-C", "..", target}, vars...)...)
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v\n%s", target, err, out)
	}
}

func TestDockerfile(t *testing.T) {
	port := defaultPort(t)
	t.Run("shipped", func(t *testing.T) {
		for _, p := range dockerfileProblems(readDockerfile(t), port) {
			t.Error("Dockerfile: " + p)
		}
	})
	// The checker itself must catch each way of getting it wrong.
	good := "FROM scratch\nCOPY authreq /authreq\nUSER 65532:65532\nEXPOSE " + port + "\nENTRYPOINT [\"/authreq\"]\n"
	for name, src := range map[string]string{
		"base-image":    strings.Replace(good, "scratch", "debian:bookworm", 1),
		"two-stages":    "FROM scratch AS b\n" + good,
		"run":           good + "RUN chmod 755 /authreq\n",
		"user-name":     strings.Replace(good, "65532:65532", "nonroot", 1),
		"user-root":     strings.Replace(good, "65532:65532", "0", 1),
		"group-root":    strings.Replace(good, "65532:65532", "65532:0", 1),
		"no-user":       strings.Replace(good, "USER 65532:65532\n", "", 1),
		"shell-form":    strings.Replace(good, `["/authreq"]`, "/authreq", 1),
		"wrong-port":    strings.Replace(good, "EXPOSE "+port, "EXPOSE 80", 1),
		"continuation":  strings.Replace(good, "USER 65532:65532", "USER \\\n  root", 1),
		"lowercase-run": good + "run true\n",
	} {
		t.Run(name, func(t *testing.T) {
			if len(dockerfileProblems(src, port)) == 0 {
				t.Errorf("no problem found in:\n%s", src)
			}
		})
	}
	t.Run("good", func(t *testing.T) {
		if p := dockerfileProblems(good, port); len(p) > 0 {
			t.Errorf("%v", p)
		}
	})
}

// TestImageContext builds what `make image` puts in the build context and
// checks the binary runs without libc and every COPY source is there.
func TestImageContext(t *testing.T) {
	bin := t.TempDir()
	makeTarget(t, 5*time.Minute, "image-context", "BIN="+bin)
	ctxDir := filepath.Join(bin, "image")
	for _, p := range staticProblems(filepath.Join(ctxDir, "authreq")) {
		t.Errorf("bin/image/authreq: %s", p)
	}
	for _, in := range parseDockerfile(readDockerfile(t)) {
		if in.cmd != "COPY" {
			continue
		}
		f := strings.Fields(in.args)
		if len(f) != 2 {
			t.Errorf("line %d: COPY %s: want one source and one destination", in.line, in.args)
			continue
		}
		fi, err := os.Stat(filepath.Join(ctxDir, f[0]))
		if err != nil {
			t.Errorf("line %d: COPY source: %v", in.line, err)
		} else if fi.Mode().Perm()&0o004 == 0 || (f[0] == "authreq" && fi.Mode().Perm()&0o001 == 0) {
			// COPY keeps modes and root ownership.
			t.Errorf("line %d: %s mode %v: unusable by the image's user %d", in.line, f[0], fi.Mode(), imageUID)
		}
	}
	// crypto/x509 on Linux reads this path first: LDAPS needs it.
	ca, err := os.ReadFile(filepath.Join(ctxDir, "ca-certificates.crt"))
	if err != nil || !bytes.Contains(ca, []byte("-----BEGIN CERTIFICATE-----")) {
		t.Errorf("ca-certificates.crt: no PEM certificate (%v)", err)
	}
	if !strings.Contains(readDockerfile(t), "/etc/ssl/certs/ca-certificates.crt") {
		t.Error("Dockerfile does not install the CA bundle where Go looks for it")
	}
	// The checker must tell a default (cgo) build from a static one.
	if bi, err := buildinfo.ReadFile(filepath.Join(bins, "authreq")); err == nil {
		for _, s := range bi.Settings {
			if s.Key == "CGO_ENABLED" && s.Value == "1" && len(staticProblems(filepath.Join(bins, "authreq"))) == 0 {
				t.Error("staticProblems accepts a cgo build")
			}
		}
	}
}

// podman runs podman with a deadline, so that a wedged engine fails the
// test instead of hanging CI.
func podman(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, realtest.Need(t, "podman"), args...)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("podman %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return strings.TrimSpace(out.String()), err
}

func mustPodman(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	out, err := podman(t, timeout, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestImage builds the image with `make image` and podman, runs it with
// the config directory mounted read-only as the Dockerfile says, and checks
// it answers, runs as uid 65532, picks up an htpasswd change in the mounted
// directory, holds no shell, and stops cleanly on SIGTERM.
func TestImage(t *testing.T) {
	realtest.NeedRoot(t) // rootful podman: the one tried here
	pm := realtest.Need(t, "podman")
	// crun (podman's default runtime in Debian) refuses hosts whose cgroups
	// are in hybrid v1/v2 mode, as some CI VMs are; runc runs there and on
	// cgroup v2 alike.
	runc := realtest.Need(t, "runc")

	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	image := "localhost/authreq-test:" + suffix
	name := "authreq-test-" + suffix
	makeTarget(t, 5*time.Minute, "image", "BIN="+t.TempDir(), "IMAGE="+image, "ENGINE="+pm)
	t.Cleanup(func() { podman(t, time.Minute, "rmi", "-f", image) })

	conf := realtest.PublicDir(t)
	file := filepath.Join(conf, "htpasswd")
	addUser(t, file, "alice", "alice-pw")
	// The file belongs to the image's user, as a Kubernetes fsGroup or a
	// chown on the host would arrange; mode 0640 keeps others out.
	if err := os.Chown(file, imageUID, imageUID); err != nil {
		t.Fatal(err)
	}
	// Polling for bob before his line arrives is a run of failures: room
	// for them, so that no backoff outlasts the wait.
	cfg := "listen: \":" + defaultPort(t) + "\"\n" +
		"htpasswd:\n  files: [/etc/authreq/htpasswd]\n" +
		"rateLimit:\n  failures: {perUserAndIP: 100000, perUser: 100000, perIP: 100000}\n"
	if err := os.WriteFile(filepath.Join(conf, "config.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	port := realtest.FreePort(t)
	// The ulimits: podman's default (nofile 1048576) is above the hard limit
	// of sandboxes without CAP_SYS_RESOURCE, where the runtime cannot set it.
	mustPodman(t, 2*time.Minute, "--runtime", runc, "run", "-d", "--name", name,
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
		"-p", fmt.Sprintf("127.0.0.1:%d:%s", port, defaultPort(t)),
		"-v", conf+":/etc/authreq:ro", image)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := podman(t, 30*time.Second, "logs", name)
			t.Logf("container output:\n%s", logs)
		}
		podman(t, time.Minute, "--runtime", runc, "rm", "-f", "-t", "5", name)
	})

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Timeout: 5 * time.Second}
	status := func(path, user, pw string) (int, http.Header) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header
	}
	realtest.Eventually(t, 30*time.Second, "/healthz answers 200 through the published port", func() bool {
		code, _ := status("/healthz", "", "")
		return code == 200
	})
	if code, h := status("/auth", "alice", "alice-pw"); code != 200 || h.Get("X-User") != "alice" {
		t.Errorf("alice: %d X-User=%q", code, h.Get("X-User"))
	}
	if code, _ := status("/auth", "alice", "wrong"); code != 401 {
		t.Errorf("wrong password: %d", code)
	}

	t.Run("non-root", func(t *testing.T) {
		want := fmt.Sprintf("%d:%d", imageUID, imageUID)
		if u := mustPodman(t, 30*time.Second, "inspect", "-f", "{{.Config.User}}", name); u != want {
			t.Errorf("configured user %q, want %q", u, want)
		}
		// What the kernel says, not what the config says: the process as
		// seen from the host.
		pid := mustPodman(t, 30*time.Second, "inspect", "-f", "{{.State.Pid}}", name)
		status, err := os.ReadFile("/proc/" + pid + "/status")
		if err != nil {
			t.Fatal(err)
		}
		id := strconv.Itoa(imageUID)
		for _, l := range strings.Split(string(status), "\n") {
			k, v, _ := strings.Cut(l, ":")
			if k == "Uid" || k == "Gid" {
				for _, f := range strings.Fields(v) { // real, effective, saved, fs
					if f != id {
						t.Errorf("host /proc/%s/status %s:%s, want all %s", pid, k, v, id)
						break
					}
				}
			}
		}
		if top := mustPodman(t, 30*time.Second, "top", name, "user", "huser"); !strings.Contains(top, id+" ") {
			t.Errorf("podman top:\n%s", top)
		}
	})

	t.Run("reload-from-mounted-dir", func(t *testing.T) {
		// An atomic rename in the directory, as a Secret update does: a
		// directory mount sees it, a file mount would keep the old inode.
		addUser(t, file, "bob", "bob-pw")
		realtest.Eventually(t, 15*time.Second, "bob, added on the host, is let in", func() bool {
			code, _ := status("/auth", "bob", "bob-pw")
			return code == 200
		})
	})

	t.Run("no-shell", func(t *testing.T) {
		// The image's own layers, not the container's tree, where podman
		// adds /etc/passwd, /etc/hosts and the like.
		archive := filepath.Join(t.TempDir(), "image.tar")
		mustPodman(t, time.Minute, "save", "--format", "docker-archive", "-o", archive, image)
		files, err := imageFiles(archive)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"authreq", "etc/ssl/certs/ca-certificates.crt"}; !slices.Equal(files, want) {
			t.Errorf("files in the image: %v, want only %v", files, want)
		}
	})

	t.Run("stops-on-sigterm", func(t *testing.T) {
		start := time.Now()
		mustPodman(t, time.Minute, "--runtime", runc, "stop", "-t", "10", name)
		code := mustPodman(t, 30*time.Second, "inspect", "-f", "{{.State.ExitCode}}", name)
		if code != "0" || time.Since(start) > 9*time.Second {
			t.Errorf("exit code %s after %s: want 0, before podman's kill at 10s", code, time.Since(start).Round(time.Millisecond))
		}
	})
}

// addUser sets user's password in the htpasswd file, creating it (0640).
func addUser(t *testing.T, file, user, pw string) {
	t.Helper()
	err := htpasswd.Update(file, true, func(f *htpasswd.File) error {
		h, err := htpasswd.Generate(htpasswd.Bcrypt, []byte(pw), 5)
		if err != nil {
			return err
		}
		_, err = f.Set(user, h)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// imageFiles lists the files (not directories) of every layer in a
// docker-archive: manifest.json names the layers, each an uncompressed tar.
func imageFiles(archive string) ([]string, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	members := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", archive, err)
		}
		if members[h.Name], err = io.ReadAll(tr); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", archive, h.Name, err)
		}
	}
	var manifest []struct{ Layers []string }
	if err := json.Unmarshal(members["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		return nil, fmt.Errorf("%s: manifest.json: want one image (%v)", archive, err)
	}
	var files []string
	for _, l := range manifest[0].Layers {
		lr := tar.NewReader(bytes.NewReader(members[l]))
		for {
			h, err := lr.Next()
			if err == io.EOF {
				break
			} else if err != nil {
				return nil, fmt.Errorf("%s: layer %s: %w", archive, l, err)
			}
			if h.Typeflag != tar.TypeDir {
				files = append(files, strings.TrimPrefix(h.Name, "/"))
			}
		}
	}
	slices.Sort(files)
	return files, nil
}
