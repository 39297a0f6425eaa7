// Package kubernetes checks the kustomize base in this directory: every
// manifest strictly decoded into its Kubernetes API type (an unknown or
// misspelt field is an error, as the API server's strict field validation
// makes it), the properties the deployment depends on, and the shipped
// config and Secret run by the real service.
package kubernetes

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/authreq/authreq/authreq"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// kustomization mirrors the fields of kustomize's Kustomization this base
// uses. The kustomize API module is far larger than these few fields, and
// decoding strictly into this mirror still makes a misspelt key an error;
// a new kind of entry means a new field here.
type kustomization struct {
	APIVersion         string      `json:"apiVersion"`
	Kind               string      `json:"kind"`
	Namespace          string      `json:"namespace"`
	Resources          []string    `json:"resources"`
	Components         []string    `json:"components"`
	Patches            []patch     `json:"patches"`
	ConfigMapGenerator []generator `json:"configMapGenerator"`
	SecretGenerator    []generator `json:"secretGenerator"`
	Images             []image     `json:"images"`
}

type generator struct {
	Name     string   `json:"name"`
	Behavior string   `json:"behavior"`
	Files    []string `json:"files"`
}

type patch struct {
	Path string `json:"path"`
}

type image struct {
	Name    string `json:"name"`
	NewName string `json:"newName"`
	NewTag  string `json:"newTag"`
}

// kinds are the API types a resource of this base may be, by apiVersion
// and kind.
var kinds = map[string]func() runtime.Object{
	"v1/Namespace":                            func() runtime.Object { return &corev1.Namespace{} },
	"v1/Secret":                               func() runtime.Object { return &corev1.Secret{} },
	"v1/Service":                              func() runtime.Object { return &corev1.Service{} },
	"apps/v1/Deployment":                      func() runtime.Object { return &appsv1.Deployment{} },
	"policy/v1/PodDisruptionBudget":           func() runtime.Object { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy":      func() runtime.Object { return &networkingv1.NetworkPolicy{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() runtime.Object { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() runtime.Object { return &monitoringv1.PrometheusRule{} },
}

// base is the decoded kustomize base.
type base struct {
	kust      kustomization
	ns        *corev1.Namespace
	secret    *corev1.Secret
	svc       *corev1.Service
	deploy    *appsv1.Deployment
	pdb       *policyv1.PodDisruptionBudget
	netpol    *networkingv1.NetworkPolicy
	monitor   *monitoringv1.ServiceMonitor
	rule      *monitoringv1.PrometheusRule
	configMap string // the generated ConfigMap's name
	// configKey and configFile: the generated ConfigMap's one key and the
	// file in this directory it is made from.
	configKey, configFile string
}

// decodeStrict decodes one YAML manifest into the API type its apiVersion
// and kind name, refusing unknown fields and duplicate keys.
func decodeStrict(data []byte) (runtime.Object, error) {
	if bytes.Contains(append([]byte("\n"), data...), []byte("\n---")) {
		return nil, fmt.Errorf("more than one YAML document: keep one manifest per file")
	}
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(data, &tm); err != nil {
		return nil, err
	}
	newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		return nil, fmt.Errorf("apiVersion %q kind %q: not a type this base expects", tm.APIVersion, tm.Kind)
	}
	obj := newObj()
	if err := unmarshalStrict(data, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// unmarshalStrict decodes YAML as the API server's strict field validation
// does: duplicate keys and unknown fields are errors, and field names match
// case-sensitively. sigs.k8s.io/yaml's UnmarshalStrict alone goes through
// encoding/json, which would take readOnlyRootFileSystem for
// readOnlyRootFilesystem; the API server drops such a field, and the root
// filesystem would silently stay writable.
func unmarshalStrict(data []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, v)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

func loadBase(t *testing.T) *base {
	t.Helper()
	data, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b := &base{}
	if err := unmarshalStrict(data, &b.kust); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if b.kust.APIVersion != "kustomize.config.k8s.io/v1beta1" || b.kust.Kind != "Kustomization" {
		t.Fatalf("kustomization.yaml: apiVersion %q kind %q", b.kust.APIVersion, b.kust.Kind)
	}
	for _, f := range b.kust.Resources {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("kustomization.yaml: resource %v", err)
		}
		obj, err := decodeStrict(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var dup bool
		switch o := obj.(type) {
		case *corev1.Namespace:
			dup, b.ns = b.ns != nil, o
		case *corev1.Secret:
			dup, b.secret = b.secret != nil, o
		case *corev1.Service:
			dup, b.svc = b.svc != nil, o
		case *appsv1.Deployment:
			dup, b.deploy = b.deploy != nil, o
		case *policyv1.PodDisruptionBudget:
			dup, b.pdb = b.pdb != nil, o
		case *networkingv1.NetworkPolicy:
			dup, b.netpol = b.netpol != nil, o
		case *monitoringv1.ServiceMonitor:
			dup, b.monitor = b.monitor != nil, o
		case *monitoringv1.PrometheusRule:
			dup, b.rule = b.rule != nil, o
		}
		if dup {
			t.Fatalf("%s: a second %T; the checks expect one of each", f, obj)
		}
	}
	for name, missing := range map[string]bool{"Namespace": b.ns == nil, "Secret": b.secret == nil, "Service": b.svc == nil,
		"Deployment": b.deploy == nil, "PodDisruptionBudget": b.pdb == nil, "NetworkPolicy": b.netpol == nil,
		"ServiceMonitor": b.monitor == nil, "PrometheusRule": b.rule == nil} {
		if missing {
			t.Fatalf("kustomization.yaml: no %s among the resources", name)
		}
	}
	if len(b.kust.Components) != 0 || len(b.kust.Patches) != 0 || len(b.kust.SecretGenerator) != 0 {
		t.Fatal("kustomization.yaml: components, patches or a secretGenerator in the base; the checks do not apply them")
	}
	if g := b.kust.ConfigMapGenerator; len(g) != 1 || len(g[0].Files) != 1 || g[0].Behavior != "" {
		t.Fatalf("kustomization.yaml: want one configMapGenerator with one file (the config), got %+v", g)
	}
	gen := b.kust.ConfigMapGenerator[0]
	b.configMap = gen.Name
	b.configKey, b.configFile = fileSource(gen.Files[0])
	return b
}

// fileSource splits a generator's file source, "key=path" or a path whose
// base name is the key, as kustomize does.
func fileSource(src string) (key, file string) {
	if k, p, ok := strings.Cut(src, "="); ok {
		return k, p
	}
	return path.Base(src), src
}

// container is the Deployment's one container.
func (b *base) container(t *testing.T) corev1.Container {
	t.Helper()
	cs := b.deploy.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("deployment: %d containers, want 1", len(cs))
	}
	return cs[0]
}

// containerPort resolves a port given by name or number to the container's
// port number, or fails.
func (b *base) containerPort(t *testing.T, where string, p intstr.IntOrString) int32 {
	t.Helper()
	for _, cp := range b.container(t).Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort
		}
	}
	t.Fatalf("%s: port %s is not a port of the container", where, p.String())
	return 0
}

// config loads the generated ConfigMap's file with the service's own
// loader and validates it as the service does at start.
func (b *base) config(t *testing.T) *authreq.Config {
	t.Helper()
	cfg, err := authreq.LoadConfig(b.configFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("%s: %v", b.configFile, err)
	}
	return cfg
}

func podLabels(b *base) labels.Set { return labels.Set(b.deploy.Spec.Template.Labels) }

func selects(t *testing.T, where string, sel *metav1.LabelSelector, set labels.Set) bool {
	t.Helper()
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		t.Errorf("%s: empty selector (selects everything)", where)
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return false
	}
	return s.Matches(set)
}

func TestKustomizationListsEveryFile(t *testing.T) {
	b := loadBase(t)
	listed := append(slices.Clone(b.kust.Resources), b.configFile)
	seen := map[string]bool{}
	for _, f := range listed {
		if seen[f] {
			t.Errorf("kustomization.yaml: %s listed twice", f)
		}
		seen[f] = true
		if _, err := os.Stat(f); err != nil {
			t.Errorf("kustomization.yaml: %v", err)
		}
	}
	yamls, _ := filepath.Glob("*.y*ml")
	for _, f := range yamls {
		if f != "kustomization.yaml" && !seen[f] {
			t.Errorf("%s is in the directory but not in kustomization.yaml: kubectl apply -k would leave it out", f)
		}
	}
	if b.kust.Namespace == "" || b.kust.Namespace != b.ns.Name {
		t.Errorf("kustomization.yaml: namespace %q, but namespace.yaml creates %q", b.kust.Namespace, b.ns.Name)
	}
	if b.ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace.yaml: the restricted Pod Security Standard is not enforced")
	}
	img := b.container(t).Image
	name, _, _ := strings.Cut(img, ":")
	if !slices.ContainsFunc(b.kust.Images, func(i image) bool { return i.Name == name }) {
		t.Errorf("kustomization.yaml: no images entry for %q, so `kustomize edit set image` has nothing to change", name)
	}
}

// The decoder itself is strict: a misspelt field, an unknown kind or a
// second document is an error, not a silently dropped key.
func TestDecodeIsStrict(t *testing.T) {
	good, err := os.ReadFile("deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeStrict(good); err != nil {
		t.Fatalf("deployment.yaml: %v", err)
	}
	for _, tt := range []struct{ name, old, new, want string }{
		{"misspelt field", "replicas:", "replica:", `unknown field "spec.replica"`},
		{"field in the wrong case", "readOnlyRootFilesystem:", "readOnlyRootFileSystem:", `unknown field "spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem"`},
		{"duplicate key", "replicas: 2", "replicas: 2\n  replicas: 3", `key "replicas" already set`},
		{"wrong type", "replicas: 2", "replicas: two", "cannot unmarshal"},
		{"unknown kind", "kind: Deployment", "kind: Deploymnet", "not a type this base expects"},
		{"two documents", "apiVersion: apps/v1", "apiVersion: v1\nkind: Secret\n---\napiVersion: apps/v1", "more than one YAML document"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := strings.Replace(string(good), tt.old, tt.new, 1)
			if bad == string(good) {
				t.Fatalf("%q not in deployment.yaml", tt.old)
			}
			_, err := decodeStrict([]byte(bad))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestDeployment(t *testing.T) {
	b := loadBase(t)
	d := b.deploy
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas: %v, want 2", d.Spec.Replicas)
	}
	if !selects(t, "deployment selector", d.Spec.Selector, podLabels(b)) {
		t.Errorf("deployment: selector does not match the pod template's labels")
	}
	pod := d.Spec.Template.Spec
	c := b.container(t)
	checkHardened(t, "deployment", pod, c)

	// The probes reach the port the config listens on.
	cfg := b.config(t)
	listenPort := portOf(t, "listen", cfg.Listen)
	for name, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("probe for %s: missing or not httpGet", name)
			continue
		}
		if p.HTTPGet.Path != name {
			t.Errorf("probe: path %q, want %q", p.HTTPGet.Path, name)
		}
		if got := b.containerPort(t, "probe "+name, p.HTTPGet.Port); got != listenPort {
			t.Errorf("probe %s: port %d, but the config listens on %d", name, got, listenPort)
		}
	}

	// The args name the generated ConfigMap's file where it is mounted.
	cfgPath := ""
	for i, a := range c.Args {
		if a == "--config" && i+1 < len(c.Args) {
			cfgPath = c.Args[i+1]
		} else if v, ok := strings.CutPrefix(a, "--config="); ok {
			cfgPath = v
		}
	}
	vol := volumeAt(t, pod, c, path.Dir(cfgPath))
	if vol.ConfigMap == nil || vol.ConfigMap.Name != b.configMap || path.Base(cfgPath) != b.configKey {
		t.Errorf("args: --config %q is not the key %q of the ConfigMap %q generated from %s", cfgPath, b.configKey, b.configMap, b.configFile)
	}
}

// checkHardened checks what the namespace's restricted Pod Security
// Standard enforces and more: a numeric non-root user, a read-only root
// filesystem, no privilege escalation or capabilities, no host namespaces
// or paths, no service-account token, resource requests and a memory limit.
func checkHardened(t *testing.T, where string, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	// Non-root, by number: runAsNonRoot alone fails at start on an image
	// whose USER is a name.
	psc, csc := pod.SecurityContext, c.SecurityContext
	if psc == nil || csc == nil {
		t.Fatalf("%s: pod or container securityContext missing", where)
	}
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("%s: pod: runAsNonRoot not true", where)
	}
	if psc.RunAsUser == nil || *psc.RunAsUser == 0 || psc.RunAsGroup == nil || *psc.RunAsGroup == 0 {
		t.Errorf("%s: pod: runAsUser and runAsGroup must be numeric and not 0", where)
	}
	if csc.RunAsUser != nil && *csc.RunAsUser == 0 {
		t.Errorf("%s: container: runAsUser 0", where)
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod: seccompProfile is not RuntimeDefault", where)
	}
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		t.Errorf("%s: container: readOnlyRootFilesystem not true", where)
	}
	if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		t.Errorf("%s: container: allowPrivilegeEscalation not false", where)
	}
	if csc.Privileged != nil && *csc.Privileged {
		t.Errorf("%s: container: privileged", where)
	}
	if csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(csc.Capabilities.Add) != 0 {
		t.Errorf("%s: container: capabilities must drop ALL and add none", where)
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Errorf("%s: pod: shares a host namespace", where)
	}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			t.Errorf("%s: volume %s: hostPath", where, v.Name)
		}
	}

	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
			t.Errorf("%s: container: no %s request", where, r)
		}
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok || q.Cmp(c.Resources.Requests[corev1.ResourceMemory]) < 0 {
		t.Errorf("%s: container: no memory limit at or above the request", where)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: pod: automountServiceAccountToken not false (it needs no API access)", where)
	}
}

// The htpasswd Secret is mounted as a directory, never with subPath: the
// kubelet updates a Secret volume by swapping its ..data symlink, which a
// subPath mount (a bind mount of one file, resolved once) never sees.
func TestSecretMountedAsDirectory(t *testing.T) {
	b := loadBase(t)
	pod := b.deploy.Spec.Template.Spec
	checkNoSubPath(t, pod)
	cfg := b.config(t)
	if len(cfg.Htpasswd.Files) == 0 {
		t.Fatal("config: no htpasswd file")
	}
	for _, f := range cfg.Htpasswd.Files {
		checkSecretFile(t, pod, b.container(t), f, b.secret.Name, b.secret.Data)
	}
}

func checkNoSubPath(t *testing.T, pod corev1.PodSpec) {
	t.Helper()
	for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		for _, m := range c.VolumeMounts {
			if m.SubPath != "" || m.SubPathExpr != "" {
				t.Errorf("container %s: volume %s mounted with subPath: it would never receive updates", c.Name, m.Name)
			}
		}
	}
}

// checkSecretFile checks that the file f, named in the config, is a key of
// the Secret secretName (whose data is given) in a directory mount of it
// that c can read and others cannot.
func checkSecretFile(t *testing.T, pod corev1.PodSpec, c corev1.Container, f, secretName string, data map[string][]byte) {
	t.Helper()
	vol := volumeAt(t, pod, c, path.Dir(f))
	if vol.Secret == nil || vol.Secret.SecretName != secretName {
		t.Errorf("config: %s is not in the mount of Secret %q", f, secretName)
		return
	}
	if len(vol.Secret.Items) != 0 {
		t.Errorf("volume %s: items remap the Secret's keys; mount them all", vol.Name)
	}
	if _, ok := data[path.Base(f)]; !ok {
		t.Errorf("config: %s names key %q, which Secret %q does not hold", f, path.Base(f), secretName)
	}
	if m := vol.Secret.DefaultMode; m == nil || *m&0o007 != 0 {
		t.Errorf("volume %s: the Secret's files are readable by others (defaultMode %v)", vol.Name, m)
	} else if *m&0o040 == 0 || pod.SecurityContext.FSGroup == nil {
		t.Errorf("volume %s: with mode %#o and fsGroup %v the service cannot read it", vol.Name, *m, pod.SecurityContext.FSGroup)
	}
}

func TestServiceAndPDB(t *testing.T) {
	b := loadBase(t)
	if !selects(t, "service", &metav1.LabelSelector{MatchLabels: b.svc.Spec.Selector}, podLabels(b)) {
		t.Error("service: selector does not match the pods")
	}
	cfg := b.config(t)
	want := map[string]int32{"http": portOf(t, "listen", cfg.Listen), "metrics": portOf(t, "metricsListen", cfg.MetricsListen)}
	for _, p := range b.svc.Spec.Ports {
		got := b.containerPort(t, "service port "+p.Name, p.TargetPort)
		if w, ok := want[p.Name]; !ok || got != w {
			t.Errorf("service port %s: targets %d, want %v", p.Name, got, w)
		}
		delete(want, p.Name)
	}
	if len(want) != 0 {
		t.Errorf("service: no port named %v", want)
	}

	pdb := b.pdb.Spec
	if pdb.MinAvailable == nil || *pdb.MinAvailable != intstr.FromInt32(1) || pdb.MaxUnavailable != nil {
		t.Errorf("pdb: minAvailable %v, want 1 (and no maxUnavailable)", pdb.MinAvailable)
	}
	if !selects(t, "pdb", pdb.Selector, podLabels(b)) {
		t.Error("pdb: selector does not match the pods")
	}
}

// Only the ingress controller's namespace reaches the auth port, and only
// the monitoring namespace the metrics port.
func TestNetworkPolicy(t *testing.T) {
	b := loadBase(t)
	np := b.netpol.Spec
	if !selects(t, "networkpolicy", &np.PodSelector, podLabels(b)) {
		t.Error("networkpolicy: podSelector does not match the pods")
	}
	if !slices.Contains(np.PolicyTypes, networkingv1.PolicyTypeIngress) {
		t.Error("networkpolicy: policyTypes lacks Ingress")
	}
	cfg := b.config(t)
	want := map[string]int32{ // namespace → the one port it may reach
		"ingress-nginx": portOf(t, "listen", cfg.Listen),
		"monitoring":    portOf(t, "metricsListen", cfg.MetricsListen),
	}
	if len(np.Ingress) != len(want) {
		t.Fatalf("networkpolicy: %d ingress rules, want %d", len(np.Ingress), len(want))
	}
	for i, r := range np.Ingress {
		where := fmt.Sprintf("networkpolicy ingress[%d]", i)
		if len(r.From) != 1 || r.From[0].IPBlock != nil || r.From[0].PodSelector != nil || r.From[0].NamespaceSelector == nil {
			t.Errorf("%s: want exactly one namespaceSelector peer (an empty from admits everyone)", where)
			continue
		}
		sel := r.From[0].NamespaceSelector
		ns := sel.MatchLabels["kubernetes.io/metadata.name"]
		if len(sel.MatchLabels) != 1 || len(sel.MatchExpressions) != 0 {
			t.Errorf("%s: select the namespace by kubernetes.io/metadata.name alone", where)
		}
		port, ok := want[ns]
		if !ok {
			t.Errorf("%s: admits namespace %q", where, ns)
			continue
		}
		delete(want, ns)
		if len(r.Ports) != 1 || r.Ports[0].Port == nil {
			t.Errorf("%s: want exactly one port (no ports admits every port)", where)
			continue
		}
		if got := b.containerPort(t, where, *r.Ports[0].Port); got != port {
			t.Errorf("%s: namespace %s reaches port %d, want %d", where, ns, got, port)
		}
	}
	if len(want) != 0 {
		t.Errorf("networkpolicy: no rule for %v", want)
	}
}

func TestServiceMonitor(t *testing.T) {
	b := loadBase(t)
	sm := b.monitor.Spec
	if !selects(t, "servicemonitor", &sm.Selector, labels.Set(b.svc.Labels)) {
		t.Error("servicemonitor: selector does not match the Service's labels")
	}
	if len(sm.NamespaceSelector.MatchNames) != 0 || sm.NamespaceSelector.Any {
		t.Error("servicemonitor: namespaceSelector would look beyond its own namespace")
	}
	if len(sm.Endpoints) != 1 {
		t.Fatalf("servicemonitor: %d endpoints, want 1", len(sm.Endpoints))
	}
	ep := sm.Endpoints[0]
	if ep.Path != "/metrics" {
		t.Errorf("servicemonitor: path %q", ep.Path)
	}
	i := slices.IndexFunc(b.svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port })
	if i < 0 {
		t.Fatalf("servicemonitor: port %q is not a port name of the Service", ep.Port)
	}
	cfg := b.config(t)
	if got := b.containerPort(t, "servicemonitor", b.svc.Spec.Ports[i].TargetPort); got != portOf(t, "metricsListen", cfg.MetricsListen) {
		t.Errorf("servicemonitor: scrapes container port %d, but /metrics is on %s", got, cfg.MetricsListen)
	}
}

// volumeAt is the pod volume c mounts at dir.
func volumeAt(t *testing.T, pod corev1.PodSpec, c corev1.Container, dir string) corev1.Volume {
	t.Helper()
	i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return path.Clean(m.MountPath) == path.Clean(dir) })
	if i < 0 {
		t.Fatalf("container %s: nothing mounted at %s", c.Name, dir)
	}
	j := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == c.VolumeMounts[i].Name })
	if j < 0 {
		t.Fatalf("container %s: mounts volume %q, which the pod lacks", c.Name, c.VolumeMounts[i].Name)
	}
	return pod.Volumes[j]
}

func portOf(t *testing.T, key, addr string) int32 {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	var p int32
	if _, err := fmt.Sscan(addr[i+1:], &p); i < 0 || err != nil || p == 0 {
		t.Fatalf("config %s: %q has no TCP port", key, addr)
	}
	return p
}
