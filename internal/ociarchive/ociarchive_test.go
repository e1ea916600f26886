package ociarchive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "probe")
	if err := os.WriteFile(bin, []byte("#!binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	d1, err := Write(&a, Options{Binary: bin, Path: "/probe", Ref: "satellite/probe:dev", Arch: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	d2, err := Write(&b, Options{Binary: bin, Path: "/probe", Ref: "satellite/probe:dev", Arch: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("two builds of one binary differ: %s %s", d1, d2)
	}

	files := map[string][]byte{}
	tr := tar.NewReader(&a)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		files[h.Name] = data
	}
	if _, ok := files["oci-layout"]; !ok {
		t.Fatal("no oci-layout")
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != d1 || idx.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "satellite/probe:dev" || idx.Manifests[0].Platform.Architecture != "arm64" {
		t.Fatalf("index %+v", idx)
	}
	var m v1.Manifest
	if err := json.Unmarshal(files["blobs/sha256/"+d1.Hex], &m); err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON || len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayer {
		t.Fatalf("manifest %+v", m)
	}
	var cf v1.ConfigFile
	if err := json.Unmarshal(files["blobs/sha256/"+m.Config.Digest.Hex], &cf); err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65534:65534" || len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/probe" || cf.OS != "linux" {
		t.Errorf("config %+v", cf.Config)
	}
	if _, ok := files["blobs/sha256/"+m.Layers[0].Digest.Hex]; !ok {
		t.Error("the layer blob is missing")
	}
	// The layer holds the binary, executable.
	img, err := Image(Options{Binary: bin, Path: "/probe"})
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	lt := tar.NewReader(rc)
	found := false
	for {
		h, err := lt.Next()
		if err != nil {
			break
		}
		if h.Name == "probe" {
			found = h.Mode == 0o755
		}
	}
	if !found {
		t.Error("the layer has no executable probe")
	}
}

func TestWriteErrors(t *testing.T) {
	if _, err := Write(io.Discard, Options{Binary: "/nonexistent", Path: "/probe"}); err == nil {
		t.Error("a missing binary is not an error")
	}
	if _, err := Write(io.Discard, Options{Binary: "/bin/true", Path: "probe"}); err == nil {
		t.Error("a relative path is not an error")
	}
}

// TestWriteExtras builds an image with accounts, folders, files, ports and
// arguments, as satellite's own image does, and reads them back.
func TestWriteExtras(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	if err := os.WriteFile(bin, []byte("#!binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	o := Options{
		Binary: bin, Path: "/usr/bin/app", Ref: "example/app:1",
		Cmd: []string{"run", "/etc/app"}, User: "10001:10001",
		ExposedPorts: []string{"80/tcp", "53/udp"},
		Labels:       map[string]string{"org.opencontainers.image.version": "1"},
		Accounts:     []Account{{Name: "app", UID: 10001}},
		Dirs:         []Entry{{Path: "/var/lib/app", Mode: 0o750, UID: 10001, GID: 10001}},
		Files:        []Entry{{Path: "/etc/app/app.conf", Data: []byte("x = 1\n")}},
	}
	var a, b bytes.Buffer
	d1, err := Write(&a, o)
	if err != nil {
		t.Fatal(err)
	}
	if d2, err := Write(&b, o); err != nil || d1 != d2 || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("two builds differ: %s %s (%v)", d1, d2, err)
	}
	img, err := Image(o)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if len(c.Entrypoint) != 1 || c.Entrypoint[0] != "/usr/bin/app" || len(c.Cmd) != 2 || c.Cmd[1] != "/etc/app" ||
		c.User != "10001:10001" || len(c.Env) != 1 || c.Env[0] != "PATH=/usr/bin" || c.Labels["org.opencontainers.image.version"] != "1" {
		t.Errorf("config %+v", c)
	}
	if _, ok := c.ExposedPorts["53/udp"]; !ok || len(c.ExposedPorts) != 2 {
		t.Errorf("exposed ports %v", c.ExposedPorts)
	}
	layers, _ := img.Layers()
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	type entry struct {
		typ      byte
		mode     int64
		uid, gid int
		data     string
	}
	got := map[string]entry{}
	var order []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		got[h.Name] = entry{h.Typeflag, h.Mode, h.Uid, h.Gid, string(data)}
		order = append(order, h.Name)
	}
	// Every parent comes before its children.
	pos := map[string]int{}
	for i, n := range order {
		pos[n] = i
	}
	for _, n := range []string{"usr/", "usr/bin/", "var/", "var/lib/", "var/lib/app/", "etc/app/", "usr/bin/app", "etc/app/app.conf"} {
		if _, ok := pos[n]; !ok {
			t.Errorf("the layer has no %s: %v", n, order)
		}
	}
	if !(pos["usr/"] < pos["usr/bin/"] && pos["usr/bin/"] < pos["usr/bin/app"] && pos["var/lib/"] < pos["var/lib/app/"] && pos["etc/app/"] < pos["etc/app/app.conf"]) {
		t.Errorf("parents after children: %v", order)
	}
	if e := got["var/lib/app/"]; e.typ != tar.TypeDir || e.mode != 0o750 || e.uid != 10001 || e.gid != 10001 {
		t.Errorf("var/lib/app/ %+v", e)
	}
	if e := got["etc/app/app.conf"]; e.typ != tar.TypeReg || e.mode != 0o644 || e.uid != 0 || e.data != "x = 1\n" {
		t.Errorf("etc/app/app.conf %+v", e)
	}
	if p := got["etc/passwd"].data; !bytes.Contains([]byte(p), []byte("\napp:x:10001:10001:")) || bytes.Contains([]byte(p), []byte("/probe")) {
		t.Errorf("etc/passwd %q", p)
	}
	if g := got["etc/group"].data; !bytes.Contains([]byte(g), []byte("\napp:x:10001:\n")) {
		t.Errorf("etc/group %q", g)
	}

	for _, bad := range []Options{
		{Binary: bin, Path: "/app", Accounts: []Account{{Name: "root2", UID: 0}}},
		{Binary: bin, Path: "/app", Accounts: []Account{{Name: "a:b", UID: 5}}},
		{Binary: bin, Path: "/app", Dirs: []Entry{{Path: "var/lib"}}},
		{Binary: bin, Path: "/app", Files: []Entry{{Path: "etc/x"}}},
	} {
		if _, err := Write(io.Discard, bad); err == nil {
			t.Errorf("%+v is not an error", bad)
		}
	}
}
