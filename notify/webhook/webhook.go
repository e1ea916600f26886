// Package webhook is the `webhook` notifier type: each message is a JSON
// POST of notify.Message (docs/notify/webhook.md) to a URL, with custom
// headers, and an HMAC-SHA256 signature of the body when a secret is set.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/notify"
)

// Type is the first label of `notifier "webhook" "NAME"`.
const Type = "webhook"

// The headers every request carries.
const (
	// SignatureHeader is "sha256=" and the hex HMAC-SHA256 of the body
	// under the secret; absent without a secret.
	SignatureHeader = "X-Satellite-Signature"
	// MessageIDHeader is the message's ID, the same on every retry.
	MessageIDHeader = "X-Satellite-Message-Id"
)

// DefaultTimeout bounds one request.
const DefaultTimeout = 10 * time.Second

// maxAnswer is how much of an answer is kept for the receipt.
const maxAnswer = 4 << 10

var spec = hcldec.ObjectSpec{
	"url":         &hcldec.AttrSpec{Name: "url", Type: cty.String},
	"url_file":    &hcldec.AttrSpec{Name: "url_file", Type: cty.String},
	"headers":     &hcldec.AttrSpec{Name: "headers", Type: cty.Map(cty.String)},
	"secret":      &hcldec.AttrSpec{Name: "secret", Type: cty.String},
	"secret_file": &hcldec.AttrSpec{Name: "secret_file", Type: cty.String},
	"timeout":     &hcldec.AttrSpec{Name: "timeout", Type: cty.DynamicPseudoType},
}

func init() {
	notify.Register(&notify.Registration{
		Type:  Type,
		Spec:  spec,
		Build: build,
		Doc:   "POSTs each message as versioned JSON, signed with HMAC-SHA256 when a secret is set.",
	})
}

// Webhook is a built `notifier "webhook"` block.
type Webhook struct {
	url     string
	headers map[string]string
	secret  []byte
	timeout time.Duration
	client  *http.Client
}

// String describes the notifier without its URL's path and query (a token
// often lives there) or its secret.
func (w *Webhook) String() string {
	host := "?"
	if u, err := url.Parse(w.url); err == nil {
		host = u.Scheme + "://" + u.Host
	}
	return fmt.Sprintf("webhook{url=%s/... headers=%d signed=%v}", host, len(w.headers), len(w.secret) > 0)
}

// GoString keeps secrets out of %#v as well.
func (w *Webhook) GoString() string { return w.String() }

func build(cfg cty.Value, env notify.Env) (notify.Notifier, hcl.Diagnostics) {
	if !cfg.IsWhollyKnown() {
		return nil, nil // validate --unknown-env: nothing to check yet
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	w := &Webhook{timeout: DefaultTimeout, headers: map[string]string{}}
	ok := true

	raw, have := notify.SecretAttr(a, "url", "url_file", env.BaseDir, &ok)
	switch {
	case !have && ok:
		a.Errorf("", "Missing url", "A webhook notifier needs url (or url_file, for a URL holding a token).")
		ok = false
	case have:
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// Never echo the URL: it may hold a token.
			a.Errorf(notify.FirstSet(a, "url", "url_file"), "Invalid url", "The webhook URL must be an absolute http:// or https:// URL.")
			ok = false
		} else {
			w.url = u.String()
		}
	}

	if h, set := a.StringMap("headers"); set {
		for k, v := range h {
			if k == "" || textproto.CanonicalMIMEHeaderKey(k) == "" || strings.ContainsAny(k, " \t\r\n:") {
				a.Errorf("headers", "Invalid header name", "Header name %q is not a valid HTTP header name.", k)
				ok = false
				continue
			}
			if strings.ContainsAny(v, "\r\n") {
				a.Errorf("headers", "Invalid header value", "The value of header %q contains a line break, which an HTTP header cannot carry.", k)
				ok = false
				continue
			}
			switch textproto.CanonicalMIMEHeaderKey(k) {
			case "Content-Type", "Content-Length", "Host", SignatureHeader, MessageIDHeader:
				a.Errorf("headers", "Reserved header", "Header %q is set by satellite itself.", k)
				ok = false
				continue
			}
			w.headers[k] = v
		}
	}

	if s, have := notify.SecretAttr(a, "secret", "secret_file", env.BaseDir, &ok); have {
		if s == "" {
			a.Errorf(notify.FirstSet(a, "secret", "secret_file"), "Empty secret", "The signing secret is empty; remove it to send unsigned requests.")
			ok = false
		}
		w.secret = []byte(s)
	}

	w.timeout = notify.TimeoutAttr(a, w.timeout, &ok)
	if !ok || a.Diags.HasErrors() {
		return nil, a.Diags
	}
	return New(w.url, w.headers, w.secret, w.timeout), a.Diags
}

// New is a webhook notifier posting to url with extra headers, signed
// with secret when it is not empty.
func New(url string, headers map[string]string, secret []byte, timeout time.Duration) *Webhook {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Webhook{url: url, headers: headers, secret: secret, timeout: timeout, client: &http.Client{Timeout: timeout}}
}

// Sign is the value of SignatureHeader for body under secret: how a
// receiver checks a request (docs/notify/webhook.md).
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Send POSTs m. A 2xx is delivered; a 4xx but 408 and 429 is a rejection.
func (w *Webhook) Send(ctx context.Context, m *notify.Message) (notify.Receipt, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return notify.Receipt{}, notify.Reject(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return notify.Receipt{}, notify.Reject(err)
	}
	for k, v := range w.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "satellite")
	req.Header.Set(MessageIDHeader, m.ID)
	if len(w.secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(w.secret, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return notify.Receipt{}, redactURL(err)
	}
	defer resp.Body.Close()
	ans, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	r := notify.Receipt{Status: resp.StatusCode, Body: string(ans)}
	if resp.StatusCode/100 != 2 {
		return r, notify.HTTPError(resp.StatusCode, strings.TrimSpace(string(ans)))
	}
	return r, nil
}

// redactURL drops the URL from a client error (*url.Error prints it whole,
// token and all).
func redactURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
