// Package ociarchive packs one static binary into a one-layer OCI image
// archive (an OCI image layout in a tar file), without a registry or Docker.
// `make probe-image` and `make image` (satellite's own image) use it, and so
// do the container check's tests; containerd imports the result with
// `ctr images import` or client.Import. The same inputs always give the same
// bytes, and so the same digest.
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
	"sort"
	"strings"
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

	// Cmd is the image's default arguments to the entrypoint.
	Cmd []string
	// Env is the image's environment; empty means PATH set to the folder of Path.
	Env []string
	// ExposedPorts are the ports the image documents, such as "7575/tcp".
	ExposedPorts []string
	// Labels are the image config's labels.
	Labels map[string]string
	// Accounts are users (each with a group of the same name and id) added
	// to /etc/passwd and /etc/group after root and nobody.
	Accounts []Account
	// Dirs are extra folders in the layer; missing parents are added
	// (0755, root). A folder named in Dirs keeps its own mode and owner.
	Dirs []Entry
	// Files are extra regular files in the layer (parents as for Dirs).
	Files []Entry
}

// Account is a user of the image.
type Account struct {
	Name string
	// UID is its user and group id (not 0 or 65534, which the image has).
	UID int
}

// Entry is a folder or a file of the layer.
type Entry struct {
	// Path is absolute, such as "/var/lib/satellite".
	Path string
	// Mode is the permission bits (0755 for a folder, 0644 for a file when 0).
	Mode int64
	// UID and GID own it.
	UID, GID int
	// Data is a file's contents (unused for a folder).
	Data []byte
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
	layerTar, err := layerTar(o, bin)
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
	cf.Config.Env = o.Env
	if len(cf.Config.Env) == 0 {
		cf.Config.Env = []string{"PATH=" + path.Dir(o.Path)}
	}
	cf.Config.Cmd = o.Cmd
	if len(o.Labels) > 0 {
		cf.Config.Labels = o.Labels
	}
	if len(o.ExposedPorts) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range o.ExposedPorts {
			cf.Config.ExposedPorts[p] = struct{}{}
		}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set the config: %w", err)
	}
	return img, nil
}

// layerTar is the layer's file system: the binary, and the few files and
// folders a read-only root needs (/etc/passwd for the nobody user,
// /etc/hosts for localhost, /tmp as a mount point), then o.Dirs and o.Files.
// Entries come in a fixed order with fixed time stamps: the same inputs give
// the same bytes.
func layerTar(o Options, bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	seen := map[string]bool{}
	var werr error
	dir := func(e Entry) {
		name := strings.Trim(path.Clean(e.Path), "/")
		if name == "" || name == "." || seen[name] || werr != nil {
			return
		}
		mode := e.Mode
		if mode == 0 {
			mode = 0o755
		}
		seen[name] = true
		werr = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: e.UID, Gid: e.GID, ModTime: epoch})
	}
	// parents adds the missing parent folders of p (0755, root).
	parents := func(p string) {
		var chain []string
		for d := path.Dir(path.Clean(p)); d != "/" && d != "."; d = path.Dir(d) {
			chain = append(chain, d)
		}
		for i := len(chain) - 1; i >= 0; i-- {
			dir(Entry{Path: chain[i]})
		}
	}
	dir(Entry{Path: "/etc"})
	dir(Entry{Path: "/tmp", Mode: 0o1777})
	parents(o.Path)
	for _, d := range o.Dirs {
		if !path.IsAbs(d.Path) {
			return nil, fmt.Errorf("ociarchive: the folder %q is not an absolute path", d.Path)
		}
		parents(d.Path)
		dir(d)
	}
	for _, f := range o.Files {
		if !path.IsAbs(f.Path) {
			return nil, fmt.Errorf("ociarchive: the file %q is not an absolute path", f.Path)
		}
		parents(f.Path)
	}
	if werr != nil {
		return nil, fmt.Errorf("write the layer: %w", werr)
	}
	passwd := "root:x:0:0:root:/:/probe\nnobody:x:65534:65534:nobody:/:/probe\n"
	group := "root:x:0:\nnogroup:x:65534:\n"
	if o.Path != "/probe" {
		// The probe's accounts keep their historical shell (and the probe
		// image its digest); no image has a shell to log in with.
		passwd = strings.ReplaceAll(passwd, ":/probe\n", ":/sbin/nologin\n")
	}
	accounts := append([]Account(nil), o.Accounts...)
	sort.SliceStable(accounts, func(i, j int) bool { return accounts[i].UID < accounts[j].UID })
	for _, a := range accounts {
		if a.Name == "" || strings.ContainsAny(a.Name, ":\n") || a.UID <= 0 || a.UID == 65534 {
			return nil, fmt.Errorf("ociarchive: the account %q (uid %d) is invalid: a name without ':' and a uid other than 0 and 65534 are required", a.Name, a.UID)
		}
		passwd += fmt.Sprintf("%s:x:%d:%d:%s:/nonexistent:/sbin/nologin\n", a.Name, a.UID, a.UID, a.Name)
		group += fmt.Sprintf("%s:x:%d:\n", a.Name, a.UID)
	}
	files := []Entry{
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte(passwd)},
		{Path: "/etc/group", Mode: 0o644, Data: []byte(group)},
		{Path: "/etc/hosts", Mode: 0o644, Data: []byte("127.0.0.1\tlocalhost\n::1\tlocalhost\n")},
		{Path: o.Path, Mode: 0o755, Data: bin},
	}
	files = append(files, o.Files...)
	for _, f := range files {
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		name := strings.TrimPrefix(path.Clean(f.Path), "/")
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Uid: f.UID, Gid: f.GID, Size: int64(len(f.Data)), ModTime: epoch}); err != nil {
			return nil, fmt.Errorf("write the layer: %w", err)
		}
		if _, err := tw.Write(f.Data); err != nil {
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
