package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/health"
)

// DefaultClientTimeout bounds one request of a Client: a cluster status
// may ask peers for their probes, which takes a few seconds at worst.
const DefaultClientTimeout = 15 * time.Second

// maxAnswer bounds what a Client reads of an answer: the status document of
// a thousand nodes with their probes is a few MiB.
const maxAnswer = 64 << 20

// ClientOptions configure a Client.
type ClientOptions struct {
	// Token is sent as a bearer token; empty sends none.
	Token string
	// TLS configures https URLs; nil uses the system's roots.
	TLS *tls.Config
	// Timeout bounds each request; default DefaultClientTimeout.
	Timeout time.Duration
}

// Client is a small typed client of the API, for the CLI. It is safe for
// concurrent use.
type Client struct {
	base    string
	token   string
	timeout time.Duration
	hc      *http.Client
}

// ParseAddr reads an agent's address: host:port, a host alone (port 7575),
// or an http or https URL, perhaps with a path prefix (behind a proxy). It
// returns the base URL without a trailing slash.
func ParseAddr(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return "", errors.New("the address is empty")
	}
	if !strings.Contains(addr, "://") {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			// A bare host (an IPv6 one needs brackets to take a port).
			host, port = strings.Trim(addr, "[]"), defaultPort()
		}
		if host == "" {
			return "", fmt.Errorf("%q has no host; write it like 127.0.0.1:7575 or https://node-a:7575", addr)
		}
		addr = "http://" + net.JoinHostPort(host, port)
	}
	u, err := url.Parse(addr)
	switch {
	case err != nil:
		return "", fmt.Errorf("%q is neither host:port nor a URL: %w", addr, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("%q: the scheme must be http or https, not %q", addr, u.Scheme)
	case u.Host == "":
		return "", fmt.Errorf("%q has no host", addr)
	case u.User != nil:
		// A password in a URL ends up in shell history and in messages.
		return "", errors.New("the address must not hold a user or password; give the API token with --token")
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("%q: the address must not have a query or fragment", addr)
	}
	return u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"), nil
}

func defaultPort() string {
	_, port, _ := net.SplitHostPort(dsl.DefaultListen)
	return port
}

// NewClient returns a client of the agent at addr (see ParseAddr).
func NewClient(addr string, opts ClientOptions) (*Client, error) {
	base, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// The agent is usually local: an HTTP(S)_PROXY from the environment
	// would send the token to the proxy.
	tr.Proxy = nil
	if opts.TLS != nil {
		tr.TLSClientConfig = opts.TLS.Clone()
	}
	c := &Client{base: base, token: strings.TrimSpace(opts.Token), timeout: opts.Timeout, hc: &http.Client{Transport: tr}}
	if c.timeout <= 0 {
		c.timeout = DefaultClientTimeout
	}
	// Redirects are not followed: they would carry the token elsewhere.
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c, nil
}

// URL is the agent's base URL, for messages.
func (c *Client) URL() string { return c.base }

// Close releases the client's idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// UnreachableError is a request that got no HTTP answer: the agent is not
// running, the address is wrong, TLS failed, or it timed out.
type UnreachableError struct {
	URL string
	Err error
	// timeout is the client's, for "no answer within 15s".
	timeout time.Duration
}

// Error says which agent, and why in a few words ("connection refused").
func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the agent at %s: %s", e.URL, reason(e.Err, e.timeout))
}

// Unwrap returns the transport's error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// reason shortens a transport error to what a person needs: the errno's text
// rather than "dial tcp 127.0.0.1:7575: connect: connection refused".
func reason(err error, timeout time.Duration) string {
	var (
		errno syscall.Errno
		dns   *net.DNSError
		ne    net.Error
	)
	switch {
	case errors.As(err, &errno):
		return errno.Error()
	case errors.As(err, &dns):
		return "cannot resolve " + dns.Name + ": " + dns.Err
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		if timeout > 0 {
			return "no answer within " + timeout.String()
		}
		return "no answer in time"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// StatusError is an answer other than 2xx, with the API's error message.
type StatusError struct {
	URL     string
	Code    int
	Message string
}

// Error says what the agent answered.
func (e *StatusError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Code)
	}
	return fmt.Sprintf("the agent at %s answered %d: %s", e.URL, e.Code, msg)
}

// do sends one request and returns the body of a 2xx answer.
func (c *Client) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	if body == nil {
		return c.doRaw(ctx, method, path, "", nil)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encoding the request: %w", err)
	}
	return c.doRaw(ctx, method, path, "application/json", bytes.NewReader(b))
}

// doRaw is do with a body of the given content type (none when rd is nil).
func (c *Client) doRaw(ctx context.Context, method, path, contentType string, rd io.Reader) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", path, err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &UnreachableError{URL: c.base, Err: err, timeout: c.timeout}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	switch {
	case err != nil:
		return nil, &UnreachableError{URL: c.base, Err: err, timeout: c.timeout}
	case len(data) > maxAnswer:
		return nil, fmt.Errorf("the agent at %s answered more than %d MiB", c.base, maxAnswer>>20)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		return data, &StatusError{URL: c.base, Code: resp.StatusCode, Message: e.Error}
	}
	return data, nil
}

// get fetches path into v and returns the raw body too.
func (c *Client) get(ctx context.Context, path string, v any) ([]byte, error) {
	data, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("the agent at %s answered %s with what is not the expected JSON: %w", c.base, path, err)
	}
	return data, nil
}

// Status fetches GET /v1/status: the cluster, and the answer as sent.
func (c *Client) Status(ctx context.Context) (health.Cluster, []byte, error) {
	var cs health.Cluster
	raw, err := c.get(ctx, "/v1/status", &cs)
	return cs, raw, err
}

// NodeStatus fetches GET /v1/status?node=NAME: one member, read from it
// now, and the answer as sent.
func (c *Client) NodeStatus(ctx context.Context, name string) (health.Cluster, []byte, error) {
	var cs health.Cluster
	raw, err := c.get(ctx, "/v1/status?node="+url.QueryEscape(name), &cs)
	return cs, raw, err
}

// LocalStatus fetches GET /v1/status/local: this node, and the answer as sent.
func (c *Client) LocalStatus(ctx context.Context) (health.Node, []byte, error) {
	var n health.Node
	raw, err := c.get(ctx, "/v1/status/local", &n)
	return n, raw, err
}

// Members fetches GET /v1/members, and the answer as sent.
func (c *Client) Members(ctx context.Context) ([]health.Member, []byte, error) {
	var ms []health.Member
	raw, err := c.get(ctx, "/v1/members", &ms)
	return ms, raw, err
}

// Keyring fetches GET /v1/keyring; it needs the full token.
func (c *Client) Keyring(ctx context.Context) (KeyringAnswer, error) {
	var a KeyringAnswer
	_, err := c.get(ctx, "/v1/keyring", &a)
	return a, err
}

// KeyringOp sends POST /v1/keyring; it needs the full token.
func (c *Client) KeyringOp(ctx context.Context, op, key string) (KeyringAnswer, error) {
	var a KeyringAnswer
	data, err := c.do(ctx, http.MethodPost, "/v1/keyring", KeyringRequest{Op: op, Key: key})
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal(data, &a); err != nil {
		return a, fmt.Errorf("the agent at %s answered the keyring request with what is not the expected JSON: %w", c.base, err)
	}
	return a, nil
}
