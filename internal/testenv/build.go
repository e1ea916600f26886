package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildSatellite builds the satellite command as `make build` does (static,
// -trimpath, with ldflags) into dir and returns its path, for the tests of
// packages that run the real binary (the image, the Kubernetes manifests).
func BuildSatellite(dir, ldflags string) (string, error) {
	bin := filepath.Join(dir, "satellite")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, "github.com/satellite-hq/satellite/cmd/satellite")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build satellite: %v: %s", err, out)
	}
	return bin, nil
}
