package influxdb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	http2 "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/satellite-hq/satellite/sinks"
)

const (
	// MaxRecordsPerRequest bounds one write request (twice as many points
	// at most, with state changes). A batch_size of up to 100000 would
	// otherwise make bodies past InfluxDB's default 25 MB max-body-size.
	// Splitting is safe: a batch written again after a partial success
	// stores the same points, not new ones.
	MaxRecordsPerRequest = 5000
	// Parallelism is how many requests one Write sends at once. InfluxDB
	// handles concurrent writes on several cores, while one request is
	// parsed and indexed on one; order does not matter to it, since every
	// point has its time.
	Parallelism = 4
	// minRecordsPerRequest keeps small batches in one request: below it,
	// a request's fixed cost outweighs what parallel requests gain.
	minRecordsPerRequest = 500
	// pingTimeout bounds Open's ping, which only informs the log.
	pingTimeout = 5 * time.Second
)

// Sink writes records to InfluxDB. It is a sinks.Sink and is safe for
// concurrent use.
type Sink struct {
	cfg           Config
	client        influxdb2.Client
	writer        api.WriteAPIBlocking
	transport     *http.Transport
	check, change string

	mu     sync.RWMutex // guards closed; Write holds it shared
	closed bool
}

var _ sinks.Sink = (*Sink)(nil)

// Open returns the sink, as OpenLogged does, with the logger of ctx
// (hclog.WithContext), where the agent puts the sink's own logger.
func (c *Config) Open(ctx context.Context) (sinks.Sink, error) {
	return c.OpenLogged(ctx, hclog.FromContext(ctx))
}

// OpenLogged returns the sink (a *Sink) and pings the server. A server that
// does not answer is logged, not an error: the agent skips a sink whose Open
// fails, which would lose its results, while a sink that is open queues
// (spools) them and delivers them once the server is back. It fails only
// when ctx is already done. log may be nil; Open takes it from ctx
// (hclog.WithContext), where the agent puts the sink's logger.
func (c *Config) OpenLogged(ctx context.Context, log hclog.Logger) (sinks.Sink, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("opening influxdb sink: %w", err)
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	s := newSink(*c)

	pctx, cancel := context.WithTimeout(ctx, min(pingTimeout, s.cfg.Timeout))
	defer cancel()
	if _, err := s.client.Ping(pctx); err != nil {
		log.Warn("InfluxDB does not answer; results are queued until it does", "url", c.URL, "error", s.redact(err.Error()))
	} else {
		log.Debug("InfluxDB answers", "url", c.URL, "bucket", c.Bucket)
	}
	return s, nil
}

func newSink(cfg Config) *Sink {
	if cfg.Timeout <= 0 { // a Config made by hand rather than by Build
		cfg.Timeout = DefaultTimeout
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		MaxIdleConns:          Parallelism,
		MaxIdleConnsPerHost:   Parallelism,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if strings.HasPrefix(cfg.URL, "https://") {
		// The TLS dial reads the files for each new connection, so that a
		// rotated CA or client certificate is used without a reload, and a
		// file missing now fails writes (which are retried), not Open.
		tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return cfg.TLS.Dial(ctx, dialer.DialContext, network, addr)
		}
	}
	opts := influxdb2.DefaultOptions().
		SetHTTPClient(&http.Client{Transport: tr}).
		SetApplicationName("satellite").
		// The blocking write API does not retry, and its batch size only
		// matters for the non-blocking one; both are set so that nobody
		// reading this wonders. Our Writer and spool retry, in order.
		SetMaxRetries(0).
		SetBatchSize(MaxRecordsPerRequest).
		SetPrecision(time.Nanosecond)
	client := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	check, change := cfg.Measurements()
	return &Sink{
		cfg:       cfg,
		client:    client,
		writer:    client.WriteAPIBlocking(cfg.Org, cfg.Bucket),
		transport: tr,
		check:     check,
		change:    change,
	}
}

// Write stores the batch: a point per record in the check measurement, and
// one in the state-change measurement for each record that changed state.
// A large batch goes in several requests, up to Parallelism at a time. An
// answer the server will give again to the same points (HTTP 4xx other
// than 401, 403, 404, 408 and 429, or points that cannot be encoded) is a
// sinks.Reject error; anything else is a plain error, to be retried.
func (s *Sink) Write(ctx context.Context, batch []sinks.Record) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errors.New("influxdb sink is closed")
	}
	size := chunkSize(len(batch))
	if len(batch) <= size {
		return s.writeChunk(ctx, batch, 0, len(batch))
	}
	n := (len(batch) + size - 1) / size
	errs := make([]error, n)
	sem := make(chan struct{}, Parallelism)
	var wg sync.WaitGroup
	for i := range n {
		lo, hi := i*size, min((i+1)*size, len(batch))
		sem <- struct{}{} // a request in flight ends within Timeout
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = s.writeChunk(ctx, batch, lo, hi)
		})
	}
	wg.Wait()
	return chunkErrors(errs)
}

// chunkSize is how many records go in one request: the batch spread over
// Parallelism requests, within the bounds.
func chunkSize(n int) int {
	return min(MaxRecordsPerRequest, max(minRecordsPerRequest, (n+Parallelism-1)/Parallelism))
}

// chunkErrors makes one error of the requests' errors. It is a rejection
// only when every failed request was rejected: a request that may succeed
// when retried must have the batch retried, and the rejected part is then
// rejected again, once the rest has gone through.
func chunkErrors(errs []error) error {
	var failed []error
	firstPlain := -1
	for _, err := range errs {
		if err == nil {
			continue
		}
		if firstPlain < 0 && !sinks.IsRejected(err) {
			firstPlain = len(failed)
		}
		failed = append(failed, err)
	}
	switch {
	case len(failed) == 0:
		return nil
	case firstPlain >= 0:
		return fmt.Errorf("%d of %d requests failed: %w", len(failed), len(errs), failed[firstPlain])
	default:
		return fmt.Errorf("%d of %d requests failed: %w", len(failed), len(errs), failed[0])
	}
}

// writeChunk writes batch[lo:hi] in one request.
func (s *Sink) writeChunk(ctx context.Context, batch []sinks.Record, lo, hi int) error {
	if lo == hi {
		return nil
	}
	e := getEncoder()
	defer putEncoder(e)
	for i := lo; i < hi; i++ {
		err := e.result(s.check, &batch[i])
		if err == nil && batch[i].Changed {
			err = e.change(s.change, &batch[i])
		}
		if err != nil {
			// The same record would fail the same way.
			return sinks.Reject(fmt.Errorf("encoding record %d of %d (check %s): %w", i+1, len(batch), batch[i].Check, err))
		}
	}
	if err := s.writeLines(ctx, e.buf.String()); err != nil {
		return fmt.Errorf("writing records %d-%d of %d to bucket %q: %w", lo+1, hi, len(batch), s.cfg.Bucket, err)
	}
	return nil
}

// writeLines sends line protocol in one request and sorts its failure into
// a rejection or a retryable error.
func (s *Sink) writeLines(ctx context.Context, lines string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	err := s.writer.WriteRecord(ctx, lines)
	if err == nil {
		return nil
	}
	var he *http2.Error
	if !errors.As(err, &he) {
		return fmt.Errorf("writing: %s", s.redact(err.Error()))
	}
	if he.StatusCode == 0 {
		// No answer: connection refused, reset, timeout. Keep the cause
		// (context.DeadlineExceeded ...) for errors.Is.
		return &writeError{msg: s.redact(he.Error()), cause: s.cause(he)}
	}
	e := &writeError{status: he.StatusCode, msg: fmt.Sprintf("InfluxDB at %s answered HTTP %d: %s", s.cfg.URL, he.StatusCode, s.redact(serverMessage(he)))}
	if rejected(he.StatusCode) {
		return sinks.Reject(e)
	}
	return e
}

// rejected reports whether an HTTP status means the points themselves are
// refused, so that writing them again would fail again. 401, 403 and 404
// (a wrong token, a bucket or database not created yet) are about the
// sink's settings or the server, not the points: retrying them until an
// operator fixes it loses nothing, while dead-lettering would set aside
// every result meanwhile. 408 and 429 ask to try again later.
func rejected(status int) bool {
	if status < 400 || status >= 500 {
		return false
	}
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
		http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return true
}

// serverMessage is the server's explanation: InfluxDB 2.x answers JSON
// {code, message}, 1.8 {"error": ...}, which the client does not decode but
// also puts in the X-Influxdb-Error header.
func serverMessage(he *http2.Error) string {
	if he.Message != "" {
		return he.Message
	}
	if he.Header != nil {
		if m := he.Header.Get("X-Influxdb-Error"); m != "" {
			return m
		}
	}
	if he.Err != nil {
		return he.Err.Error()
	}
	return http.StatusText(he.StatusCode)
}

// redact keeps the token out of a message. The client never puts it in one
// (it travels in the Authorization header), but an error passes through
// proxies and libraries this package does not control.
func (s *Sink) redact(msg string) string {
	if s.cfg.Token == "" {
		return msg
	}
	return strings.ReplaceAll(msg, s.cfg.Token, "(sensitive)")
}

// cause is he's underlying error when its message cannot leak the token.
func (s *Sink) cause(he *http2.Error) error {
	if he.Err == nil || (s.cfg.Token != "" && strings.Contains(he.Err.Error(), s.cfg.Token)) {
		return nil
	}
	return he.Err
}

// writeError is a failed write, with the server's status when it answered.
type writeError struct {
	status int
	msg    string
	cause  error
}

func (e *writeError) Error() string { return e.msg }
func (e *writeError) Unwrap() error { return e.cause }

// StatusCode returns the HTTP status of a failed write, or 0 when the
// server did not answer.
func StatusCode(err error) int {
	var we *writeError
	if errors.As(err, &we) {
		return we.status
	}
	return 0
}

// Close releases the connections. A Write in progress finishes first.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.client.Close()
	s.transport.CloseIdleConnections()
	return nil
}
