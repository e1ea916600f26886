// Command satellite-image packs a static satellite binary into a one-layer
// OCI image archive (`make image`), with no registry and no Docker, the way
// cmd/satellite-probe-image packs the probe: the same binary always gives the
// same digest. The image runs `/usr/bin/satellite run /etc/satellite` as the
// satellite user (uid and gid 10001), with a writable /var/lib/satellite
// owned by it and a default config in /etc/satellite (satellite.hcl here).
package main

import (
	_ "embed"
	"flag"
	"fmt"
	"os"

	"github.com/satellite-hq/satellite/internal/ociarchive"
)

// defaultConfig is /etc/satellite/satellite.hcl in the image.
//
//go:embed satellite.hcl
var defaultConfig []byte

// UID is the satellite user's uid and gid in the image: numeric, so that
// Kubernetes' runAsNonRoot can check it, and above the range distributions
// give system and login users, so that it owns nothing on a host by chance.
const UID = 10001

// BinaryPath is where the binary lands in the image (as the .deb puts it).
const BinaryPath = "/usr/bin/satellite"

// Options describe satellite's image for ociarchive: bin is the static
// binary, version goes into the image's labels (empty: none).
func Options(bin, ref, arch, version string) ociarchive.Options {
	o := ociarchive.Options{
		Binary:       bin,
		Path:         BinaryPath,
		Ref:          ref,
		Arch:         arch,
		Entrypoint:   []string{BinaryPath},
		Cmd:          []string{"run", "/etc/satellite"},
		User:         fmt.Sprintf("%d:%d", UID, UID),
		ExposedPorts: []string{"7575/tcp", "7946/tcp", "7946/udp", "7947/tcp"},
		Accounts:     []ociarchive.Account{{Name: "satellite", UID: UID}},
		Dirs: []ociarchive.Entry{
			{Path: "/etc/satellite", Mode: 0o755},
			{Path: "/var/lib/satellite", Mode: 0o750, UID: UID, GID: UID},
		},
		Files: []ociarchive.Entry{
			{Path: "/etc/satellite/satellite.hcl", Mode: 0o644, Data: defaultConfig},
		},
		Labels: map[string]string{
			"org.opencontainers.image.title":  "satellite",
			"org.opencontainers.image.source": "https://github.com/satellite-hq/satellite",
		},
	}
	if version != "" {
		o.Labels["org.opencontainers.image.version"] = version
	}
	return o
}

func main() {
	bin := flag.String("binary", "bin/satellite", "the static satellite binary (CGO_ENABLED=0)")
	out := flag.String("o", "bin/satellite-image.tar", "the archive to write")
	ref := flag.String("ref", "satellite/satellite:dev", "the image name recorded in the archive")
	arch := flag.String("arch", "", "GOARCH of the binary (default: this machine's)")
	version := flag.String("version", "", "the version recorded in the image's labels (org.opencontainers.image.version)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "satellite-image: unexpected arguments:", flag.Args())
		os.Exit(2)
	}
	digest, err := ociarchive.WriteFile(*out, Options(*bin, *ref, *arch, *version))
	if err != nil {
		fmt.Fprintln(os.Stderr, "satellite-image:", err)
		os.Exit(1)
	}
	fmt.Printf("%s %s %s\n", *out, *ref, digest)
}
