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
