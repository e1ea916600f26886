// Package ociarchive packs one static binary into a one-layer OCI image
// archive (an OCI image layout in a tar file), without a registry or Docker.
// `make probe-image` and the container check's tests use it; containerd
// imports the result with `ctr images import` or client.Import.
package ociarchive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Options describe the image to build.
type Options struct {
	// Binary is the file to pack (a static binary: the image has no libc).
	Binary string
	// Path is where it lands in the image, such as "/probe".
	Path string
	// Ref names the image in the archive's index (org.opencontainers.image.ref.name),
	// such as "satellite/probe:dev"; empty leaves it unnamed.
	Ref string
	// Entrypoint is the image's entrypoint; empty means [Path].
	Entrypoint []string
	// User is the image's default user; empty means "65534:65534" (nobody).
	User string
	// Arch is the GOARCH of the binary; empty means this machine's.
	Arch string
}

// epoch is the time stamp of every file and of the image, so that the same
// binary always gives the same digest (a reproducible image).
var epoch = time.Unix(0, 0).UTC()

// Image builds the one-layer image in memory.
func Image(o Options) (v1.Image, error) {
	if o.Binary == "" || o.Path == "" || !path.IsAbs(o.Path) {
		return nil, errors.New("ociarchive: Binary and an absolute Path are required")
	}
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("read the binary: %w", err)
	}
	layerTar, err := layerTar(o.Path, bin)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("build the layer: %w", err)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, fmt.Errorf("append the layer: %w", err)
	}
	arch := o.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	entry := o.Entrypoint
	if len(entry) == 0 {
		entry = []string{o.Path}
	}
	user := o.User
	if user == "" {
		user = "65534:65534"
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read the config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = entry
	cf.Config.User = user
	cf.Config.Env = []string{"PATH=/"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set the config: %w", err)
	}
	return img, nil
}

// layerTar is the layer's file system: the binary, and the few files and
// folders a read-only root needs (/etc/passwd for the nobody user,
// /etc/hosts for localhost, /tmp as a mount point).
func layerTar(binPath string, bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := []string{"etc/", "tmp/"}
	if d := path.Dir(binPath); d != "/" {
		dirs = append(dirs, d[1:]+"/")
	}
	for _, d := range dirs {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: mode, ModTime: epoch}); err != nil {
			return nil, fmt.Errorf("write the layer: %w", err)
		}
	}
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"etc/passwd", 0o644, []byte("root:x:0:0:root:/:/probe\nnobody:x:65534:65534:nobody:/:/probe\n")},
		{"etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n")},
		{"etc/hosts", 0o644, []byte("127.0.0.1\tlocalhost\n::1\tlocalhost\n")},
		{binPath[1:], 0o755, bin},
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch}); err != nil {
			return nil, fmt.Errorf("write the layer: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("write the layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("write the layer: %w", err)
	}
	return buf.Bytes(), nil
}

// Write builds the image and writes it as an OCI archive to w: oci-layout,
// index.json and blobs/sha256/*, which `ctr images import` and containerd's
// client.Import read.
func Write(w io.Writer, o Options) (v1.Hash, error) {
	img, err := Image(o)
	if err != nil {
		return v1.Hash{}, err
	}
	return WriteImage(w, img, o.Ref)
}

// WriteImage writes img as an OCI archive to w and returns its manifest digest.
func WriteImage(w io.Writer, img v1.Image, ref string) (v1.Hash, error) {
	manifest, err := img.RawManifest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("manifest: %w", err)
	}
	mdigest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("manifest digest: %w", err)
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("config digest: %w", err)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("config: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("layers: %w", err)
	}

	tw := tar.NewWriter(w)
	put := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	desc := v1.Descriptor{
		MediaType: types.OCIManifestSchema1,
		Size:      int64(len(manifest)),
		Digest:    mdigest,
		Platform:  &v1.Platform{OS: cf.OS, Architecture: cf.Architecture},
	}
	if ref != "" {
		desc.Annotations = map[string]string{"org.opencontainers.image.ref.name": ref}
	}
	index, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{desc}})
	if err != nil {
		return v1.Hash{}, fmt.Errorf("index: %w", err)
	}
	steps := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{"blobs/sha256/" + mdigest.Hex, manifest},
		{"blobs/sha256/" + cfgName.Hex, cfg},
	}
	for _, s := range steps {
		if err := put(s.name, s.data); err != nil {
			return v1.Hash{}, fmt.Errorf("write %s: %w", s.name, err)
		}
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return v1.Hash{}, fmt.Errorf("layer digest: %w", err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return v1.Hash{}, fmt.Errorf("layer: %w", err)
		}
		data, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			return v1.Hash{}, fmt.Errorf("layer: %w", err)
		}
		if err := put("blobs/sha256/"+d.Hex, data); err != nil {
			return v1.Hash{}, fmt.Errorf("write layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return v1.Hash{}, fmt.Errorf("finish the archive: %w", err)
	}
	return mdigest, nil
}

// WriteFile writes the archive to file (replaced atomically).
func WriteFile(file string, o Options) (v1.Hash, error) {
	tmp, err := os.CreateTemp(path.Dir(file), ".ociarchive-*")
	if err != nil {
		return v1.Hash{}, fmt.Errorf("create %s: %w", file, err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if err := tmp.Chmod(0o644); err != nil {
		_ = tmp.Close()
		return v1.Hash{}, fmt.Errorf("write %s: %w", file, err)
	}
	h, err := Write(tmp, o)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write %s: %w", file, cerr)
	}
	if err != nil {
		return v1.Hash{}, err
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return v1.Hash{}, fmt.Errorf("write %s: %w", file, err)
	}
	return h, nil
}
