package kubernetes

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authreq/authreq/authreq"
	"github.com/authreq/authreq/internal/duration"
	"github.com/authreq/authreq/internal/realtest"
	"github.com/redis/go-redis/v9"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The Redis component (redis/) and the overlay that applies it
// (../kubernetes-redis). kubectl is not needed: loadRedis applies the
// component to the base the way kustomize does for what it uses, and
// refuses anything it would not know how to apply.
const (
	componentDir = "redis"
	overlayDir   = "../kubernetes-redis"
)

// withRedis is the base with the component applied.
type withRedis struct {
	*base // its Deployment patched, its config the component's
	comp  kustomization
	// The component's own resources.
	deploy *appsv1.Deployment
	svc    *corev1.Service
	netpol *networkingv1.NetworkPolicy
	// key is the Secret the secretGenerator makes (its name without the
	// hash suffix kustomize adds, and rewrites every reference to).
	key *corev1.Secret
}

func loadRedis(t *testing.T) *withRedis {
	t.Helper()
	w := &withRedis{base: loadBase(t)}
	where := filepath.Join(componentDir, "kustomization.yaml")
	data, err := os.ReadFile(where)
	if err != nil {
		t.Fatal(err)
	}
	if err := unmarshalStrict(data, &w.comp); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	k := w.comp
	if k.APIVersion != "kustomize.config.k8s.io/v1alpha1" || k.Kind != "Component" {
		t.Fatalf("%s: apiVersion %q kind %q, want a Component", where, k.APIVersion, k.Kind)
	}
	// Without a namespace, an overlay without one would put Redis and the
	// key in the default namespace, and the key's reference would not be
	// rewritten to the Secret's hashed name.
	if k.Namespace != w.base.ns.Name {
		t.Errorf("%s: namespace %q, want the base's %q", where, k.Namespace, w.base.ns.Name)
	}
	if len(k.Components) != 0 || len(k.Images) != 0 {
		t.Fatalf("%s: components or images, which these checks do not apply", where)
	}

	for _, f := range k.Resources {
		data, err := os.ReadFile(filepath.Join(componentDir, f))
		if err != nil {
			t.Fatalf("%s: resource %v", where, err)
		}
		obj, err := decodeStrict(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var dup bool
		switch o := obj.(type) {
		case *appsv1.Deployment:
			dup, w.deploy = w.deploy != nil, o
		case *corev1.Service:
			dup, w.svc = w.svc != nil, o
		case *networkingv1.NetworkPolicy:
			dup, w.netpol = w.netpol != nil, o
		default:
			t.Fatalf("%s: a %T; the component holds Redis's Deployment, Service and NetworkPolicy", f, obj)
		}
		if dup {
			t.Fatalf("%s: a second %T", f, obj)
		}
		if obj.(metav1.Object).GetName() == w.base.deploy.Name {
			t.Fatalf("%s: named %q like the base's own; kustomize refuses the clash", f, w.base.deploy.Name)
		}
	}
	if w.deploy == nil || w.svc == nil || w.netpol == nil {
		t.Fatalf("%s: want Redis's Deployment, Service and NetworkPolicy among the resources", where)
	}

	// The config: behavior replace swaps the base's ConfigMap's data for
	// the component's file, under the same name and key.
	if g := k.ConfigMapGenerator; len(g) != 1 || g[0].Name != w.base.configMap || g[0].Behavior != "replace" || len(g[0].Files) != 1 {
		t.Fatalf("%s: want one configMapGenerator replacing %q with one file, got %+v", where, w.base.configMap, g)
	}
	key, file := fileSource(k.ConfigMapGenerator[0].Files[0])
	if key != w.base.configKey {
		t.Fatalf("%s: the config's key is %q, but authreq reads %q", where, key, w.base.configKey)
	}
	w.base.configFile = filepath.Join(componentDir, file)

	if g := k.SecretGenerator; len(g) != 1 || g[0].Behavior != "" {
		t.Fatalf("%s: want one secretGenerator (the HMAC key), got %+v", where, g)
	}
	gen := k.SecretGenerator[0]
	w.key = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: gen.Name}, Data: map[string][]byte{}}
	for _, src := range gen.Files {
		key, file := fileSource(src)
		data, err := os.ReadFile(filepath.Join(componentDir, file))
		if err != nil {
			t.Fatalf("%s: secretGenerator: %v", where, err)
		}
		w.key.Data[key] = data
	}

	if len(k.Patches) != 1 {
		t.Fatalf("%s: want one patch (the key's mount on authreq's pods), got %+v", where, k.Patches)
	}
	f := filepath.Join(componentDir, k.Patches[0].Path)
	data, err = os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := decodeStrict(data)
	if err != nil {
		t.Fatalf("%s: %v", f, err)
	}
	p, ok := obj.(*appsv1.Deployment)
	if !ok || p.Name != w.base.deploy.Name {
		t.Fatalf("%s: patches %T %q, want the base's Deployment %q", f, obj, p.GetName(), w.base.deploy.Name)
	}
	applyMountPatch(t, f, w.base.deploy, p)
	return w
}

// applyMountPatch applies a strategic merge patch that adds volumes and
// volume mounts to d, as kustomize does: containers are matched by name,
// and the patch's volumes and mounts added. A patch that sets anything
// else, or replaces one of the base's volumes or mounts, fails the test:
// this is not a general merge.
func applyMountPatch(t *testing.T, where string, d, p *appsv1.Deployment) {
	t.Helper()
	rest := p.DeepCopy()
	rest.Spec.Template.Spec.Volumes = nil
	for _, c := range rest.Spec.Template.Spec.Containers {
		c.Name, c.VolumeMounts = "", nil
		if !reflect.DeepEqual(c, corev1.Container{}) {
			t.Fatalf("%s: sets a container's fields other than volumeMounts", where)
		}
	}
	rest.Spec.Template.Spec.Containers = nil
	if !reflect.DeepEqual(rest, &appsv1.Deployment{TypeMeta: p.TypeMeta, ObjectMeta: metav1.ObjectMeta{Name: p.Name}}) {
		t.Fatalf("%s: sets more than volumes and volumeMounts", where)
	}
	pod := &d.Spec.Template.Spec
	for _, v := range p.Spec.Template.Spec.Volumes {
		if slices.ContainsFunc(pod.Volumes, func(o corev1.Volume) bool { return o.Name == v.Name }) {
			t.Fatalf("%s: volume %s is already the base's", where, v.Name)
		}
		pod.Volumes = append(pod.Volumes, v)
	}
	for _, pc := range p.Spec.Template.Spec.Containers {
		i := slices.IndexFunc(pod.Containers, func(c corev1.Container) bool { return c.Name == pc.Name })
		if i < 0 {
			t.Fatalf("%s: container %q is not the base's (the patch would add a container of nothing but mounts)", where, pc.Name)
		}
		c := &pod.Containers[i]
		for _, m := range pc.VolumeMounts {
			if slices.ContainsFunc(c.VolumeMounts, func(o corev1.VolumeMount) bool { return path.Clean(o.MountPath) == path.Clean(m.MountPath) }) {
				t.Fatalf("%s: %s is already mounted in the base", where, m.MountPath)
			}
			c.VolumeMounts = append(c.VolumeMounts, m)
		}
	}
}

// redisContainer is the Redis Deployment's one container.
func (w *withRedis) redisContainer(t *testing.T) corev1.Container {
	t.Helper()
	cs := w.deploy.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("redis deployment: %d containers, want 1", len(cs))
	}
	return cs[0]
}

// redisPort is the container port the Redis Service's port named redis
// targets.
func (w *withRedis) redisPort(t *testing.T) (service, container int32) {
	t.Helper()
	i := slices.IndexFunc(w.svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "redis" })
	if i < 0 || len(w.svc.Spec.Ports) != 1 {
		t.Fatalf("redis service: want one port, named redis, got %+v", w.svc.Spec.Ports)
	}
	sp := w.svc.Spec.Ports[i]
	return sp.Port, portIn(t, "redis service", w.redisContainer(t), sp.TargetPort)
}

func portIn(t *testing.T, where string, c corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort
		}
	}
	t.Fatalf("%s: port %s is not a port of container %s", where, p.String(), c.Name)
	return 0
}

// redisArgs maps each --option of the Redis container's args to its value.
func redisArgs(t *testing.T, c corev1.Container) map[string]string {
	t.Helper()
	opts := map[string]string{}
	for i := 0; i < len(c.Args); i += 2 {
		o, ok := strings.CutPrefix(c.Args[i], "--")
		if !ok || i+1 == len(c.Args) {
			t.Fatalf("redis args: want --option value pairs, got %q", c.Args)
		}
		opts[o] = c.Args[i+1]
	}
	return opts
}

// Every file of the component is one it uses, and the overlay is the base
// plus the component and nothing else.
func TestRedisListsEveryFile(t *testing.T) {
	w := loadRedis(t)
	used := map[string]bool{"kustomization.yaml": true}
	listed := slices.Clone(w.comp.Resources)
	for _, p := range w.comp.Patches {
		listed = append(listed, p.Path)
	}
	for _, g := range slices.Concat(w.comp.ConfigMapGenerator, w.comp.SecretGenerator) {
		for _, src := range g.Files {
			_, f := fileSource(src)
			listed = append(listed, f)
		}
	}
	for _, f := range listed {
		if used[f] {
			t.Errorf("%s/kustomization.yaml: %s used twice", componentDir, f)
		}
		used[f] = true
	}
	entries, err := os.ReadDir(componentDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !used[e.Name()] {
			t.Errorf("%s/%s is in the directory but not in its kustomization.yaml: kubectl apply -k would leave it out", componentDir, e.Name())
		}
	}

	where := filepath.Join(overlayDir, "kustomization.yaml")
	data, err := os.ReadFile(where)
	if err != nil {
		t.Fatal(err)
	}
	var o kustomization
	if err := unmarshalStrict(data, &o); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	want := kustomization{APIVersion: "kustomize.config.k8s.io/v1beta1", Kind: "Kustomization",
		Resources: []string{"../kubernetes"}, Components: []string{"../kubernetes/redis"}}
	if !reflect.DeepEqual(o, want) {
		t.Fatalf("%s: %+v, want the base and the component alone: %+v", where, o, want)
	}
	for want, dir := range map[string]string{".": o.Resources[0], componentDir: o.Components[0]} {
		got, _ := filepath.Abs(filepath.Join(overlayDir, dir))
		if w, _ := filepath.Abs(want); got != w {
			t.Errorf("%s: %s is %s, not %s", where, dir, got, w)
		}
	}
	if entries, _ := os.ReadDir(overlayDir); len(entries) != 1 {
		t.Errorf("%s: files beside kustomization.yaml, which it does not use", overlayDir)
	}
}

func TestRedisDeployment(t *testing.T) {
	w := loadRedis(t)
	d := w.deploy
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("redis: replicas %v, want 1 (two would be two states)", d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	redisPods := labels.Set(d.Spec.Template.Labels)
	if !selects(t, "redis deployment", d.Spec.Selector, redisPods) {
		t.Error("redis deployment: selector does not match its pods")
	}
	c := w.redisContainer(t)
	checkHardened(t, "redis", pod, c)
	checkNoSubPath(t, pod)
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		t.Error("redis: enableServiceLinks not false")
	}

	name, tag, _ := strings.Cut(c.Image, ":")
	if (name != "valkey/valkey" && name != "redis") || tag == "" || tag == "latest" {
		t.Errorf("redis: image %q, want valkey/valkey or redis at a major version", c.Image)
	}
	opts := redisArgs(t, c)
	for o, want := range map[string]string{"save": "", "appendonly": "no", "maxmemory-policy": "noeviction"} {
		if v, ok := opts[o]; !ok || v != want {
			t.Errorf("redis args: --%s %q, want %q", o, v, want)
		}
	}
	// With nothing persisted, its working directory still needs to be
	// writable on a read-only root.
	if v := volumeAt(t, pod, c, "/data"); v.EmptyDir == nil {
		t.Errorf("redis: /data is volume %s, not an emptyDir", v.Name)
	}

	_, port := w.redisPort(t)
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.TCPSocket == nil {
			t.Errorf("redis %s probe: missing or not tcpSocket", name)
			continue
		}
		if got := portIn(t, "redis "+name+" probe", c, p.TCPSocket.Port); got != port {
			t.Errorf("redis %s probe: port %d, want %d", name, got, port)
		}
	}
}

// The Redis Service reaches the Redis pods on the port authreq's config
// names, and no selector of the base and the component reaches across.
func TestRedisService(t *testing.T) {
	w := loadRedis(t)
	redisPods := labels.Set(w.deploy.Spec.Template.Labels)
	if !selects(t, "redis service", &metav1.LabelSelector{MatchLabels: w.svc.Spec.Selector}, redisPods) {
		t.Error("redis service: selector does not match the Redis pods")
	}
	svcPort, containerPort := w.redisPort(t)
	if svcPort != 6379 || containerPort != 6379 {
		t.Errorf("redis service: port %d to container port %d, want 6379 to 6379", svcPort, containerPort)
	}
	cfg := w.config(t)
	host, port, err := net.SplitHostPort(cfg.RateLimit.Store.Redis.Address)
	if err != nil || host != w.svc.Name || port != strconv.Itoa(int(svcPort)) {
		t.Errorf("config: rateLimit.store.redis.address %q, want the Service, %s:%d", cfg.RateLimit.Store.Redis.Address, w.svc.Name, svcPort)
	}

	authreqPods := podLabels(w.base)
	for where, sel := range map[string]*metav1.LabelSelector{
		"redis deployment": w.deploy.Spec.Selector,
		"redis service":    {MatchLabels: w.svc.Spec.Selector},
	} {
		if selects(t, where, sel, authreqPods) {
			t.Errorf("%s: selects authreq's pods", where)
		}
	}
	for where, sel := range map[string]*metav1.LabelSelector{
		"deployment":    w.base.deploy.Spec.Selector,
		"service":       {MatchLabels: w.base.svc.Spec.Selector},
		"pdb":           w.base.pdb.Spec.Selector,
		"networkpolicy": &w.base.netpol.Spec.PodSelector,
	} {
		if selects(t, where, sel, redisPods) {
			t.Errorf("%s: selects the Redis pods", where)
		}
	}
	if selects(t, "servicemonitor", &w.base.monitor.Spec.Selector, labels.Set(w.svc.Labels)) {
		t.Error("servicemonitor: selects the Redis Service, which has no /metrics")
	}
}

// Only authreq's pods reach Redis, on its one port; Redis reaches nothing.
func TestRedisNetworkPolicy(t *testing.T) {
	w := loadRedis(t)
	np := w.netpol.Spec
	redisPods := labels.Set(w.deploy.Spec.Template.Labels)
	if !selects(t, "redis networkpolicy", &np.PodSelector, redisPods) {
		t.Error("redis networkpolicy: podSelector does not match the Redis pods")
	}
	if selects(t, "redis networkpolicy", &np.PodSelector, podLabels(w.base)) {
		t.Error("redis networkpolicy: podSelector matches authreq's pods too")
	}
	if !slices.Equal(np.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) || len(np.Egress) != 0 {
		t.Errorf("redis networkpolicy: policyTypes %v with %d egress rules, want Ingress and Egress with none (Redis connects nowhere)", np.PolicyTypes, len(np.Egress))
	}
	if len(np.Ingress) != 1 {
		t.Fatalf("redis networkpolicy: %d ingress rules, want 1", len(np.Ingress))
	}
	r := np.Ingress[0]
	if len(r.From) != 1 || r.From[0].PodSelector == nil || r.From[0].NamespaceSelector != nil || r.From[0].IPBlock != nil {
		t.Fatal("redis networkpolicy: want exactly one peer, a podSelector alone (authreq's pods in this namespace; an empty from admits everyone)")
	}
	if !selects(t, "redis networkpolicy peer", r.From[0].PodSelector, podLabels(w.base)) {
		t.Error("redis networkpolicy: the peer does not match authreq's pods")
	}
	if selects(t, "redis networkpolicy peer", r.From[0].PodSelector, redisPods) {
		t.Error("redis networkpolicy: the peer matches the Redis pods")
	}
	if len(r.Ports) != 1 || r.Ports[0].Port == nil || r.Ports[0].EndPort != nil {
		t.Fatal("redis networkpolicy: want exactly one port (no ports admits every port)")
	}
	if got := portIn(t, "redis networkpolicy", w.redisContainer(t), *r.Ports[0].Port); got != 6379 {
		t.Errorf("redis networkpolicy: admits port %d, want 6379", got)
	}
	// The base's policy limits only what reaches authreq, so authreq may
	// connect to Redis.
	if slices.Contains(w.base.netpol.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
		t.Error("networkpolicy: the base restricts authreq's egress; it must allow Redis")
	}
}

// The component's config is the base's with rateLimit.store set, loads
// with authreq's loader, and names a key file that is in a directory
// mount of the generated Secret, at least 32 bytes as the store demands.
func TestRedisConfigAndKey(t *testing.T) {
	w := loadRedis(t)
	cfg := w.config(t)
	st := cfg.RateLimit.Store.Redis
	if !st.Enabled() {
		t.Fatalf("%s: rateLimit.store.redis.address not set", w.configFile)
	}
	baseCfg := loadBase(t).config(t)
	cfg.RateLimit.Store = baseCfg.RateLimit.Store
	if !reflect.DeepEqual(cfg, baseCfg) {
		t.Errorf("%s: differs from the base's %s in more than rateLimit.store:\n%+v\n%+v", w.configFile, loadBase(t).configFile, cfg, baseCfg)
	}

	pod := w.base.deploy.Spec.Template.Spec
	checkNoSubPath(t, pod)
	checkSecretFile(t, pod, w.container(t), st.HMACKeyFile, w.key.Name, w.key.Data)
	// Like readSecret in authreq/throttle: a trailing newline is not key.
	if k := strings.TrimRight(string(w.key.Data[path.Base(st.HMACKeyFile)]), "\r\n"); len(k) < 32 {
		t.Errorf("secret %s: key of %d bytes, want at least 32", w.key.Name, len(k))
	}
	// The patch left the base's mounts alone.
	c := w.container(t)
	for _, f := range cfg.Htpasswd.Files {
		if v := volumeAt(t, pod, c, path.Dir(f)); v.Secret == nil || v.Secret.SecretName != w.base.secret.Name {
			t.Errorf("patched deployment: %s is no longer in Secret %s", f, w.base.secret.Name)
		}
	}
}

// The README tells how to make a key of one's own.
func TestRedisKeyRegenerationDocumented(t *testing.T) {
	const cmd = "openssl rand -base64 48 > examples/kubernetes/redis/throttle.key"
	for _, f := range []string{"README.md", filepath.Join(componentDir, "kustomization.yaml")} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), cmd) {
			t.Errorf("%s does not say %q", f, cmd)
		}
	}
}

// startRedis runs redis-server with the Redis container's args (Valkey
// takes the same), on a free loopback port in a temp dir.
func startRedis(t *testing.T, c corev1.Container) string {
	t.Helper()
	bin := realtest.Need(t, "redis-server")
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", realtest.FreePort(t))
	_, port, _ := net.SplitHostPort(addr)
	// Later options win: the port, the address and the directory are the
	// test's.
	args := append(slices.Clone(c.Args), "--port", port, "--bind", "127.0.0.1", "--dir", dir,
		"--daemonize", "no", "--logfile", filepath.Join(dir, "redis.log"))
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	realtest.WaitTCP(t, addr, 10*time.Second)
	return addr
}

// The component for real: redis-server runs with the manifest's args, and
// two authreq replicas with the component's config and key share their
// limits: five wrong passwords spread over both, and the sixth try is
// refused unchecked on either, where the base alone lets it through.
func TestRedisReplicasShareLimits(t *testing.T) {
	w := loadRedis(t)
	addr := startRedis(t, w.redisContainer(t))

	rc := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
	defer rc.Close()
	for o, want := range redisArgs(t, w.redisContainer(t)) {
		got, err := rc.ConfigGet(context.Background(), o).Result()
		if err != nil {
			t.Fatalf("redis CONFIG GET %s: %v", o, err)
		}
		// maxmemory comes back in bytes.
		if o != "maxmemory" && got[o] != want {
			t.Errorf("redis: %s is %q, the args say %q", o, got[o], want)
		}
	}

	replicas := func(t *testing.T, b *base, shared bool) [2]*authreq.Server {
		var rs [2]*authreq.Server
		for i := range rs {
			root := t.TempDir()
			rs[i], _ = startService(t, b, root, func(c *authreq.Config) {
				if !shared {
					return
				}
				r := &c.RateLimit.Store.Redis
				(&secretVolume{dir: filepath.Join(root, path.Dir(r.HMACKeyFile))}).write(t, w.key.Data)
				r.HMACKeyFile = filepath.Join(root, r.HMACKeyFile)
				r.Address = addr
				r.Timeout = duration.Duration(time.Second) // -race on a busy machine
			})
		}
		return rs
	}
	throttled := func(srv http.Handler) bool {
		r := httptest.NewRequest("GET", "/auth", nil)
		r.Header.Set("X-Original-URL", "https://mlflow.example.org/")
		r.Header.Set("X-Original-Method", "GET")
		r.SetBasicAuth("demo", demoPassword)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		return rec.Code == 401 && rec.Header().Get("Retry-After") != ""
	}

	for _, tt := range []struct {
		name   string
		b      *base
		shared bool
	}{
		{"component", w.base, true},
		{"base alone", loadBase(t), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rs := replicas(t, tt.b, tt.shared)
			if tt.shared {
				for i, s := range rs {
					realtest.Eventually(t, 10*time.Second, fmt.Sprint("replica ", i, " sharing its state in redis"), func() bool {
						return get(s, "/readyz?strict=true") == 200
					})
				}
			}
			for i := range 5 {
				if code, _ := ask(rs[i%2], "demo", fmt.Sprint("wrong-", i)); code != 401 {
					t.Fatalf("failure %d: %d, want 401", i, code)
				}
			}
			for i, s := range rs {
				if got := throttled(s); got != tt.shared {
					t.Errorf("replica %d: the sixth try (right password) refused unchecked: %v, want %v", i, got, tt.shared)
				}
			}
		})
	}
}
