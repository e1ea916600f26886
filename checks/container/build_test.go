package containercheck

import (
	"testing"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/checks/checktest"
)

func TestSample(t *testing.T) { checktest.Sample(t, Type) }

func TestDocExamples(t *testing.T) { checktest.DocExamples(t, Type) }

func TestBuildDefaults(t *testing.T) {
	c := checktest.MustCheck(t, `
check "container" "x" {
  image   = "registry.internal/probe:1"
  command = ["/probe", "exit", "0"]
}
`, "container.x").Checker.(*Checker)
	defer c.Close()
	if c.socket != DefaultSocket || c.namespace != DefaultNamespace || c.network != NetworkIsolated {
		t.Errorf("defaults: socket %q namespace %q network %q", c.socket, c.namespace, c.network)
	}
	if len(c.group) != 1 {
		t.Fatalf("%d containers, want 1", len(c.group))
	}
	g := c.group[0]
	if !g.judged || g.expectExit != 0 || !g.readOnly || g.uid != 65534 || g.gid != 65534 {
		t.Errorf("container defaults: %+v", g)
	}
}

func TestBuildGroup(t *testing.T) {
	c := checktest.MustCheck(t, `
check "container" "g" {
  container "server" {
    image_archive = "images/probe.tar"
    command       = ["/probe", "serve"]
    ready         = "tcp://127.0.0.1:8080"
    memory        = "32MiB"
    cpus          = 0.25
    read_only     = false
  }
  container "client" {
    image_archive = "/abs/probe.tar"
    command       = ["/probe", "get", "http://127.0.0.1:8080/"]
  }
}
`, "container.g").Checker.(*Checker)
	defer c.Close()
	if len(c.group) != 2 || c.group[0].name != "server" || c.group[1].name != "client" {
		t.Fatalf("group %+v", c.group)
	}
	s, cl := c.group[0], c.group[1]
	if s.judged || !cl.judged {
		t.Errorf("judged: server %v client %v; want the last container only", s.judged, cl.judged)
	}
	if s.ready != "127.0.0.1:8080" || s.memory != 32<<20 || s.cpus != 0.25 || s.readOnly {
		t.Errorf("server %+v", s)
	}
	if cl.archive != "/abs/probe.tar" {
		t.Errorf("archive %q", cl.archive)
	}
}

func TestBuildArchiveRelative(t *testing.T) {
	src := `
check "container" "x" {
  image_archive = "images/probe.tar"
}`
	for _, d := range checktest.DecodeChecks(t, Type, src, checks.Env{BaseDir: "/etc/satellite"}, nil) {
		ch, diags := Build(d.Val, d.Env)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		c := ch.(*Checker)
		defer c.Close()
		if c.group[0].archive != "/etc/satellite/images/probe.tar" {
			t.Errorf("archive %q, want it resolved against the config's folder", c.group[0].archive)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	cases := []struct {
		name, src, summary, detail string
	}{
		{"bad regexp", `
check "container" "x" {
  image         = "probe"
  expect_output = "(" # <-
}`, "Invalid regular expression", "not a valid regular expression"},
		{"bad memory", `
check "container" "x" {
  image  = "probe"
  memory = "lots" # <-
}`, "Invalid memory", "a size such as"},
		{"tiny memory", `
check "container" "x" {
  image  = "probe"
  memory = "1KiB" # <-
}`, "Memory too small", "below 4MiB"},
		{"cpus zero", `
check "container" "x" {
  image = "probe"
  cpus  = 0 # <-
}`, "Invalid cpus", "above 0"},
		{"network", `
check "container" "x" {
  image   = "probe"
  network = "bridge" # <-
}`, "Invalid network", "is not known"},
		{"ready", `
check "container" "x" {
  container "a" {
    image = "probe"
    ready = "http://127.0.0.1:80" # <-
  }
  container "b" {
    image = "probe"
  }
}`, "Invalid ready address", "tcp://127.0.0.1:8080"},
		{"both images", `
check "container" "x" {
  image         = "probe"
  image_archive = "probe.tar" # <-
}`, "Both image and image_archive", "exactly one"},
		{"no image in block", `
check "container" "x" {
  container "a" { # <-
    command = ["/probe"]
  }
}`, "Missing image", "needs an image"},
		{"top and blocks", `
check "container" "x" {
  image = "probe" # <-
  container "a" {
    image = "probe"
  }
}`, "Container attribute outside a container block", "not both"},
		{"duplicate", `
check "container" "x" {
  container "a" {
    image = "probe"
  }
  container "a" { # <-
    image = "probe"
  }
}`, "Duplicate container", "named \"a\""},
		{"bad name", `
check "container" "x" {
  container "a b" { # <-
    image = "probe"
  }
}`, "Invalid container name", "letters, digits"},
		{"exit range", `
check "container" "x" {
  image       = "probe"
  expect_exit = 300 # <-
}`, "Invalid exit code", "0 to 255"},
		{"user", `
check "container" "x" {
  image = "probe"
  user  = "nobody" # <-
}`, "Invalid user", "numeric"},
		{"socket", `
check "container" "x" {
  image  = "probe"
  socket = "containerd.sock" # <-
}`, "Invalid socket", "absolute path"},
		{"empty", `
check "container" "x" { # <-
}`, "Missing image", "container \"NAME\" blocks"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := checktest.Compile(t, tc.src, false)
			checktest.WantDiag(t, tc.src, diags, tc.summary, tc.detail)
		})
	}
}

func TestBuildUnknown(t *testing.T) {
	// validate --unknown-env: an unknown image must not be an error.
	_, diags := checktest.Compile(t, `
check "container" "x" {
  image   = env("PROBE_IMAGE")
  command = ["/probe", "exit", "0"]
}`, true)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
}

func TestTailBuffer(t *testing.T) {
	b := newTailBuffer(8)
	_, _ = b.Write([]byte("hello "))
	_, _ = b.Write([]byte("world"))
	if got := b.String(); got != "lo world" {
		t.Errorf("tail %q, want %q", got, "lo world")
	}
	_, _ = b.Write([]byte("0123456789"))
	if got := b.String(); got != "23456789" {
		t.Errorf("tail %q, want %q", got, "23456789")
	}
}
