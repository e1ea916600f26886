// Command satellite-probe-image packs a static satellite-probe binary into a
// one-layer OCI image archive (`make probe-image`), with no registry and no
// Docker: import it with `ctr -n satellite images import FILE`, or point a
// container check's image_archive at it.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/satellite-hq/satellite/internal/ociarchive"
)

func main() {
	bin := flag.String("binary", "bin/satellite-probe", "the static probe binary")
	out := flag.String("o", "bin/satellite-probe.tar", "the archive to write")
	ref := flag.String("ref", "satellite/probe:dev", "the image name recorded in the archive")
	arch := flag.String("arch", "", "GOARCH of the binary (default: this machine's)")
	flag.Parse()
	digest, err := ociarchive.WriteFile(*out, ociarchive.Options{Binary: *bin, Path: "/probe", Ref: *ref, Arch: *arch})
	if err != nil {
		fmt.Fprintln(os.Stderr, "satellite-probe-image:", err)
		os.Exit(1)
	}
	fmt.Printf("%s %s %s\n", *out, *ref, digest)
}
