package systemdcheck

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// showProperties are the properties `systemctl show` prints for each unit.
const showProperties = "Id,ActiveState,SubState,Result,LoadState"

// Limits on what a systemctl run may print.
const (
	maxStdout = 1 << 20
	maxStderr = 1 << 10
	// waitDelay bounds the wait for systemctl's output once ctx is done and
	// the process group has been killed.
	waitDelay = 500 * time.Millisecond
)

// systemctlSource runs systemctl, for machines without the D-Bus system
// bus (systemctl then talks to systemd's private socket).
type systemctlSource struct {
	program string // a path, or a name looked up in PATH at each run
}

func (s systemctlSource) String() string { return "systemctl" }

func (s systemctlSource) named(ctx context.Context, names []string) ([]unit, error) {
	args := append([]string{"show", "--property=" + showProperties, "--no-pager", "--"}, names...)
	out, err := s.run(ctx, args...)
	if err != nil {
		return nil, err
	}
	units, err := parseShow(names, out)
	if err != nil {
		return nil, fmt.Errorf("systemctl show: %w", err)
	}
	return units, nil
}

func (s systemctlSource) failed(ctx context.Context) ([]unit, error) {
	out, err := s.run(ctx, "list-units", "--state=failed", "--plain", "--no-legend", "--no-pager")
	if err != nil {
		return nil, err
	}
	units, err := parseListUnits(out)
	if err != nil {
		return nil, fmt.Errorf("systemctl list-units: %w", err)
	}
	return units, nil
}

// run runs systemctl with args (no shell) and returns its standard output.
func (s systemctlSource) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.program, args...)
	// Plain, untranslated output; no pager, no colours, no password prompt.
	cmd.Env = append(os.Environ(), "LC_ALL=C", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "SYSTEMD_URLIFY=0")
	cmd.Stdin = nil
	stdout := &capped{max: maxStdout}
	stderr := &capped{max: maxStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = waitDelay
	ownProcessGroup(cmd)
	err := cmd.Run()
	switch {
	case err == nil && stdout.over:
		return nil, fmt.Errorf("systemctl %s: printed more than %d bytes", args[0], maxStdout)
	case err == nil:
		return stdout.buf.Bytes(), nil
	case notInstalled(err):
		return nil, fmt.Errorf("%w: %v", errNoSystemctl, err)
	}
	msg := oneLine(stderr.buf.String())
	if msg == "" {
		return nil, fmt.Errorf("systemctl %s: %w", args[0], err)
	}
	return nil, fmt.Errorf("systemctl %s: %w: %s", args[0], err, msg)
}

// parseShow decodes `systemctl show --property=...` for names: one block of
// KEY=VALUE lines per name, in the order given, blocks separated by an empty
// line. The order of the properties inside a block is systemd's, not the
// order asked for.
func parseShow(names []string, out []byte) ([]unit, error) {
	var blocks []map[string]string
	var cur map[string]string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 4096), maxStdout)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			cur = nil
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("unexpected line %q", line)
		}
		if cur == nil {
			cur = map[string]string{}
			blocks = append(blocks, cur)
		}
		cur[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(blocks) != len(names) {
		return nil, fmt.Errorf("printed %d units for %d names", len(blocks), len(names))
	}
	units := make([]unit, len(names))
	for i, b := range blocks {
		if b["Id"] == "" || b["ActiveState"] == "" {
			return nil, fmt.Errorf("no Id or ActiveState for %s", names[i])
		}
		units[i] = unit{
			Name:        names[i],
			ID:          b["Id"],
			LoadState:   b["LoadState"],
			ActiveState: b["ActiveState"],
			SubState:    b["SubState"],
			Result:      b["Result"],
		}
	}
	return units, nil
}

// parseListUnits decodes `systemctl list-units --plain --no-legend`: one
// unit a line, "UNIT LOAD ACTIVE SUB DESCRIPTION", in columns padded with
// spaces. Unit names have no spaces (systemd escapes them as \x20).
func parseListUnits(out []byte) ([]unit, error) {
	var units []unit
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 4096), maxStdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		// Without --plain (or from an older systemctl) a failed unit's line
		// starts with a mark: "●", "×" or "*".
		if f[0] == "●" || f[0] == "×" || f[0] == "*" {
			f = f[1:]
		}
		if len(f) < 4 {
			return nil, fmt.Errorf("unexpected line %q", sc.Text())
		}
		units = append(units, unit{Name: f[0], ID: f[0], LoadState: f[1], ActiveState: f[2], SubState: f[3]})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return failedOnly(units), nil
}

// failedOnly keeps the units whose ActiveState is failed: --state=failed
// also matches a LOAD or SUB column that says "failed".
func failedOnly(units []unit) []unit {
	out := units[:0]
	for _, u := range units {
		if u.ActiveState == "failed" {
			out = append(out, u)
		}
	}
	return out
}

// capped is a writer that keeps the first max bytes and notes the rest.
type capped struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room < len(p) {
		c.over = true
		c.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.buf.Write(p)
}

// oneLine joins the lines of a message with "; ".
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}
