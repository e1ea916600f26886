// Package deb tests the Debian package that `make package` builds from this
// directory (nfpm.yaml, stage.sh, the maintainer scripts): what it
// contains, lintian's verdict, and a real install, upgrade, remove and
// purge with dpkg on this machine (as root, under make test).
package deb

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/internal/testenv"
)

// The versions the tests build: "~" sorts them before any real release,
// and 2 after 1, so installing the second is an upgrade.
const (
	version1 = "0.0.1~pkgtest1"
	version2 = "0.0.1~pkgtest2"
	// revision is make package's default DEB_REVISION.
	revision = "1"
)

// The paths the package installs, with their modes. Every regular file of
// the package must be one of these, or a man page of a command.
var packaged = map[string]string{
	"/usr/bin/satellite":                                  "-rwxr-xr-x",
	"/etc/satellite":                                      "drwxr-xr-x",
	"/etc/satellite/conf.d":                               "drwxr-xr-x",
	"/etc/satellite/satellite.hcl":                        "-rw-r--r--",
	"/etc/satellite/conf.d/README":                        "-rw-r--r--",
	"/lib/systemd/system/satellite.service":               "-rw-r--r--",
	"/usr/share/bash-completion/completions/satellite":    "-rw-r--r--",
	"/usr/share/zsh/vendor-completions/_satellite":        "-rw-r--r--",
	"/usr/share/fish/vendor_completions.d/satellite.fish": "-rw-r--r--",
	"/usr/share/doc/satellite/changelog.Debian.gz":        "-rw-r--r--",
	"/usr/share/doc/satellite/copyright":                  "-rw-r--r--",
	"/usr/share/lintian/overrides/satellite":              "-rw-r--r--",
}

var conffiles = []string{"/etc/satellite/conf.d/README", "/etc/satellite/satellite.hcl"}

// The packages the tests built, by version, in buildDir (removed by
// TestMain).
var (
	buildMu  sync.Mutex
	built    = map[string]string{}
	buildDir string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// repoRoot is the repository's root: the tests run in deploy/deb.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the repository's root %s has no go.mod: %v", root, err)
	}
	return root
}

// need returns the path of a program the test needs, or ends the test.
func need(t *testing.T, prog, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		testenv.Unavailable(t, fmt.Sprintf("%s is not installed (Debian package %s)", prog, pkg))
	}
	return p
}

// run runs a command with a bounded time and returns its combined output,
// failing the test when it fails.
func run(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	out, err := runErr(timeout, nil, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// runErr runs a command (stdin empty) with a bounded time; env is added to
// the process's environment.
func runErr(timeout time.Duration, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (timed out after %s)", err, timeout)
	}
	return string(out), err
}

// buildPackage runs `make package` for version into a temporary folder and
// returns the .deb; each version is built once.
func buildPackage(t *testing.T, version string) string {
	t.Helper()
	need(t, "make", "make")
	need(t, "git", "git")
	buildMu.Lock()
	defer buildMu.Unlock()
	if deb, ok := built[version]; ok {
		return deb
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "satellite-deb-test-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d
	}
	out := filepath.Join(buildDir, version)
	root := repoRoot(t)
	start := time.Now()
	log := run(t, 10*time.Minute, "make", "-C", root, "package",
		"DEB_VERSION="+version, "DEB_OUT="+out, "BIN="+filepath.Join(out, "satellite"))
	deb := filepath.Join(out, "satellite_"+version+"-"+revision+"_"+runtime.GOARCH+".deb")
	if _, err := os.Stat(deb); err != nil {
		t.Fatalf("make package did not make %s: %v\n%s", deb, err, log)
	}
	t.Logf("make package %s: %s in %s", version, filepath.Base(deb), time.Since(start).Round(time.Millisecond))
	built[version] = deb
	return deb
}

// entry is a line of dpkg-deb --contents.
type entry struct {
	mode, owner, path, link string
	size                    int64
}

func contents(t *testing.T, deb string) map[string]entry {
	t.Helper()
	out := run(t, time.Minute, "dpkg-deb", "--contents", deb)
	entries := map[string]entry{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb --contents: unexpected line %q", line)
		}
		size, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			t.Fatalf("dpkg-deb --contents: size in %q: %v", line, err)
		}
		path, link, _ := strings.Cut(strings.Join(f[5:], " "), " -> ")
		path = strings.TrimSuffix(strings.TrimPrefix(path, "."), "/")
		entries[path] = entry{mode: f[0], owner: f[1], path: path, link: link, size: size}
	}
	return entries
}

// fields parses dpkg-deb --field: the control file's fields.
func fields(t *testing.T, deb string) map[string]string {
	t.Helper()
	out := run(t, time.Minute, "dpkg-deb", "--field", deb)
	m := map[string]string{}
	key := ""
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		if line[0] == ' ' {
			m[key] += "\n" + line
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("dpkg-deb --field: unexpected line %q", line)
		}
		key = k
		m[k] = strings.TrimSpace(v)
	}
	return m
}

func gunzip(t *testing.T, path string) (string, *gzip.Header) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(b), &zr.Header
}

// TestPackageContents builds the package and reads it without installing
// it: the control fields, the conffiles, the maintainer scripts, every file
// with its mode and owner, and what the files hold.
func TestPackageContents(t *testing.T) {
	need(t, "dpkg-deb", "dpkg")
	root := repoRoot(t)
	deb := buildPackage(t, version1)

	f := fields(t, deb)
	for k, want := range map[string]string{
		"Package":      "satellite",
		"Version":      version1 + "-" + revision,
		"Architecture": runtime.GOARCH,
		"Section":      "admin",
		"Priority":     "optional",
	} {
		if f[k] != want {
			t.Errorf("control field %s is %q, want %q", k, f[k], want)
		}
	}
	var depends []string
	for _, d := range strings.Split(f["Depends"], ",") {
		depends = append(depends, strings.Fields(d)[0])
	}
	if strings.Join(depends, " ") != "adduser" {
		t.Errorf("Depends: %q, want adduser (postinst runs adduser; deb-systemd-helper is Essential)", f["Depends"])
	}
	if !regexp.MustCompile(`^[^<>]+ <[^<>@ ]+@[^<>@ ]+>$`).MatchString(f["Maintainer"]) {
		t.Errorf("Maintainer %q is not \"Name <address>\"", f["Maintainer"])
	}
	if !strings.HasPrefix(f["Description"], "declarative health checks for clusters\n") {
		t.Errorf("Description: %q", f["Description"])
	}

	if got := strings.Fields(run(t, time.Minute, "dpkg-deb", "--info", deb, "conffiles")); strings.Join(got, " ") != strings.Join(conffiles, " ") {
		t.Errorf("conffiles %q, want %q", got, conffiles)
	}

	// The maintainer scripts are deploy/deb/scripts', executable, and
	// parse as the /bin/sh dpkg runs them with.
	control := t.TempDir()
	run(t, time.Minute, "dpkg-deb", "--control", deb, control)
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		got, err := os.ReadFile(filepath.Join(control, s))
		if err != nil {
			t.Errorf("no %s in the package: %v", s, err)
			continue
		}
		want, err := os.ReadFile(filepath.Join(root, "deploy/deb/scripts", s))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("the package's %s differs from deploy/deb/scripts/%s", s, s)
		}
		if fi, err := os.Stat(filepath.Join(control, s)); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: mode %v, want 0755 (%v)", s, fi.Mode(), err)
		}
		if out, err := runErr(time.Minute, nil, "sh", "-n", filepath.Join(control, s)); err != nil {
			t.Errorf("sh -n %s: %v\n%s", s, err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(control, "preinst")); err == nil {
		t.Errorf("the package has a preinst; nothing should run before unpacking")
	}

	// Extracted: the binary's own man pages and completions are what the
	// package carries.
	tree := t.TempDir()
	run(t, 2*time.Minute, "dpkg-deb", "--extract", deb, tree)
	bin := filepath.Join(tree, "usr/bin/satellite")
	manDir := t.TempDir()
	run(t, time.Minute, bin, "man", "--dir", manDir)
	pages, err := filepath.Glob(filepath.Join(manDir, "*.1"))
	if err != nil || len(pages) == 0 {
		t.Fatalf("satellite man wrote no pages (%v)", err)
	}
	want := map[string]string{}
	for p, mode := range packaged {
		want[p] = mode
	}
	for _, p := range pages {
		want["/usr/share/man/man1/"+filepath.Base(p)+".gz"] = "-rw-r--r--"
	}

	entries := contents(t, deb)
	for p, mode := range want {
		e, ok := entries[p]
		switch {
		case !ok:
			t.Errorf("the package has no %s", p)
		case e.mode != mode:
			t.Errorf("%s: mode %s, want %s", p, e.mode, mode)
		}
	}
	for _, e := range entries {
		if e.owner != "root/root" {
			t.Errorf("%s is owned by %s, want root/root", e.path, e.owner)
		}
		if _, ok := want[e.path]; !ok && !strings.HasPrefix(e.mode, "d") {
			t.Errorf("the package has %s (%s), which it should not", e.path, e.mode)
		}
		if strings.HasPrefix(e.path, "/var") {
			t.Errorf("the package has %s: /var/lib/satellite is made by postinst, owned by the satellite user", e.path)
		}
	}

	// Files kept in the repository go in as they are.
	for src, dst := range map[string]string{
		"deploy/systemd/satellite.service": "lib/systemd/system/satellite.service",
		"deploy/deb/satellite.hcl":         "etc/satellite/satellite.hcl",
		"deploy/deb/conf.d-README":         "etc/satellite/conf.d/README",
		"deploy/deb/copyright":             "usr/share/doc/satellite/copyright",
		"deploy/deb/lintian-overrides":     "usr/share/lintian/overrides/satellite",
	} {
		a, err := os.ReadFile(filepath.Join(root, src))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(tree, dst))
		if err != nil {
			t.Errorf("%s: %v", dst, err)
			continue
		}
		if !bytes.Equal(a, b) {
			t.Errorf("/%s differs from %s", dst, src)
		}
	}

	// The binary is make build's: static, without symbols or local paths,
	// with a version set at link time.
	checkStatic(t, bin, root)
	if out := run(t, time.Minute, bin, "version"); !regexp.MustCompile(`^satellite \S+ `).MatchString(out) || strings.HasPrefix(out, "satellite 0.1.0-dev ") {
		t.Errorf("satellite version printed %q: make build sets main.version", out)
	}

	// The starter config is valid, with the conf.d the unit reads.
	out := run(t, time.Minute, bin, "validate", filepath.Join(tree, "etc/satellite"), filepath.Join(tree, "etc/satellite/conf.d"))
	if !strings.Contains(out, "Valid: ") {
		t.Errorf("validate of the starter config: %s", out)
	}

	for shell, dst := range map[string]string{
		"bash": "usr/share/bash-completion/completions/satellite",
		"zsh":  "usr/share/zsh/vendor-completions/_satellite",
		"fish": "usr/share/fish/vendor_completions.d/satellite.fish",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		wantScript, err := exec.CommandContext(ctx, bin, "completion", shell).Output()
		cancel()
		if err != nil || len(wantScript) == 0 {
			t.Fatalf("satellite completion %s: %v", shell, err)
		}
		got, err := os.ReadFile(filepath.Join(tree, dst))
		if err != nil || !bytes.Equal(got, wantScript) {
			t.Errorf("/%s is not `satellite completion %s` (%v)", dst, shell, err)
		}
	}

	// Compressed with gzip -n (no name, no time: the same commit gives the
	// same bytes), and dated HEAD's commit time.
	// (make package takes SOURCE_DATE_EPOCH from the environment when set.)
	sde := os.Getenv("SOURCE_DATE_EPOCH")
	if sde == "" {
		sde = strings.TrimSpace(run(t, time.Minute, "git", "-C", root, "log", "-1", "--format=%ct"))
	}
	epoch, err := strconv.ParseInt(sde, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	commitTime := time.Unix(epoch, 0).UTC()
	for _, p := range pages {
		page, hdr := gunzip(t, filepath.Join(tree, "usr/share/man/man1", filepath.Base(p)+".gz"))
		if hdr.Name != "" || !hdr.ModTime.IsZero() {
			t.Errorf("%s.gz has a name %q or a time %v (gzip -n)", filepath.Base(p), hdr.Name, hdr.ModTime)
		}
		// cobra/doc's header: the page's name, its section, the month.
		wantTH := fmt.Sprintf(".nh\n.TH %q \"1\" %q", strings.ToUpper(strings.TrimSuffix(filepath.Base(p), ".1")),
			commitTime.Format("Jan 2006"))
		if !strings.HasPrefix(page, wantTH) {
			t.Errorf("%s.gz starts %.80q, want %q", filepath.Base(p), page, wantTH)
		}
	}
	changelog, hdr := gunzip(t, filepath.Join(tree, "usr/share/doc/satellite/changelog.Debian.gz"))
	if hdr.Name != "" || !hdr.ModTime.IsZero() {
		t.Errorf("changelog.Debian.gz has a name %q or a time %v (gzip -n)", hdr.Name, hdr.ModTime)
	}
	checkChangelog(t, changelog, version1+"-"+revision, f["Maintainer"], commitTime)

	t.Run("lintian", func(t *testing.T) {
		lintian := need(t, "lintian", "lintian")
		// The verdict is read from the tags: lintian 2.116 exits 2 on
		// overridden errors when --show-overrides shows them.
		out, err := runErr(10*time.Minute, nil, lintian, "--display-info", "--pedantic", "--display-experimental",
			"--show-overrides", "--fail-on", "none", deb)
		t.Logf("lintian %s:\n%s", filepath.Base(deb), out)
		if err != nil {
			t.Fatalf("lintian did not run: %v", err)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "E: ") || strings.HasPrefix(line, "W: ") ||
				strings.Contains(line, "unused-override") || strings.Contains(line, "mismatched-override") {
				t.Errorf("lintian: %s", line)
			}
		}
		// Each override in deploy/deb/lintian-overrides is used (shown as
		// O:), so none is stale.
		overrides, err := os.ReadFile(filepath.Join(root, "deploy/deb/lintian-overrides"))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(overrides), "\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if !strings.Contains(out, "O: "+line) {
				t.Errorf("the override %q did not apply", line)
			}
		}
	})
}

// checkStatic fails the test unless bin is a static ELF without a symbol
// table that does not name the repository's folder.
func checkStatic(t *testing.T, bin, root string) {
	t.Helper()
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("/usr/bin/satellite has a program interpreter: it is not static (CGO_ENABLED=0)")
		}
	}
	if libs, _ := ef.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("/usr/bin/satellite needs %v", libs)
	}
	if ef.Section(".symtab") != nil {
		t.Errorf("/usr/bin/satellite has a symbol table (-ldflags -s)")
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(root+"/")) {
		t.Errorf("/usr/bin/satellite names %s (-trimpath)", root)
	}
}

// checkChangelog checks a Debian changelog of one entry for version.
func checkChangelog(t *testing.T, changelog, version, maintainer string, date time.Time) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(changelog, "\n"), "\n")
	if want := "satellite (" + version + ") unstable; urgency=medium"; lines[0] != want {
		t.Errorf("changelog starts %q, want %q", lines[0], want)
	}
	entries := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "satellite (") {
			entries++
		}
		if len(l) > 80 && !strings.HasPrefix(l, " -- ") {
			t.Errorf("changelog line longer than 80: %q", l)
		}
	}
	if entries != 1 {
		t.Errorf("changelog has %d entries, want 1:\n%s", entries, changelog)
	}
	if want := " -- " + maintainer + "  " + date.Format(time.RFC1123Z); lines[len(lines)-1] != want {
		t.Errorf("changelog ends %q, want %q", lines[len(lines)-1], want)
	}
	if !strings.Contains(changelog, "  * Built with make package from commit\n") {
		t.Errorf("changelog does not say what it was built from:\n%s", changelog)
	}
}

// TestVersionScript runs deploy/deb/version.sh in a scratch git repository
// through a history of tags and commits, and checks each version, and that
// dpkg orders them as they were made.
func TestVersionScript(t *testing.T) {
	git := need(t, "git", "git")
	need(t, "dpkg", "dpkg")
	script := filepath.Join(repoRoot(t), "deploy/deb/version.sh")
	dir := t.TempDir()
	env := []string{
		"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.invalid",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.invalid",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
	}
	gitRun := func(args ...string) string {
		t.Helper()
		out, err := runErr(time.Minute, env, git, append([]string{"-C", dir}, args...)...)
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(out)
	}
	commit := func(when time.Time) (stamp, sha string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "file"), []byte(when.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		gitRun("add", "file")
		d := when.Format(time.RFC3339)
		env = append(env, "GIT_AUTHOR_DATE="+d, "GIT_COMMITTER_DATE="+d)
		gitRun("commit", "-q", "-m", d)
		return when.UTC().Format("20060102150405"), gitRun("rev-parse", "--short=7", "HEAD")
	}
	version := func() string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("version.sh: %v\n%s", err, stderr.String())
		}
		return strings.TrimSpace(string(out))
	}

	gitRun("init", "-q", "-b", "main")
	base := time.Date(2026, 12, 7, 6, 11, 7, 0, time.FixedZone("CET", 3600))
	var got []string
	check := func(want string) {
		t.Helper()
		v := version()
		if v != want {
			t.Errorf("version %q, want %q", v, want)
		}
		got = append(got, v)
	}

	stamp, sha := commit(base)
	check("0.0.0~git" + stamp + "." + sha) // no tag yet; the stamp is UTC
	if err := os.WriteFile(filepath.Join(dir, "untracked"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	check("0.0.0~git" + stamp + "." + sha + "+dirty")
	if err := os.Remove(filepath.Join(dir, "untracked")); err != nil {
		t.Fatal(err)
	}
	gitRun("tag", "v1.2.3")
	check("1.2.3")
	stamp, sha = commit(base.Add(time.Hour))
	check("1.2.3+git" + stamp + "." + sha)
	stamp, sha = commit(base.Add(2 * time.Hour))
	check("1.2.3+git" + stamp + "." + sha)
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	check("1.2.3+git" + stamp + "." + sha + ".dirty")
	gitRun("checkout", "-q", "file")
	gitRun("tag", "v1.3.0-rc.1")
	check("1.3.0~rc.1")
	commit(base.Add(3 * time.Hour))
	gitRun("tag", "v1.3.0")
	check("1.3.0")
	gitRun("tag", "not-a-version") // ignored: only v* tags count
	check("1.3.0")

	// Each version is newer than the one before, for dpkg.
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			continue
		}
		if out, err := runErr(time.Minute, nil, "dpkg", "--compare-versions", got[i]+"-1", "gt", got[i-1]+"-1"); err != nil {
			t.Errorf("dpkg does not take %s-1 as newer than %s-1 (%v %s)", got[i], got[i-1], err, out)
		}
	}

	// Outside a work tree it says how to package anyway.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GIT_CEILING_DIRECTORIES="+filepath.Dir(cmd.Dir))
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not a git work tree; set DEB_VERSION to package anyway") {
		t.Errorf("version.sh outside git: %v %q", err, out)
	}
}

// TestPackageInstall installs the package with dpkg for real, upgrades it
// over an edited conffile, removes and purges it, and leaves the machine as
// it found it. It refuses to run where satellite is installed already.
func TestPackageInstall(t *testing.T) {
	testenv.NeedRoot(t, "installing the package with dpkg -i")
	for _, p := range [][2]string{{"dpkg", "dpkg"}, {"dpkg-query", "dpkg"}, {"dpkg-statoverride", "dpkg"},
		{"getent", "libc-bin"}, {"runuser", "util-linux"}, {"bash", "bash"}} {
		need(t, p[0], p[1])
	}
	if arch := strings.TrimSpace(run(t, time.Minute, "dpkg", "--print-architecture")); arch != runtime.GOARCH {
		t.Skipf("dpkg's architecture is %s, the package's %s", arch, runtime.GOARCH)
	}
	refuseIfPresent(t)
	deb1 := buildPackage(t, version1)
	deb2 := buildPackage(t, version2)
	root := repoRoot(t)

	operatorFile := "/etc/satellite/conf.d/package-test.hcl"
	t.Cleanup(func() {
		if st, _ := packageStatus(); st != "" {
			if out, err := dpkgRun(t, "--purge", "satellite"); err != nil {
				t.Errorf("cleanup: dpkg --purge satellite: %v\n%s", err, out)
			}
		}
		if out, err := runErr(time.Minute, nil, "dpkg-statoverride", "--list", "/var/lib/satellite"); err == nil && out != "" {
			_, _ = runErr(time.Minute, nil, "dpkg-statoverride", "--remove", "/var/lib/satellite")
		}
		_ = os.Remove(operatorFile)
		_ = os.Remove("/etc/satellite/conf.d")
		_ = os.Remove("/etc/satellite")
		for _, left := range leftovers() {
			t.Errorf("cleanup: %s is left on the machine", left)
		}
	})

	// First install: the user, the data directory, the unit enabled (its
	// [Install] symlinks, with or without systemd running), not started.
	out := dpkgMust(t, "--install", deb1)
	if !strings.Contains(out, "satellite: not started.") {
		t.Errorf("the first install does not say the agent is not started:\n%s", out)
	}
	checkInstalled(t, version1)
	pw := getent(t, "passwd", "satellite")
	if len(pw) != 7 || pw[5] != "/var/lib/satellite" || pw[6] != "/usr/sbin/nologin" {
		t.Errorf("user satellite: %q, want home /var/lib/satellite and shell /usr/sbin/nologin", pw)
	}
	uid, _ := strconv.Atoi(pw[2])
	gr := getent(t, "group", "satellite")
	gid, _ := strconv.Atoi(gr[2])
	if uid >= 1000 || uid == 0 {
		t.Errorf("user satellite has uid %d, want a system user (1-999)", uid)
	}
	if pw[3] != gr[2] {
		t.Errorf("user satellite's group is %s, want satellite (%s)", pw[3], gr[2])
	}
	checkDataDir(t, uid, gid, 0o750)
	for _, target := range wantedBy(t, filepath.Join(root, "deploy/systemd/satellite.service")) {
		link := "/etc/systemd/system/" + target + ".wants/satellite.service"
		if dst, err := os.Readlink(link); err != nil || dst != "/lib/systemd/system/satellite.service" {
			t.Errorf("the unit is not enabled: %s -> %q (%v)", link, dst, err)
		}
	}
	if pids := processesOf(uid); len(pids) > 0 {
		t.Errorf("processes of satellite run after the first install: %v (it must not be started)", pids)
	}

	validate := run(t, time.Minute, "/usr/bin/satellite", "validate", "/etc/satellite", "/etc/satellite/conf.d")
	declared := declaredChecks(t, validate)

	// The agent can write its data directory as the satellite user: one
	// round of the disk check writes the history (critical or not).
	out, err := runErr(time.Minute, nil, "runuser", "-u", "satellite", "--",
		"/usr/bin/satellite", "run", "--once", "--check", "disk.root", "/etc/satellite")
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		t.Fatalf("satellite run --once as satellite: %v\n%s", err, out)
	}
	history := "/var/lib/satellite/history.db"
	if fi, err := os.Stat(history); err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(uid) {
		t.Fatalf("%s is not there, owned by satellite, after a run as satellite (%v):\n%s", history, err, out)
	}

	checkManPage(t)
	comp := run(t, time.Minute, "bash", "-c", "source /usr/share/bash-completion/completions/satellite && complete -p satellite")
	if !strings.Contains(comp, "satellite") || !strings.Contains(comp, "-F __start_satellite") {
		t.Errorf("the bash completion does not register: %q", comp)
	}

	// The operator edits the config and adds a check file.
	hcl, err := os.ReadFile("/etc/satellite/satellite.hcl")
	if err != nil {
		t.Fatal(err)
	}
	edited := string(hcl) + "\n# Edited by the package test.\ncheck \"disk\" \"package_test\" {\n  path = \"/\"\n}\n"
	if err := os.WriteFile("/etc/satellite/satellite.hcl", []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(operatorFile, []byte("check \"tcp\" \"package_test\" {\n  address = \"127.0.0.1:1\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Reinstall: the edits stay, and so do permissions an operator set
	// with dpkg-statoverride; without an override postinst puts 0750 back.
	if err := os.Chmod("/var/lib/satellite", 0o700); err != nil {
		t.Fatal(err)
	}
	out = dpkgMust(t, "--install", deb1)
	if strings.Contains(out, "not started") {
		t.Errorf("a reinstall talks as a first install:\n%s", out)
	}
	checkInstalled(t, version1)
	checkDataDir(t, uid, gid, 0o750)
	run(t, time.Minute, "dpkg-statoverride", "--add", "satellite", "satellite", "0770", "/var/lib/satellite")
	if err := os.Chmod("/var/lib/satellite", 0o770); err != nil {
		t.Fatal(err)
	}
	dpkgMust(t, "--install", deb1)
	checkDataDir(t, uid, gid, 0o770)
	run(t, time.Minute, "dpkg-statoverride", "--remove", "/var/lib/satellite")

	// Upgrade to the newer version: the edited conffile, the operator's
	// file, the user and the history are kept.
	out = dpkgMust(t, "--install", deb2)
	if !strings.Contains(out, "over ("+version1+"-"+revision+")") {
		t.Errorf("installing %s was no upgrade from %s:\n%s", version2, version1, out)
	}
	checkInstalled(t, version2)
	if b, err := os.ReadFile("/etc/satellite/satellite.hcl"); err != nil || string(b) != edited {
		t.Errorf("the upgrade changed the edited /etc/satellite/satellite.hcl (%v)", err)
	}
	if _, err := os.Stat("/etc/satellite/satellite.hcl.dpkg-new"); err == nil {
		t.Errorf("the upgrade left satellite.hcl.dpkg-new")
	}
	if pw2 := getent(t, "passwd", "satellite"); pw2[2] != pw[2] {
		t.Errorf("the upgrade changed satellite's uid from %s to %s", pw[2], pw2[2])
	}
	checkDataDir(t, uid, gid, 0o750)
	if _, err := os.Stat(history); err != nil {
		t.Errorf("the upgrade lost the history: %v", err)
	}
	validate = run(t, time.Minute, "/usr/bin/satellite", "validate", "/etc/satellite", "/etc/satellite/conf.d")
	if got := declaredChecks(t, validate); got != declared+2 {
		t.Errorf("after the upgrade validate sees %d checks, want %d (the starter's and the two added): %s", got, declared+2, validate)
	}

	// Remove: the binary goes; the configuration, the history and the user
	// stay.
	dpkgMust(t, "--remove", "satellite")
	if st, _ := packageStatus(); st != "rc" {
		t.Errorf("after dpkg --remove the package is %q, want rc (config-files)", st)
	}
	if _, err := os.Stat("/usr/bin/satellite"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dpkg --remove left /usr/bin/satellite (%v)", err)
	}
	if b, err := os.ReadFile("/etc/satellite/satellite.hcl"); err != nil || string(b) != edited {
		t.Errorf("dpkg --remove did not keep the edited /etc/satellite/satellite.hcl (%v)", err)
	}
	for _, p := range []string{"/etc/satellite/conf.d/README", operatorFile, history} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("dpkg --remove did not keep %s: %v", p, err)
		}
	}
	getent(t, "passwd", "satellite")

	// Purge: the conffiles, the data directory, the user and group and the
	// unit's symlinks go; a file the operator added stays (not dpkg's).
	dpkgMust(t, "--purge", "satellite")
	if st, _ := packageStatus(); st != "" {
		t.Errorf("after dpkg --purge the package is %q, want unknown to dpkg", st)
	}
	for _, p := range append([]string{"/var/lib/satellite"}, conffiles...) {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("dpkg --purge left %s (%v)", p, err)
		}
	}
	for _, db := range []string{"passwd", "group"} {
		if out, err := runErr(time.Minute, nil, "getent", db, "satellite"); err == nil {
			t.Errorf("dpkg --purge left satellite in %s: %s", db, out)
		}
	}
	if _, err := os.Stat(operatorFile); err != nil {
		t.Errorf("dpkg --purge removed %s, which the operator made: %v", operatorFile, err)
	}
	if err := os.Remove(operatorFile); err != nil {
		t.Error(err)
	}
	if err := os.Remove("/etc/satellite/conf.d"); err != nil {
		t.Error(err)
	}
	if err := os.Remove("/etc/satellite"); err != nil {
		t.Error(err)
	}
	if left := leftovers(); len(left) > 0 {
		t.Errorf("after the purge these are left: %v", left)
	}
}

// refuseIfPresent ends the test when satellite is installed, or its user,
// configuration or data are there: the test's purge would remove them.
func refuseIfPresent(t *testing.T) {
	t.Helper()
	if st, v := packageStatus(); st != "" {
		t.Fatalf("a satellite package (%s, status %s) is on this machine and was not installed by this test: "+
			"the test would replace and purge it, so it does not run (dpkg --purge satellite, or run it elsewhere)", v, st)
	}
	if left := leftovers(); len(left) > 0 {
		t.Fatalf("this machine has satellite's files or user without the package: %v; "+
			"the test's purge would remove them, so it does not run", left)
	}
}

// packageStatus is dpkg's status of satellite (ii, rc, ...) and its
// version, or "" when dpkg does not know it.
func packageStatus() (string, string) {
	out, err := runErr(time.Minute, nil, "dpkg-query", "--show", "--showformat", "${db:Status-Abbrev}|${Version}", "satellite")
	if err != nil {
		return "", ""
	}
	st, v, _ := strings.Cut(out, "|")
	st = strings.TrimSpace(st)
	if st == "un" || st == "pn" {
		return "", ""
	}
	return st, v
}

// leftovers lists what the package makes that is on the machine: the user
// and group, /etc/satellite, /var/lib/satellite, the unit's symlinks and
// deb-systemd-helper's state about it.
func leftovers() []string {
	var left []string
	for _, db := range []string{"passwd", "group"} {
		if _, err := runErr(time.Minute, nil, "getent", db, "satellite"); err == nil {
			left = append(left, db+" entry satellite")
		}
	}
	for _, p := range []string{"/etc/satellite", "/var/lib/satellite", "/usr/bin/satellite", "/etc/systemd/system/satellite.service"} {
		if _, err := os.Lstat(p); err == nil {
			left = append(left, p)
		}
	}
	wants, _ := filepath.Glob("/etc/systemd/system/*/satellite.service")
	left = append(left, wants...)
	for _, dir := range []string{"/var/lib/systemd/deb-systemd-helper-enabled", "/var/lib/systemd/deb-systemd-helper-masked"} {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasPrefix(d.Name(), "satellite.service") {
				left = append(left, p)
			}
			return nil
		})
	}
	sort.Strings(left)
	return left
}

// dpkgRun runs dpkg, waiting (up to 5 minutes) while another dpkg or apt
// holds its lock; stdin is empty, so a conffile question fails instead of
// waiting.
func dpkgRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		out, err := runErr(5*time.Minute, []string{"DEBIAN_FRONTEND=noninteractive"}, "dpkg", args...)
		locked := strings.Contains(out, "dpkg frontend lock") || strings.Contains(out, "dpkg status database is locked")
		if err == nil || !locked || time.Now().After(deadline) {
			return out, err
		}
		t.Logf("dpkg %s: another dpkg holds the lock; waiting", strings.Join(args, " "))
		time.Sleep(2 * time.Second)
	}
}

func dpkgMust(t *testing.T, args ...string) string {
	t.Helper()
	out, err := dpkgRun(t, args...)
	if err != nil {
		t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func checkInstalled(t *testing.T, version string) {
	t.Helper()
	if st, v := packageStatus(); st != "ii" || v != version+"-"+revision {
		t.Fatalf("satellite is %q at %q, want ii at %s-%s", st, v, version, revision)
	}
	if fi, err := os.Stat("/usr/bin/satellite"); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("/usr/bin/satellite: %v %v, want mode 0755", fi.Mode(), err)
	}
}

func getent(t *testing.T, db, name string) []string {
	t.Helper()
	return strings.Split(strings.TrimSpace(run(t, time.Minute, "getent", db, name)), ":")
}

func checkDataDir(t *testing.T, uid, gid int, mode os.FileMode) {
	t.Helper()
	fi, err := os.Stat("/var/lib/satellite")
	if err != nil {
		t.Fatalf("/var/lib/satellite: %v", err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || fi.Mode().Perm() != mode || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("/var/lib/satellite: %v owned by %d:%d, want a directory %v owned by satellite (%d:%d)",
			fi.Mode(), st.Uid, st.Gid, mode, uid, gid)
	}
}

// wantedBy is the targets of the unit's WantedBy= lines.
func wantedBy(t *testing.T, unit string) []string {
	t.Helper()
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "WantedBy="); ok {
			targets = append(targets, strings.Fields(v)...)
		}
	}
	return targets
}

// processesOf lists the processes running as uid.
func processesOf(uid int) []string {
	var pids []string
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		if fi, err := os.Stat("/proc/" + d.Name()); err == nil && int(fi.Sys().(*syscall.Stat_t).Uid) == uid {
			pids = append(pids, d.Name())
		}
	}
	return pids
}

var declaredRe = regexp.MustCompile(`would run \d+ checks? of (\d+) declared`)

func declaredChecks(t *testing.T, validate string) int {
	t.Helper()
	m := declaredRe.FindStringSubmatch(validate)
	if m == nil {
		t.Fatalf("validate printed no count: %s", validate)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// checkManPage reads an installed man page with man(1), unless dpkg is
// told not to install man pages here (path-exclude, as in slim images).
func checkManPage(t *testing.T) {
	t.Helper()
	page := "/usr/share/man/man1/satellite-validate.1.gz"
	if _, err := os.Stat(page); err != nil {
		cfg, _ := filepath.Glob("/etc/dpkg/dpkg.cfg.d/*")
		for _, c := range cfg {
			if b, err := os.ReadFile(c); err == nil && regexp.MustCompile(`(?m)^path-exclude=?\s*/usr/share/man`).Match(b) {
				t.Logf("%s is not installed: %s excludes /usr/share/man", page, c)
				return
			}
		}
		t.Fatalf("%s is not installed: %v", page, err)
	}
	man := need(t, "man", "man-db")
	out, err := runErr(time.Minute, []string{"MANWIDTH=80", "MANPAGER=cat", "PAGER=cat", "LC_ALL=C.UTF-8"}, man, "-l", page)
	if err != nil || !strings.Contains(out, "satellite-validate - ") || !strings.Contains(out, "--var-file") {
		t.Errorf("man -l %s: %v\n%s", page, err, out)
	}
	if out, err := runErr(time.Minute, nil, man, "-w", "satellite"); err != nil || strings.TrimSpace(out) != "/usr/share/man/man1/satellite.1.gz" {
		t.Errorf("man -w satellite: %q %v", out, err)
	}
}
