package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/internal/testenv"
)

const unitPath = "../../deploy/systemd/satellite.service"

// verifyUnit runs `systemd-analyze verify` on dir/satellite.service (and
// its drop-ins in dir/satellite.service.d) and returns what it said about
// them. systemd is not PID 1 here: verify loads the unit into a private
// manager and reports each problem as a line naming the file, often with
// exit status 0 ("Unknown key ..., ignoring"), so every line that names a
// file of dir is a failure, not the status alone.
func verifyUnit(t *testing.T, analyze, dir string) (problems []string, out string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, analyze, "verify", "--man=no", filepath.Join(dir, "satellite.service"))
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=notice", "SYSTEMD_LOG_COLOR=0")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, dir) || strings.HasPrefix(l, "satellite.service:") {
			problems = append(problems, l)
		}
	}
	if err != nil && len(problems) == 0 {
		problems = append(problems, "systemd-analyze verify: "+err.Error())
	}
	return problems, buf.String()
}

// TestSdNotifyUnitVerify checks deploy/systemd/satellite.service with
// systemd-analyze verify: the unit as shipped, with only ExecStart's binary
// pointing at a runnable one (verify wants it executable), and with the root
// drop-in its comment documents. A deliberately broken copy must be
// reported, or the check would prove nothing.
func TestSdNotifyUnitVerify(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		testenv.Unavailable(t, "systemd-analyze is not installed (Debian package systemd)")
	}
	bin := agentBinary(t)
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(unit)
	const execLine = "ExecStart=/usr/bin/satellite run /etc/satellite /etc/satellite/conf.d\n"
	if !strings.Contains(text, "\n"+execLine) {
		t.Fatalf("the unit has no line %q", execLine)
	}
	for _, want := range []string{"Type=notify", "NotifyAccess=main", "WatchdogSec=30s", "ExecReload=/bin/kill -HUP $MAINPID",
		"User=satellite", "StateDirectory=satellite", "ProtectSystem=strict", "NoNewPrivileges=yes", "CapabilityBoundingSet="} {
		if !strings.Contains(text, "\n"+want+"\n") {
			t.Errorf("the unit has no line %q", want)
		}
	}
	runnable := strings.Replace(text, execLine, "ExecStart="+bin+" run /etc/satellite /etc/satellite/conf.d\n", 1)

	write := func(t *testing.T, unit string, dropIn string) string {
		dir := t.TempDir()
		writeFile(t, dir, "satellite.service", unit)
		if dropIn != "" {
			writeFile(t, dir, "satellite.service.d/root.conf", dropIn)
		}
		return dir
	}

	t.Run("shipped", func(t *testing.T) {
		if problems, out := verifyUnit(t, analyze, write(t, runnable, "")); len(problems) > 0 {
			t.Errorf("systemd-analyze verify found problems:\n%s\n(all output:\n%s)", strings.Join(problems, "\n"), out)
		}
	})

	t.Run("root drop-in", func(t *testing.T) {
		// The example in the unit's comment, from "#   [Service]" to the
		// next empty comment line.
		var dropIn []string
		in := false
		for _, l := range strings.Split(text, "\n") {
			body, isComment := strings.CutPrefix(l, "#   ")
			switch {
			case isComment && body == "[Service]":
				in = true
			case in && (!isComment || strings.TrimSpace(body) == ""):
				in = false
			}
			if in {
				dropIn = append(dropIn, body)
			}
		}
		if len(dropIn) < 3 || !strings.Contains(strings.Join(dropIn, "\n"), "User=root") {
			t.Fatalf("no root drop-in example in the unit's comment: %q", dropIn)
		}
		if problems, out := verifyUnit(t, analyze, write(t, runnable, strings.Join(dropIn, "\n")+"\n")); len(problems) > 0 {
			t.Errorf("systemd-analyze verify found problems with the drop-in:\n%s\n(all output:\n%s)", strings.Join(problems, "\n"), out)
		}
	})

	t.Run("broken copies are caught", func(t *testing.T) {
		for _, bad := range []struct{ from, to string }{
			{"\nType=notify\n", "\nType=notfy\n"},
			{"\nProtectSystem=strict\n", "\nProtectSistem=strict\n"},
			{"ExecStart=" + bin, "ExecStart=" + bin + ".missing"},
		} {
			if problems, _ := verifyUnit(t, analyze, write(t, strings.Replace(runnable, bad.from, bad.to, 1), "")); len(problems) == 0 {
				t.Errorf("systemd-analyze verify found nothing wrong with %q", strings.TrimSpace(bad.to))
			}
		}
	})
}
