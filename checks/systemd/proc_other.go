//go:build !unix

package systemdcheck

import "os/exec"

// ownProcessGroup leaves cmd as it is: systemd only runs on Linux.
func ownProcessGroup(*exec.Cmd) {}
