package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/internal/testenv"
)

// playbookLimit bounds one ansible-playbook run.
const playbookLimit = 3 * time.Minute

// The Ansible role (deploy/ansible) against a real agent in a scratch root,
// with Debian's ansible-playbook and connection: local: a valid change
// lands and the agent reloads; a file valid alone but not with the main
// config fails its task and changes nothing; an agent that does not reload
// fails the play, naming it.
func TestAnsibleRole(t *testing.T) {
	isolate(t)
	isolateAgentEnv(t)
	playbook, err := exec.LookPath("ansible-playbook")
	if err != nil {
		testenv.Unavailable(t, "Debian's ansible-playbook (package ansible-core) is not installed")
	}
	bin := agentBinary(t)
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}

	root := t.TempDir()
	etc := filepath.Join(root, "etc", "satellite")
	confd := filepath.Join(etc, "conf.d")
	mainCfg := writeFile(t, etc, "satellite.hcl", fmt.Sprintf(`agent {
  name     = "ans-1"
  data_dir = %q
}

variable "probe_path" {
  default = "/"
}

check "file" "root_main" {
  path     = var.probe_path
  interval = "1s"
}
`, filepath.Join(root, "var", "lib", "satellite")))
	checksV := func(interval string) string {
		return fmt.Sprintf("check \"file\" \"etc\" {\n  path     = var.probe_path\n  interval = %q\n}\n", interval)
	}
	installed := writeFile(t, confd, "checks.hcl", checksV("1s"))
	writeFile(t, confd, "README", "not a check file\n")
	agent := startProc(t, mainCfg, confd)
	pidFile := writeFile(t, filepath.Join(root, "run"), "satellite.pid", strconv.Itoa(agent.cmd.Process.Pid)+"\n")
	hash := func() string {
		var n health.Node
		agent.getJSON(t, "/v1/status/local", &n)
		return n.ConfigHash
	}
	validHash := func(paths ...string) string {
		r := satellite(t, append([]string{"validate"}, paths...)...).want(t, exitOK)
		m := regexp.MustCompile(`config hash ([0-9a-f]+)\.`).FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("no config hash in %q", r.stdout)
		}
		return m[1]
	}
	before := hash()
	if want := validHash(mainCfg, confd); before != want {
		t.Fatalf("the agent runs %s, validate says %s", before, want)
	}

	// The git checkout's directory of check files.
	src := t.TempDir()
	home := t.TempDir()
	// An ansible.cfg of the test's own, so that none of the machine's applies.
	ansibleCfg := writeFile(t, home, "ansible.cfg", "[defaults]\n")
	inventory := writeFile(t, t.TempDir(), "hosts.ini",
		"[satellite]\nlocalhost ansible_connection=local ansible_become=false ansible_python_interpreter=/usr/bin/python3\n")
	vars := map[string]any{
		"satellite_install":          false,
		"satellite_bin":              bin,
		"satellite_config_file":      mainCfg,
		"satellite_confd_dir":        confd,
		"satellite_checks_src":       src,
		"satellite_stage_dir":        filepath.Join(root, "var", "lib", "satellite", "ansible-stage"),
		"satellite_validate_helper":  filepath.Join(root, "usr", "local", "libexec", "satellite-validate-candidate"),
		"satellite_reload_via":       "command",
		"satellite_pid_file":         pidFile,
		"satellite_api_addr":         agent.base,
		"satellite_rollout_timeout":  "30s",
		"satellite_rollout_interval": "200ms",
	}
	play := func(extra map[string]any) (string, int) {
		t.Helper()
		v := map[string]any{}
		for k, x := range vars {
			v[k] = x
		}
		for k, x := range extra {
			v[k] = x
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		varsFile := writeFile(t, t.TempDir(), "vars.json", string(b))
		ctx, cancel := context.WithTimeout(context.Background(), playbookLimit)
		defer cancel()
		cmd := exec.CommandContext(ctx, playbook, "-i", inventory, "-e", "@"+varsFile,
			filepath.Join(repo, "deploy", "ansible", "site.yml"))
		cmd.Env = append(os.Environ(), "HOME="+home, "ANSIBLE_NOCOLOR=1", "ANSIBLE_RETRY_FILES_ENABLED=0",
			"ANSIBLE_LOCAL_TEMP="+filepath.Join(home, "local"), "ANSIBLE_REMOTE_TEMP="+filepath.Join(home, "remote"),
			"ANSIBLE_CONFIG="+ansibleCfg, "TMPDIR="+home)
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("ansible-playbook did not end within %s:\n%s", playbookLimit, out)
		}
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}

	// 1. A valid change: it lands, the handler reloads the agent, whose
	// hash becomes the one validate gives for the new files, and the
	// rollout wait succeeds.
	v2 := checksV("2s")
	writeFile(t, src, "checks.hcl", v2)
	out, code := play(nil)
	if code != 0 {
		t.Fatalf("ansible-playbook exit %d:\n%s", code, out)
	}
	if got := readFile(t, installed); got != v2 {
		t.Errorf("conf.d/checks.hcl after the play:\n%s", got)
	}
	after := hash()
	if want := validHash(mainCfg, confd); after == before || after != want {
		t.Errorf("the agent runs %s after the play (was %s), validate says %s", after, before, want)
	}
	if !strings.Contains(out, "RUNNING HANDLER [satellite : Reload satellite (command)]") ||
		!regexp.MustCompile(`failed=0`).MatchString(out) {
		t.Errorf("no reload, or a failure:\n%s", out)
	}

	// 2. A file valid alone but not with the main config (it declares
	// file.root_main again): its task fails, conf.d and the agent keep
	// what they had.
	dup := "check \"file\" \"root_main\" {\n  path     = \"/\"\n  interval = \"1s\"\n}\n"
	writeFile(t, src, "checks.hcl", dup)
	satellite(t, "validate", filepath.Join(src, "checks.hcl")).want(t, exitOK) // valid alone
	out, code = play(nil)
	if code == 0 {
		t.Fatalf("ansible-playbook succeeded with a duplicate check:\n%s", out)
	}
	if !strings.Contains(out, "Duplicate check") || !strings.Contains(out, "Install the check files, validated with the rest of the config") {
		t.Errorf("the failure does not say why:\n%s", out)
	}
	if got := readFile(t, installed); got != v2 {
		t.Errorf("conf.d/checks.hcl changed by a failed play:\n%s", got)
	}
	if h := hash(); h != after {
		t.Errorf("the agent runs %s after a failed play, was %s", h, after)
	}

	// 3. A valid change the agent does not take (the reload command does
	// nothing): the play fails naming the node that did not move.
	writeFile(t, src, "checks.hcl", checksV("3s"))
	out, code = play(map[string]any{"satellite_reload_command": "true", "satellite_rollout_timeout": "3s"})
	if code == 0 {
		t.Fatalf("ansible-playbook succeeded though the agent did not reload:\n%s", out)
	}
	want := validHash(mainCfg, confd)
	if !strings.Contains(out, "rollout not done after 3s: ans-1 did not move to config hash "+want) ||
		!strings.Contains(out, "(now: "+after+" on ans-1)") {
		t.Errorf("the failure does not name ans-1 and %s:\n%s", want, out)
	}
	if h := hash(); h != after {
		t.Errorf("the agent runs %s, not reloaded, was %s", h, after)
	}
}
