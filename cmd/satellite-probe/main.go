// Command satellite-probe is the small static binary of satellite's probe
// image: the subcommands operators need inside container smoke tests.
//
//	probe serve --listen :8080     HTTP 200 "ok" on every path (also a TCP accept)
//	probe get URL                  GET; exit 1 on a non-2xx status or an error
//	probe tcp HOST:PORT            connect; exit 1 when refused
//	probe dns NAME [--server ADDR] resolve; prints "Address: x" per address
//	probe sleep DURATION           sleep, then exit 0
//	probe exit N                   exit with status N
//	probe alloc SIZE               allocate and touch SIZE bytes (64MiB), for OOM tests
//	probe write PATH               write a small file, to test a read-only root
//	probe id                       print uid, gid and the host name
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: probe COMMAND [ARGS]
  serve --listen ADDR        serve HTTP 200 "ok" (default :8080)
  get URL                    HTTP GET; non-2xx exits 1
  tcp HOST:PORT              open a TCP connection
  dns NAME [--server ADDR]   resolve NAME; prints "Address: x" lines
  sleep DURATION             sleep ("5s")
  exit N                     exit with status N
  alloc SIZE                 allocate and touch SIZE bytes ("64MiB")
  write PATH                 write a small file (read-only root tests)
  id                         print uid, gid and host name
`

// run executes one subcommand and returns the process's exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, args, stdout)
	case "get":
		err = get(ctx, args, stdout)
	case "tcp":
		err = tcp(ctx, args, stdout)
	case "dns":
		err = dns(ctx, args, stdout)
	case "sleep":
		err = sleep(ctx, args)
	case "exit":
		if len(args) != 1 {
			err = usageError("exit N")
			break
		}
		n, perr := strconv.Atoi(args[0])
		if perr != nil || n < 0 || n > 255 {
			err = usageError("exit N (0-255)")
			break
		}
		return n
	case "alloc":
		err = alloc(args, stdout)
	case "write":
		if len(args) != 1 {
			err = usageError("write PATH")
			break
		}
		err = os.WriteFile(args[0], []byte("ok\n"), 0o644)
	case "id":
		host, _ := os.Hostname()
		fmt.Fprintf(stdout, "uid=%d gid=%d host=%s\n", os.Getuid(), os.Getgid(), host)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "probe: unknown command %q\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "probe %s: %v\n", cmd, err)
		var u usageError
		if errors.As(err, &u) {
			return 2
		}
		return 1
	}
	return 0
}

type usageError string

func (u usageError) Error() string { return "usage: probe " + string(u) }

func serve(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	listen := fs.String("listen", ":8080", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return usageError("serve [--listen ADDR]")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "ok\n")
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }() // ends when Shutdown below closes ln
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	<-done
	return nil
}

func get(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return usageError("get URL")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	fmt.Fprintf(stdout, "%s\n%s\n", resp.Status, strings.TrimSpace(string(body)))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %s", args[0], resp.Status)
	}
	return nil
}

func tcp(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return usageError("tcp HOST:PORT")
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "connected to %s\n", conn.RemoteAddr())
	return conn.Close()
}

func dns(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("dns", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	server := fs.String("server", "", "DNS server HOST:PORT (default: /etc/resolv.conf)")
	// Accept the flag before or after the name.
	var name string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return usageError("dns NAME [--server ADDR]")
		}
		if fs.NArg() == 0 {
			break
		}
		if name != "" {
			return usageError("dns NAME [--server ADDR]")
		}
		name, args = fs.Arg(0), fs.Args()[1:]
	}
	if name == "" {
		return usageError("dns NAME [--server ADDR]")
	}
	r := net.DefaultResolver
	if *server != "" {
		addr := *server
		if _, _, err := net.SplitHostPort(addr); err != nil {
			addr = net.JoinHostPort(addr, "53")
		}
		r = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	addrs, err := r.LookupHost(ctx, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Name: %s\n", name)
	for _, a := range addrs {
		fmt.Fprintf(stdout, "Address: %s\n", a)
	}
	return nil
}

func sleep(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return usageError("sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		return usageError("sleep DURATION (\"5s\")")
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sink keeps the allocation reachable so that the compiler cannot drop it.
var sink []byte

func alloc(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return usageError("alloc SIZE")
	}
	u, err := humanize.ParseBytes(args[0])
	if err != nil || u > 1<<40 {
		return fmt.Errorf("%q is not a size like \"64MiB\"", args[0])
	}
	n := int(u)
	sink = make([]byte, n)
	// Touch every page: untouched pages are not charged to the cgroup.
	for i := 0; i < len(sink); i += 4096 {
		sink[i] = 1
	}
	fmt.Fprintf(stdout, "allocated %d bytes\n", n)
	return nil
}
