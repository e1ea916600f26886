// Package netns builds small network labs for tests, as root: network
// namespaces, veth pairs, a bridge, nftables drop rules, and processes run
// inside a namespace. It drives iproute2 and nft, the tools an operator
// would use, so a failing lab can be inspected by hand with the same tools.
package netns

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Lab is a set of namespaces sharing a name prefix; Close removes them all,
// and with them their veths and nftables tables.
type Lab struct {
	prefix string
	names  []string
}

// New removes what a crashed earlier run with the same prefix left behind,
// then returns an empty lab. The prefix should be short: interface names
// are limited to 15 bytes.
func New(ctx context.Context, prefix string) (*Lab, error) {
	l := &Lab{prefix: prefix}
	if err := Purge(ctx, prefix); err != nil {
		return nil, err
	}
	return l, nil
}

// Purge deletes every namespace whose name starts with prefix.
func Purge(ctx context.Context, prefix string) error {
	out, err := run(ctx, "ip", "netns", "list")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			if _, err := run(ctx, "ip", "netns", "delete", f[0]); err != nil {
				return err
			}
		}
	}
	return nil
}

// Name is the full name of the lab's namespace short.
func (l *Lab) Name(short string) string { return l.prefix + short }

// Add creates a namespace with its loopback up.
func (l *Lab) Add(ctx context.Context, short string) error {
	ns := l.Name(short)
	if _, err := run(ctx, "ip", "netns", "add", ns); err != nil {
		return err
	}
	l.names = append(l.names, ns)
	_, err := run(ctx, "ip", "-n", ns, "link", "set", "lo", "up")
	return err
}

// Bridge creates bridge dev in namespace short, up.
func (l *Lab) Bridge(ctx context.Context, short, dev string) error {
	ns := l.Name(short)
	if _, err := run(ctx, "ip", "-n", ns, "link", "add", dev, "type", "bridge"); err != nil {
		return err
	}
	_, err := run(ctx, "ip", "-n", ns, "link", "set", dev, "up")
	return err
}

// Plug connects namespace node to bridge dev in namespace br with a veth
// pair: ifname with addr (CIDR) inside node, port on the bridge.
func (l *Lab) Plug(ctx context.Context, node, ifname, cidr, br, dev, port string) error {
	nn, bn := l.Name(node), l.Name(br)
	steps := [][]string{
		{"ip", "link", "add", ifname, "netns", nn, "type", "veth", "peer", "name", port, "netns", bn},
		{"ip", "-n", nn, "addr", "add", cidr, "dev", ifname},
		{"ip", "-n", nn, "link", "set", ifname, "up"},
		{"ip", "-n", bn, "link", "set", port, "master", dev},
		{"ip", "-n", bn, "link", "set", port, "up"},
	}
	for _, s := range steps {
		if _, err := run(ctx, s[0], s[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// SetLink sets interface dev in namespace short up or down.
func (l *Lab) SetLink(ctx context.Context, short, dev string, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	_, err := run(ctx, "ip", "-n", l.Name(short), "link", "set", dev, state)
	return err
}

// Drop adds an nftables table in namespace short that drops all traffic
// to and from the given IPv4 addresses; Undrop removes it.
func (l *Lab) Drop(ctx context.Context, short, table string, addrs ...string) error {
	set := "{ " + strings.Join(addrs, ", ") + " }"
	script := fmt.Sprintf(`table inet %[1]s {
	chain in { type filter hook input priority -10; policy accept; ip saddr %[2]s drop; }
	chain out { type filter hook output priority -10; policy accept; ip daddr %[2]s drop; }
}
`, table, set)
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.Name(short), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft in %s: %w: %s", l.Name(short), err, bytes.TrimSpace(out))
	}
	return nil
}

// Undrop deletes the table Drop added.
func (l *Lab) Undrop(ctx context.Context, short, table string) error {
	_, err := run(ctx, "ip", "netns", "exec", l.Name(short), "nft", "delete", "table", "inet", table)
	return err
}

// Command is a process to run inside namespace short.
func (l *Lab) Command(ctx context.Context, short, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.Name(short), name}, args...)...)
}

// Close deletes the lab's namespaces (their veths and nft tables go with
// them), reporting the first failure.
func (l *Lab) Close() error {
	var first error
	for i := len(l.names) - 1; i >= 0; i-- {
		if _, err := run(context.Background(), "ip", "netns", "delete", l.names[i]); err != nil && first == nil {
			first = err
		}
	}
	l.names = nil
	return first
}

func run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}
