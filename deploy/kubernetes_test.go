package deploy_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hookbox/hookbox/receiver"
)

const manifestDir = "kubernetes"

// object is one Kubernetes manifest; Spec is decoded per kind.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec yaml.Node         `yaml:"spec"`
	file string
}

type selector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type deploymentSpec struct {
	Replicas int      `yaml:"replicas"`
	Selector selector `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec podSpec `yaml:"spec"`
	} `yaml:"template"`
}

type podSpec struct {
	AutomountServiceAccountToken  *bool `yaml:"automountServiceAccountToken"`
	TerminationGracePeriodSeconds int   `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot   bool `yaml:"runAsNonRoot"`
		RunAsUser      int  `yaml:"runAsUser"`
		SeccompProfile struct {
			Type string `yaml:"type"`
		} `yaml:"seccompProfile"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name   string `yaml:"name"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
	} `yaml:"envFrom"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
	StartupProbe   *probe `yaml:"startupProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	Lifecycle      struct {
		PreStop struct {
			Sleep struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
			Add  []string `yaml:"add"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
}

type probe struct {
	HTTPGet *struct {
		Path string    `yaml:"path"`
		Port yaml.Node `yaml:"port"` // a number or a port name
	} `yaml:"httpGet"`
}

type serviceSpec struct {
	Type     string            `yaml:"type"`
	Selector map[string]string `yaml:"selector"`
	Ports    []struct {
		Name       string    `yaml:"name"`
		Port       int       `yaml:"port"`
		TargetPort yaml.Node `yaml:"targetPort"`
	} `yaml:"ports"`
}

type pdbSpec struct {
	MinAvailable   *int     `yaml:"minAvailable"`
	MaxUnavailable *int     `yaml:"maxUnavailable"`
	Selector       selector `yaml:"selector"`
}

// mustManifests decodes every document of every .yaml file of dir.
func mustManifests(tb testing.TB, dir string) []object {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(files) == 0 {
		tb.Fatalf("no manifest in %s", dir)
	}
	var objs []object
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var o object
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				tb.Fatalf("%s: %v", f, err)
			}
			if o.Kind == "" || o.APIVersion == "" || o.Metadata.Name == "" {
				tb.Fatalf("%s: a document without apiVersion, kind or metadata.name", f)
			}
			o.file = filepath.Base(f)
			objs = append(objs, o)
		}
	}
	return objs
}

// one returns the only object of kind, its spec decoded into spec.
func one(tb testing.TB, objs []object, kind string, spec any) object {
	tb.Helper()
	var found []object
	for _, o := range objs {
		if o.Kind == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		tb.Fatalf("want one %s, got %d", kind, len(found))
	}
	if spec != nil {
		if err := found[0].Spec.Decode(spec); err != nil {
			tb.Fatalf("%s %s: %v", kind, found[0].Metadata.Name, err)
		}
	}
	return found[0]
}

// manifests are the parsed files of deploy/kubernetes.
type manifests struct {
	objs       []object
	deployment deploymentSpec
	c          container
	ports      map[string]int // container port by name
	env        map[string]string
}

func mustLoad(tb testing.TB) manifests {
	tb.Helper()
	m := manifests{objs: mustManifests(tb, manifestDir), ports: map[string]int{}, env: map[string]string{}}
	one(tb, m.objs, "Deployment", &m.deployment)
	if n := len(m.deployment.Template.Spec.Containers); n != 1 {
		tb.Fatalf("want one container, got %d", n)
	}
	m.c = m.deployment.Template.Spec.Containers[0]
	for _, p := range m.c.Ports {
		m.ports[p.Name] = p.ContainerPort
	}
	for _, e := range m.c.Env {
		m.env[e.Name] = e.Value
	}
	return m
}

// portOf resolves a probe's or a Service's port (a number or a container
// port's name) to a container port number.
func (m manifests) portOf(tb testing.TB, n yaml.Node) int {
	tb.Helper()
	if p, err := strconv.Atoi(n.Value); err == nil {
		return p
	}
	p, ok := m.ports[n.Value]
	if !ok {
		tb.Fatalf("port %q: no container port of that name", n.Value)
	}
	return p
}

// listenPort is the port of a HOOKBOX_*LISTEN value.
func listenPort(tb testing.TB, name, addr string) int {
	tb.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatalf("%s=%q: %v", name, addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		tb.Fatalf("%s=%q: %v", name, addr, err)
	}
	return p
}

// Ensures every manifest parses, and that the readiness probe asks /readyz
// and the liveness (and startup) probe /healthz, on the admin port
// hookbox listens on, all interfaces (the kubelet probes the pod IP), with
// the admin token hookbox then requires; the public port is the one
// HOOKBOX_LISTEN names.
func TestKubernetes_Probes(t *testing.T) {
	m := mustLoad(t)
	admin, public := m.ports["admin"], m.ports["public"]
	if admin == 0 || public == 0 || admin == public {
		t.Fatalf("want distinct container ports named public and admin, got %v", m.ports)
	}
	if got := listenPort(t, "HOOKBOX_LISTEN", m.env["HOOKBOX_LISTEN"]); got != public {
		t.Errorf("HOOKBOX_LISTEN port %d, container port public %d", got, public)
	}
	addr := m.env["HOOKBOX_ADMIN_LISTEN"]
	if got := listenPort(t, "HOOKBOX_ADMIN_LISTEN", addr); got != admin {
		t.Errorf("HOOKBOX_ADMIN_LISTEN port %d, container port admin %d", got, admin)
	}
	if host, _, _ := net.SplitHostPort(addr); host != "" && host != "0.0.0.0" && host != "::" {
		t.Errorf("HOOKBOX_ADMIN_LISTEN=%q: the kubelet probes the pod IP, listen on every interface", addr)
	}
	if m.env["HOOKBOX_ADMIN_TOKEN_FILE"] == "" {
		t.Error("HOOKBOX_ADMIN_TOKEN_FILE unset: serve refuses a non-loopback admin listener without a token")
	}
	for _, p := range []struct {
		name, path string
		probe      *probe
	}{
		{"readinessProbe", "/readyz", m.c.ReadinessProbe},
		{"livenessProbe", "/healthz", m.c.LivenessProbe},
		{"startupProbe", "/healthz", m.c.StartupProbe},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s path %q, want %q", p.name, p.probe.HTTPGet.Path, p.path)
		}
		if got := m.portOf(t, p.probe.HTTPGet.Port); got != admin {
			t.Errorf("%s port %d, want the admin port %d", p.name, got, admin)
		}
	}
	if len(m.c.Args) == 0 || m.c.Args[0] != "serve" {
		t.Errorf("args %q: want serve", m.c.Args)
	}
}

// Ensures the Service selects the Deployment's pods and exposes the public
// port only: the admin port (console, API, metrics) stays off it.
func TestKubernetes_ServiceHidesAdmin(t *testing.T) {
	m := mustLoad(t)
	var svc serviceSpec
	one(t, m.objs, "Service", &svc)
	if svc.Type != "" && svc.Type != "ClusterIP" {
		t.Errorf("Service type %q: expose it through an Ingress that ends HTTPS", svc.Type)
	}
	if !selects(svc.Selector, m.deployment.Template.Metadata.Labels) {
		t.Errorf("Service selector %v does not select the pods %v", svc.Selector, m.deployment.Template.Metadata.Labels)
	}
	if len(svc.Ports) != 1 {
		t.Fatalf("Service ports: want the public one only, got %d", len(svc.Ports))
	}
	p := svc.Ports[0]
	target := p.TargetPort
	if target.Kind == 0 { // no targetPort: the port itself
		target = yaml.Node{Kind: yaml.ScalarNode, Value: strconv.Itoa(p.Port)}
	}
	if got := m.portOf(t, target); got != m.ports["public"] {
		t.Errorf("Service targets port %d, want the public port %d (never the admin port %d)", got, m.ports["public"], m.ports["admin"])
	}
}

// Ensures the PodDisruptionBudget selects exactly the Deployment's pods and
// leaves room for a drain: at least one pod stays, one may go.
func TestKubernetes_PodDisruptionBudget(t *testing.T) {
	m := mustLoad(t)
	var pdb pdbSpec
	one(t, m.objs, "PodDisruptionBudget", &pdb)
	pods := m.deployment.Template.Metadata.Labels
	if len(pdb.Selector.MatchLabels) == 0 || !selects(pdb.Selector.MatchLabels, pods) {
		t.Errorf("PDB selector %v does not select the pods %v", pdb.Selector.MatchLabels, pods)
	}
	if !selects(m.deployment.Selector.MatchLabels, pods) {
		t.Errorf("Deployment selector %v does not select its own pods %v", m.deployment.Selector.MatchLabels, pods)
	}
	switch {
	case pdb.MinAvailable != nil:
		if *pdb.MinAvailable < 1 || *pdb.MinAvailable >= m.deployment.Replicas {
			t.Errorf("PDB minAvailable %d with %d replicas: a drain would stall or take every pod", *pdb.MinAvailable, m.deployment.Replicas)
		}
	case pdb.MaxUnavailable != nil:
		if *pdb.MaxUnavailable < 1 || *pdb.MaxUnavailable >= m.deployment.Replicas {
			t.Errorf("PDB maxUnavailable %d with %d replicas", *pdb.MaxUnavailable, m.deployment.Replicas)
		}
	default:
		t.Error("PDB sets neither minAvailable nor maxUnavailable")
	}
}

// selects reports whether every label of sel is on labels.
func selects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// Ensures secrets reach the pods as files of a Secret volume, read through
// the *_FILE variables (never as literal or secretKeyRef variables, nor in
// the ConfigMap), but for the PostgreSQL DSN: HOOKBOX_DB has no _FILE
// form, so it comes from the Secret through secretKeyRef, never a literal.
func TestKubernetes_SecretsAsFiles(t *testing.T) {
	m := mustLoad(t)
	secretMounts := map[string]bool{} // mount paths of Secret volumes
	for _, vm := range m.c.VolumeMounts {
		for _, v := range m.deployment.Template.Spec.Volumes {
			if v.Name == vm.Name && v.Secret != nil {
				if !vm.ReadOnly {
					t.Errorf("Secret volume %s mounted writable", v.Name)
				}
				secretMounts[vm.MountPath] = true
			}
		}
	}
	files := 0
	for _, e := range m.c.Env {
		base, isFile := strings.CutSuffix(e.Name, "_FILE")
		switch {
		case contains(secretVars, e.Name):
			t.Errorf("env %s: a secret as a variable; mount it and set %s_FILE", e.Name, e.Name)
		case isFile:
			if !contains(secretVars, base) {
				t.Errorf("env %s: hookbox reads no such _FILE variable", e.Name)
			}
			if !secretMounts[filepath.Dir(e.Value)] {
				t.Errorf("env %s=%s: not a file of a mounted Secret volume", e.Name, e.Value)
			}
			files++
		case e.Name == "HOOKBOX_DB":
			if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				t.Errorf("env HOOKBOX_DB: want valueFrom.secretKeyRef (the DSN holds a password)")
			}
		}
	}
	if files == 0 || m.env["STRIPE_WEBHOOK_SECRET_FILE"] == "" {
		t.Error("STRIPE_WEBHOOK_SECRET_FILE unset: serve refuses to start without a secret")
	}
	if _, ok := m.env["HOOKBOX_DB"]; !ok {
		t.Error("HOOKBOX_DB unset: pods need the shared PostgreSQL store, not a SQLite file")
	}
	cm := one(t, m.objs, "ConfigMap", nil)
	for k := range cm.Data {
		if contains(secretVars, k) || contains(secretVars, strings.TrimSuffix(k, "_FILE")) || k == "HOOKBOX_DB" {
			t.Errorf("ConfigMap holds %s: secrets belong in the Secret", k)
		}
	}
	if len(m.c.EnvFrom) != 1 || m.c.EnvFrom[0].ConfigMapRef == nil || m.c.EnvFrom[0].ConfigMapRef.Name != cm.Metadata.Name {
		t.Errorf("the container does not take its settings from ConfigMap %s", cm.Metadata.Name)
	}
	for _, o := range m.objs {
		if o.Kind == "Secret" {
			t.Errorf("%s: a Secret manifest; the README creates it from files instead", o.file)
		}
	}
}

// Ensures the pod runs as a non-root user with a read-only root file
// system, no capabilities, no privilege escalation, the runtime's seccomp
// profile and no service account token; that it asks for resources; and
// that SIGKILL comes only after the preStop pause plus hookbox's
// shutdown grace.
func TestKubernetes_Hardening(t *testing.T) {
	m := mustLoad(t)
	pod := m.deployment.Template.Spec
	if !pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.RunAsUser == 0 {
		t.Error("pod: want runAsNonRoot and a non-zero runAsUser")
	}
	if pod.SecurityContext.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("pod seccompProfile %q, want RuntimeDefault", pod.SecurityContext.SeccompProfile.Type)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("pod: want automountServiceAccountToken: false (hookbox never calls the API server)")
	}
	sc := m.c.SecurityContext
	if !sc.ReadOnlyRootFilesystem {
		t.Error("container: want readOnlyRootFilesystem")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("container: want allowPrivilegeEscalation: false")
	}
	if len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) > 0 {
		t.Errorf("container capabilities drop %q add %q, want drop [ALL] and nothing added", sc.Capabilities.Drop, sc.Capabilities.Add)
	}
	if m.c.Resources.Requests["cpu"] == "" || m.c.Resources.Requests["memory"] == "" || m.c.Resources.Limits["memory"] == "" {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", m.c.Resources)
	}
	stop := time.Duration(pod.TerminationGracePeriodSeconds) * time.Second
	pause := time.Duration(m.c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	if stop <= pause+receiver.DefaultShutdownGrace {
		t.Errorf("terminationGracePeriodSeconds %v: want more than the preStop sleep %v plus the shutdown grace %v", stop, pause, receiver.DefaultShutdownGrace)
	}
	if m.c.Image == "" {
		t.Error("container: no image")
	}
}
