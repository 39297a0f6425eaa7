package kubernetes

import (
	"bufio"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authreq/authreq/authreq"
	"github.com/authreq/authreq/htpasswd"
	"github.com/authreq/authreq/htpasswd/k8s"
	"github.com/authreq/authreq/internal/realtest"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// demoPassword is the published password of secret.yaml's demo user.
const demoPassword = "demo-password-change-me"

// secretVolume lays a Secret's data out as the kubelet's atomic writer
// does in a Secret volume: the keys in a timestamped directory, ..data a
// symlink to it, each key a symlink through ..data; an update writes a new
// directory and renames a new ..data symlink over the old one.
type secretVolume struct {
	dir string
	n   int
}

func (v *secretVolume) write(t *testing.T, data map[string][]byte) {
	t.Helper()
	v.n++
	ts := fmt.Sprintf("..2026_01_01_00_00_%02d.%d", v.n, v.n)
	if err := os.MkdirAll(filepath.Join(v.dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	for k, val := range data {
		if err := os.WriteFile(filepath.Join(v.dir, ts, k), val, 0o440); err != nil {
			t.Fatal(err)
		}
	}
	old, _ := os.Readlink(filepath.Join(v.dir, "..data"))
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for k := range data {
		link := filepath.Join(v.dir, k)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", k), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	if old != "" {
		os.RemoveAll(filepath.Join(v.dir, old))
	}
}

// startService runs the shipped config with the Secret's data where the
// Deployment mounts it, under root. It returns the server and the Secret
// volume, to update.
func startService(t *testing.T, b *base, root string, edit func(*authreq.Config)) (*authreq.Server, *secretVolume) {
	t.Helper()
	cfg := b.config(t)
	c := b.container(t)
	var vol *secretVolume
	for i, f := range cfg.Htpasswd.Files {
		mount := filepath.Dir(f)
		if v := volumeAt(t, b.deploy.Spec.Template.Spec, c, mount); v.Secret == nil {
			t.Fatalf("config: %s is not in a Secret volume", f)
		}
		if vol == nil {
			vol = &secretVolume{dir: filepath.Join(root, mount)}
			vol.write(t, b.secret.Data)
		}
		cfg.Htpasswd.Files[i] = filepath.Join(root, f)
	}
	cfg.Audit.Output = filepath.Join(t.TempDir(), "audit.log")
	if edit != nil {
		edit(cfg)
	}
	srv, err := authreq.New(cfg, nil)
	if err != nil {
		t.Fatalf("the shipped config does not start the service: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, vol
}

// ask sends an auth subrequest as ingress-nginx does and returns the
// status and X-User.
func ask(srv http.Handler, user, password string) (int, string) {
	r := httptest.NewRequest("GET", "/auth", nil)
	r.Header.Set("X-Original-URL", "https://mlflow.example.org/api/2.0/mlflow/experiments/search")
	r.Header.Set("X-Original-Method", "GET")
	r.SetBasicAuth(user, password)
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	return w.Code, w.Header().Get("X-User")
}

func get(srv http.Handler, path string) int {
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	return w.Code
}

// The shipped config and Secret run the real service: the demo user gets
// in with the published password, the probes' paths answer 200, and an
// update of the Secret made the README's way (htpw on the manifest) reaches
// the running service through the directory mount without a restart.
func TestShippedConfigAndSecretHotReload(t *testing.T) {
	b := loadBase(t)
	srv, vol := startService(t, b, t.TempDir(), nil)
	if code, user := ask(srv, "demo", demoPassword); code != 200 || user != "demo" {
		t.Fatalf("demo with the published password: %d %q, want 200 demo", code, user)
	}
	if code, _ := ask(srv, "demo", "wrong"); code != 401 {
		t.Errorf("demo with a wrong password: %d, want 401", code)
	}
	c := b.container(t)
	for _, p := range []string{c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path} {
		if code := get(srv, p); code != 200 {
			t.Errorf("probe %s: %d, want 200", p, code)
		}
	}

	// `htpw add --secret secret.yaml alice; htpw delete … demo`, through
	// the library htpw uses.
	manifest, err := os.ReadFile("secret.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := k8s.ParseSecret(manifest)
	if err != nil {
		t.Fatalf("secret.yaml: htpw cannot read it: %v", err)
	}
	f, err := s.File("")
	if err != nil {
		t.Fatal(err)
	}
	hash, err := htpasswd.Generate(htpasswd.Bcrypt, []byte("alice-pw"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Set("alice", hash); err != nil {
		t.Fatal(err)
	}
	f.Delete("demo")
	if err := s.SetFile(f, ""); err != nil {
		t.Fatal(err)
	}
	edited, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	obj, err := decodeStrict(edited)
	if err != nil {
		t.Fatalf("htpw's edited Secret: %v", err)
	}
	updated, ok := obj.(*corev1.Secret)
	if !ok || updated.Name != b.secret.Name {
		t.Fatalf("htpw's edited manifest is %T named %v, want Secret %s", obj, updated, b.secret.Name)
	}

	vol.write(t, updated.Data)
	realtest.Eventually(t, 5*time.Second, "the Secret update reaching the service", func() bool {
		code, _ := ask(srv, "alice", "alice-pw")
		return code == 200
	})
	if code, _ := ask(srv, "demo", demoPassword); code != 401 {
		t.Errorf("demo after its removal: %d, want 401", code)
	}
}

// The password the docs publish is the one secret.yaml holds.
func TestDemoPasswordDocumented(t *testing.T) {
	for _, f := range []string{"secret.yaml", "README.md"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), demoPassword) {
			t.Errorf("%s does not name the demo password %q", f, demoPassword)
		}
	}
}

// exportedMetrics scrapes srv's /metrics and returns every metric family.
func exportedMetrics(t *testing.T, srv *authreq.Server) map[string]string {
	t.Helper()
	w := httptest.NewRecorder()
	srv.MetricsHandler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	names := map[string]string{} // name → type
	sc := bufio.NewScanner(w.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			names[f[2]] = f[3]
		}
	}
	return names
}

var metricNameRE = regexp.MustCompile(`\bauthreq_[a-zA-Z0-9_]+`)

// Every authreq_ metric the PrometheusRule names is one the running service
// exports: a renamed metric would leave an alert that never fires.
func TestPrometheusRuleNamesExportedMetrics(t *testing.T) {
	b := loadBase(t)
	srv, _ := startService(t, b, t.TempDir(), nil)
	// Labelled series appear once used: a login, failures up to
	// throttling, a reload.
	ask(srv, "demo", demoPassword)
	for range 7 {
		ask(srv, "demo", "wrong")
	}
	srv.Reload()
	names := exportedMetrics(t, srv)

	// The LDAP pool's metrics exist when LDAP is on; its probe finds
	// nothing listening on a free loopback port.
	ldapSrv, _ := startService(t, b, t.TempDir(), func(c *authreq.Config) {
		c.LDAP.Enabled = true
		c.LDAP.URI = fmt.Sprintf("ldap://127.0.0.1:%d/dc=example,dc=org", realtest.FreePort(t))
		c.LDAP.AllowInsecure = true
		c.LDAP.LookupBind = "uid=%s,ou=people,dc=example,dc=org"
	})
	for n, typ := range exportedMetrics(t, ldapSrv) {
		names[n] = typ
	}
	for _, want := range []string{"authreq_decisions_total", "authreq_throttled_total", "authreq_reloads_total", "authreq_ldap_dial_errors_total"} {
		if _, ok := names[want]; !ok {
			t.Fatalf("%s not exported after the traffic meant to create it; exported: %v", want, slices.Sorted(maps.Keys(names)))
		}
	}

	for _, g := range b.rule.Spec.Groups {
		for _, r := range g.Rules {
			expr := r.Expr.String()
			used := metricNameRE.FindAllString(expr, -1)
			if len(used) == 0 && !strings.Contains(expr, `up{job="authreq"}`) {
				t.Errorf("rule %s: names no authreq metric: %s", r.Alert, expr)
			}
			for _, n := range used {
				if _, ok := names[n]; ok {
					continue
				}
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
				if typ := names[base]; typ == "histogram" || (typ == "summary" && !strings.HasSuffix(n, "_bucket")) {
					continue
				}
				t.Errorf("rule %s: %s is not a metric the service exports", r.Alert, n)
			}
		}
	}
}

// The PrometheusRule's groups are a valid Prometheus rule file, and its
// alerts fire on the series they are meant for (testdata/rules.test.yml).
func TestPrometheusRulePromtool(t *testing.T) {
	promtool := realtest.Need(t, "promtool")
	b := loadBase(t)
	rules, err := yaml.Marshal(map[string]any{"groups": b.rule.Spec.Groups})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join("testdata", "rules.test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.test.yml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", "rules", "rules.yml"}, {"test", "rules", "rules.test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s\nrules:\n%s", strings.Join(args, " "), err, out, rules)
		}
	}
}
