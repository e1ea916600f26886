// Package kubernetes_test renders the Kustomize base and overlays with the
// real kubectl, without a cluster, and checks what the DaemonSet relies on;
// the ConfigMap's config goes through the real `satellite validate`.
package kubernetes_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/internal/testenv"
)

// satelliteBin is the static satellite binary TestMain builds.
var (
	satelliteBin string
	buildErr     error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "satellite-k8s-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	satelliteBin, buildErr = testenv.BuildSatellite(dir, "")
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// The fields of the rendered objects the tests read.
type object struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   meta              `json:"metadata"`
	Data       map[string]string `json:"data"`
	AutoMount  *bool             `json:"automountServiceAccountToken"`
	Spec       json.RawMessage   `json:"spec"`
}

type meta struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels"`
}

type daemonSetSpec struct {
	Selector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	UpdateStrategy struct {
		Type string `json:"type"`
	} `json:"updateStrategy"`
	Template struct {
		Metadata meta    `json:"metadata"`
		Spec     podSpec `json:"spec"`
	} `json:"template"`
}

type podSpec struct {
	HostNetwork        bool              `json:"hostNetwork"`
	DNSPolicy          string            `json:"dnsPolicy"`
	ServiceAccountName string            `json:"serviceAccountName"`
	AutoMount          *bool             `json:"automountServiceAccountToken"`
	NodeSelector       map[string]string `json:"nodeSelector"`
	Affinity           json.RawMessage   `json:"affinity"`
	SecurityContext    struct {
		RunAsNonRoot *bool `json:"runAsNonRoot"`
		RunAsUser    *int  `json:"runAsUser"`
	} `json:"securityContext"`
	Containers []container `json:"containers"`
	Volumes    []struct {
		Name      string `json:"name"`
		ConfigMap *struct {
			Name string `json:"name"`
		} `json:"configMap"`
		HostPath *struct {
			Path string `json:"path"`
		} `json:"hostPath"`
	} `json:"volumes"`
}

type container struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	Env   []struct {
		Name      string `json:"name"`
		Value     string `json:"value"`
		ValueFrom *struct {
			FieldRef *struct {
				FieldPath string `json:"fieldPath"`
			} `json:"fieldRef"`
		} `json:"valueFrom"`
	} `json:"env"`
	LivenessProbe  *probe `json:"livenessProbe"`
	ReadinessProbe *probe `json:"readinessProbe"`
	Resources      struct {
		Limits map[string]string `json:"limits"`
	} `json:"resources"`
	SecurityContext struct {
		RunAsNonRoot             *bool `json:"runAsNonRoot"`
		ReadOnlyRootFilesystem   *bool `json:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation"`
		Capabilities             struct {
			Drop []string `json:"drop"`
			Add  []string `json:"add"`
		} `json:"capabilities"`
	} `json:"securityContext"`
	VolumeMounts []struct {
		Name      string `json:"name"`
		MountPath string `json:"mountPath"`
	} `json:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Host string `json:"host"`
		Path string `json:"path"`
		Port int    `json:"port"`
	} `json:"httpGet"`
}

type serviceSpec struct {
	ClusterIP                string            `json:"clusterIP"`
	PublishNotReadyAddresses bool              `json:"publishNotReadyAddresses"`
	Selector                 map[string]string `json:"selector"`
	Ports                    []struct {
		Port     int    `json:"port"`
		Protocol string `json:"protocol"`
	} `json:"ports"`
}

// render runs `kubectl kustomize dir`, then kubectl's own decoder (an
// offline `label --local` that removes a label nobody sets) to get JSON.
func render(t *testing.T, dir string) []object {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		// Debian 12's kubernetes-client (1.20) is too old for these
		// kustomizations (labels: needs kustomize 4.1, kubectl 1.22).
		// make test cannot install it: under make test its absence is a
		// failure, by hand a skip.
		msg := "kubectl is not installed, so the manifests cannot be rendered: install kubectl 1.22 or later (kustomize v4+ built in; https://kubernetes.io/docs/tasks/tools/)"
		if testenv.UnderMakeTest() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var yamlOut, stderr bytes.Buffer
	k := exec.CommandContext(ctx, kubectl, "kustomize", dir)
	k.Stdout, k.Stderr = &yamlOut, &stderr
	if err := k.Run(); err != nil {
		t.Fatalf("kubectl kustomize %s: %v: %s", dir, err, stderr.String())
	}
	var jsonOut bytes.Buffer
	stderr.Reset()
	l := exec.CommandContext(ctx, kubectl, "label", "--local", "-f", "-", "-o", "json", "satellite-render-check-")
	l.Stdin, l.Stdout, l.Stderr = &yamlOut, &jsonOut, &stderr
	if err := l.Run(); err != nil {
		t.Fatalf("kubectl label --local (decoding the rendered YAML): %v: %s", err, stderr.String())
	}
	var objs []object
	dec := json.NewDecoder(&jsonOut)
	for {
		var o object
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode kubectl's JSON: %v", err)
		}
		objs = append(objs, o)
	}
	if len(objs) == 0 {
		t.Fatalf("kubectl kustomize %s rendered nothing", dir)
	}
	return objs
}

func byKind(objs []object, kind string) []object {
	var out []object
	for _, o := range objs {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// checkCommon checks what base and overlays share, and returns the
// ConfigMap and the DaemonSets.
func checkCommon(t *testing.T, objs []object) (object, []daemonSetSpec) {
	t.Helper()
	for _, o := range objs {
		if o.Kind != "Namespace" && o.Metadata.Namespace != "satellite" {
			t.Errorf("%s %s is in namespace %q, not satellite", o.Kind, o.Metadata.Name, o.Metadata.Namespace)
		}
	}
	for _, kind := range []string{"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"} {
		if n := len(byKind(objs, kind)); n != 0 {
			t.Errorf("%d %s objects: the agent needs no RBAC", n, kind)
		}
	}
	sas := byKind(objs, "ServiceAccount")
	if len(sas) != 1 || sas[0].AutoMount == nil || *sas[0].AutoMount {
		t.Errorf("want one ServiceAccount with automountServiceAccountToken: false: %+v", sas)
	}
	cms := byKind(objs, "ConfigMap")
	if len(cms) != 1 || cms[0].Data["satellite.hcl"] == "" {
		t.Fatalf("want one ConfigMap with satellite.hcl: %+v", cms)
	}
	cm := cms[0]

	svcs := byKind(objs, "Service")
	if len(svcs) != 1 {
		t.Fatalf("want one Service, got %d", len(svcs))
	}
	var svc serviceSpec
	if err := json.Unmarshal(svcs[0].Spec, &svc); err != nil {
		t.Fatal(err)
	}
	if svc.ClusterIP != "None" || !svc.PublishNotReadyAddresses {
		t.Errorf("the Service is not headless with the not-ready addresses: %+v", svc)
	}
	protos := map[string]bool{}
	for _, p := range svc.Ports {
		if p.Port == 7946 {
			protos[p.Protocol] = true
		}
	}
	if !protos["TCP"] || !protos["UDP"] {
		t.Errorf("the Service lacks 7946 TCP and UDP: %+v", svc.Ports)
	}
	// The mesh joins the Service's DNS name.
	svcDNS := fmt.Sprintf("%s.%s.svc.cluster.local:7946", svcs[0].Metadata.Name, svcs[0].Metadata.Namespace)
	if !strings.Contains(cm.Data["satellite.hcl"], `retry_join = ["`+svcDNS+`"]`) {
		t.Errorf("the config's mesh does not retry_join %s:\n%s", svcDNS, cm.Data["satellite.hcl"])
	}

	var dss []daemonSetSpec
	for _, o := range byKind(objs, "DaemonSet") {
		var ds daemonSetSpec
		if err := json.Unmarshal(o.Spec, &ds); err != nil {
			t.Fatal(err)
		}
		checkDaemonSet(t, o.Metadata.Name, ds, cm, sas[0].Metadata.Name, svc.Selector)
		dss = append(dss, ds)
	}
	if len(dss) == 0 {
		t.Fatal("no DaemonSet")
	}
	return cm, dss
}

func checkDaemonSet(t *testing.T, name string, ds daemonSetSpec, cm object, sa string, svcSelector map[string]string) {
	t.Helper()
	p := ds.Template.Spec
	if !p.HostNetwork || p.DNSPolicy != "ClusterFirstWithHostNet" {
		t.Errorf("%s: hostNetwork %v, dnsPolicy %q", name, p.HostNetwork, p.DNSPolicy)
	}
	if ds.UpdateStrategy.Type != "RollingUpdate" {
		t.Errorf("%s: update strategy %q", name, ds.UpdateStrategy.Type)
	}
	if p.ServiceAccountName != sa || p.AutoMount == nil || *p.AutoMount {
		t.Errorf("%s: service account %q, automount %v", name, p.ServiceAccountName, p.AutoMount)
	}
	if p.SecurityContext.RunAsNonRoot == nil || !*p.SecurityContext.RunAsNonRoot || p.SecurityContext.RunAsUser == nil || *p.SecurityContext.RunAsUser == 0 {
		t.Errorf("%s: the pod may run as root: %+v", name, p.SecurityContext)
	}
	for k, v := range svcSelector {
		if ds.Template.Metadata.Labels[k] != v {
			t.Errorf("%s: the Service's selector %s=%s does not pick its pods (%v)", name, k, v, ds.Template.Metadata.Labels)
		}
	}
	volumes := map[string]string{}
	for _, v := range p.Volumes {
		switch {
		case v.ConfigMap != nil:
			volumes[v.Name] = "configmap:" + v.ConfigMap.Name
		case v.HostPath != nil:
			volumes[v.Name] = "hostpath:" + v.HostPath.Path
		}
	}
	var agent *container
	for i := range p.Containers {
		if p.Containers[i].Name == "satellite" {
			agent = &p.Containers[i]
		}
	}
	if agent == nil {
		t.Fatalf("%s: no satellite container", name)
	}
	mounts := map[string]string{}
	for _, m := range agent.VolumeMounts {
		mounts[m.MountPath] = volumes[m.Name]
	}
	if mounts["/etc/satellite"] != "configmap:"+cm.Metadata.Name {
		t.Errorf("%s: /etc/satellite is %q, not the ConfigMap %s", name, mounts["/etc/satellite"], cm.Metadata.Name)
	}
	if mounts["/var/lib/satellite"] != "hostpath:/var/lib/satellite" {
		t.Errorf("%s: /var/lib/satellite is %q, not the hostPath", name, mounts["/var/lib/satellite"])
	}
	for _, pr := range []struct {
		what string
		p    *probe
		path string
	}{{"liveness", agent.LivenessProbe, "/healthz"}, {"readiness", agent.ReadinessProbe, "/readyz"}} {
		if pr.p == nil || pr.p.HTTPGet == nil || pr.p.HTTPGet.Path != pr.path || pr.p.HTTPGet.Host != "127.0.0.1" || pr.p.HTTPGet.Port != 7575 {
			got := "none"
			if pr.p != nil && pr.p.HTTPGet != nil {
				got = fmt.Sprintf("GET http://%s:%d%s", pr.p.HTTPGet.Host, pr.p.HTTPGet.Port, pr.p.HTTPGet.Path)
			}
			t.Errorf("%s: the %s probe is %s, want GET http://127.0.0.1:7575%s", name, pr.what, got, pr.path)
		}
	}
	sc := agent.SecurityContext
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || len(sc.Capabilities.Add) != 0 ||
		len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("%s: the agent's securityContext: %+v", name, sc)
	}
	if agent.Resources.Limits["memory"] == "" {
		t.Errorf("%s: no memory limit (the agent sizes GOMEMLIMIT from it)", name)
	}
	if !strings.Contains(agent.Image, "/") {
		t.Errorf("%s: the image %q is not a full reference", name, agent.Image)
	}
	fieldRefs := map[string]string{}
	for _, e := range agent.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			fieldRefs[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if fieldRefs["NODE_NAME"] != "spec.nodeName" {
		t.Errorf("%s: NODE_NAME is not from the downward API's spec.nodeName: %v", name, fieldRefs)
	}
}

// env is the agent container's environment as the node would give it,
// with sample values for the downward API's fields.
func env(t *testing.T, ds daemonSetSpec) map[string]string {
	t.Helper()
	sample := map[string]string{"spec.nodeName": "node-a", "status.hostIP": "10.0.0.5", "status.podIP": "10.0.0.5"}
	out := map[string]string{}
	for _, c := range ds.Template.Spec.Containers {
		if c.Name != "satellite" {
			continue
		}
		for _, e := range c.Env {
			switch {
			case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
				v, ok := sample[e.ValueFrom.FieldRef.FieldPath]
				if !ok {
					t.Fatalf("no sample value for the downward API field %s", e.ValueFrom.FieldRef.FieldPath)
				}
				out[e.Name] = v
			default:
				out[e.Name] = e.Value
			}
		}
	}
	return out
}

// validate writes the ConfigMap as kubelet mounts it (the files are
// symlinks into a ..data folder) and runs `satellite validate` on it with
// the DaemonSet's environment; it returns validate's output.
func validate(t *testing.T, cm object, environ map[string]string) string {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "..2026_01_01_00_00_00.000000001")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(data), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name, content := range cm.Data {
		if err := os.WriteFile(filepath.Join(data, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	// Every env("NAME") without a default the config reads is set by the
	// DaemonSet.
	for _, m := range regexp.MustCompile(`env\("([A-Za-z_][A-Za-z0-9_]*)"\)`).FindAllStringSubmatch(strings.Join(values(cm.Data), "\n"), -1) {
		if _, ok := environ[m[1]]; !ok {
			t.Errorf("the config reads env(%q), which the DaemonSet does not set", m[1])
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, satelliteBin, "validate", dir)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	for k, v := range environ {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("satellite validate on the ConfigMap (env %v): %v:\n%s", environ, err, out)
	}
	return string(out)
}

func values(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// TestBase renders the base: one DaemonSet on every node, role "node".
func TestBase(t *testing.T) {
	objs := render(t, ".")
	cm, dss := checkCommon(t, objs)
	if len(dss) != 1 {
		t.Fatalf("the base has %d DaemonSets, want 1", len(dss))
	}
	e := env(t, dss[0])
	if e["SATELLITE_ROLE"] == "" {
		t.Errorf("the base sets no SATELLITE_ROLE: %v", e)
	}
	out := validate(t, cm, e)
	// The node's name comes from NODE_NAME, i.e. spec.nodeName.
	if !strings.Contains(out, "Valid: "+e["NODE_NAME"]+" would run") {
		t.Errorf("validate does not name the node %s: %s", e["NODE_NAME"], out)
	}
	// Without NODE_NAME (a pod spec without the downward API) it is an error.
	delete(e, "NODE_NAME")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "satellite.hcl"), []byte(cm.Data["satellite.hcl"]), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, satelliteBin, "validate", dir)
	cmd.Env = []string{"HOST_IP=10.0.0.5"}
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "NODE_NAME") {
		t.Errorf("validate without NODE_NAME: %v: %s", err, out)
	}
}

// TestRoles renders overlays/roles: a DaemonSet per role, with selectors of
// their own, picking their nodes, each setting its role.
func TestRoles(t *testing.T) {
	objs := render(t, "overlays/roles")
	cm, dss := checkCommon(t, objs)
	if len(dss) != 2 {
		t.Fatalf("overlays/roles has %d DaemonSets, want 2", len(dss))
	}
	roles := map[string]bool{}
	selectors := map[string]bool{}
	for _, ds := range dss {
		e := env(t, ds)
		roles[e["SATELLITE_ROLE"]] = true
		sel, _ := json.Marshal(ds.Selector.MatchLabels)
		selectors[string(sel)] = true
		if len(ds.Template.Spec.NodeSelector) == 0 && len(ds.Template.Spec.Affinity) == 0 {
			t.Errorf("the %s DaemonSet picks no nodes", e["SATELLITE_ROLE"])
		}
		out := validate(t, cm, e)
		if !strings.Contains(out, "Valid:") {
			t.Errorf("validate: %s", out)
		}
	}
	if !roles["master"] || !roles["worker"] {
		t.Errorf("roles %v, want master and worker", roles)
	}
	if len(selectors) != 2 {
		t.Errorf("the DaemonSets' selectors overlap: %v", selectors)
	}
}
