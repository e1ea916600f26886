package influxdb

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	lp "github.com/influxdata/line-protocol"

	"github.com/satellite-hq/satellite/sinks"
)

// Tag keys of both measurements; the check measurement adds TagStatus.
const (
	TagNode   = "node"
	TagCheck  = "check"
	TagType   = "type"
	TagStatus = "status"
)

// Field keys of the check measurement. Metrics are fields too, under their
// own names.
const (
	// FieldDuration is the run's duration in milliseconds.
	FieldDuration = "duration_ms"
	// FieldSeverity is the state as a number (see Severity), for graphs.
	FieldSeverity = "severity"
	// FieldRunStatus is this run's own status, before hysteresis.
	FieldRunStatus = "run_status"
	// FieldError is the run's error, only when there is one.
	FieldError = "error"
)

// Field keys of the state-change measurement (besides FieldSeverity and
// FieldError). Not "from" and "to": FROM is an InfluxQL keyword.
const (
	FieldFrom = "from_status"
	FieldTo   = "to_status"
)

// Prefixes that keep labels and metrics from taking the name of one of our
// own tags or fields.
const (
	LabelPrefix  = "label_"
	MetricPrefix = "metric_"
)

// reserved are the tag and field keys a label or metric may not take as
// they are: ours, "time" (InfluxDB refuses it as a key) and Flux's columns.
var reserved = map[string]bool{
	TagNode: true, TagCheck: true, TagType: true, TagStatus: true,
	FieldDuration: true, FieldSeverity: true, FieldRunStatus: true, FieldError: true,
	FieldFrom: true, FieldTo: true, "time": true,
}

// key returns name, or prefix+name when name is reserved or starts with
// "_" (InfluxDB's own names, such as _measurement and _field).
func key(prefix, name string) string {
	if reserved[name] || strings.HasPrefix(name, "_") {
		return prefix + name
	}
	return name
}

// encoder turns records into line protocol with line-protocol's Encoder,
// the one the client's WritePoint uses. It builds each point in slices it
// reuses rather than as a write.Point, which costs some thirty allocations
// per record: at tens of thousands of results per second that was the
// sink's main cost. An encoder is used by one goroutine at a time.
type encoder struct {
	buf    bytes.Buffer
	enc    *lp.Encoder
	m      metric
	tags   []lp.Tag
	fields []lp.Field
}

var encoders = sync.Pool{New: func() any {
	e := &encoder{}
	e.enc = lp.NewEncoder(&e.buf)
	// As the client's own encoder: fail rather than drop a field silently.
	e.enc.FailOnFieldErr(true)
	e.enc.SetFieldTypeSupport(lp.UintSupport)
	e.enc.SetPrecision(time.Nanosecond)
	return e
}}

// maxPooledBuffer keeps an encoder that wrote a huge batch out of the pool.
const maxPooledBuffer = 8 << 20

func getEncoder() *encoder { return encoders.Get().(*encoder) }

func putEncoder(e *encoder) {
	if e.buf.Cap() > maxPooledBuffer {
		return
	}
	e.buf.Reset()
	encoders.Put(e)
}

// metric is one point, as line-protocol's Encoder reads it.
type metric struct {
	name   string
	time   time.Time
	tags   []*lp.Tag
	fields []*lp.Field
}

func (m *metric) Name() string           { return m.name }
func (m *metric) Time() time.Time        { return m.time }
func (m *metric) TagList() []*lp.Tag     { return m.tags }
func (m *metric) FieldList() []*lp.Field { return m.fields }

// result appends the check measurement's point for r. Every number is a
// float64, so that a metric that is whole in one run and fractional in the
// next never makes a field-type conflict. Its time is the run's start to the
// nanosecond: the same record always makes the same series and time, so
// writing it again replaces the point instead of adding one.
func (e *encoder) result(measurement string, r *sinks.Record) error {
	e.start()
	e.addLabels(r.Labels)
	e.tag(TagNode, r.Node)
	e.tag(TagCheck, r.Check)
	e.tag(TagType, r.Type)
	e.tag(TagStatus, string(r.Status))

	e.field(FieldDuration, float64(r.Duration)/float64(time.Millisecond))
	e.field(FieldSeverity, float64(r.Status.Severity()))
	e.field(FieldRunStatus, string(r.RunStatus))
	if r.Error != "" {
		e.field(FieldError, r.Error)
	}
	for name, v := range r.Metrics {
		// Line protocol has no NaN or infinity, and the encoder fails the
		// whole request on one: leave the field out of this point.
		if math.IsNaN(v) || math.IsInf(v, 0) || !encodableKey(name) {
			continue
		}
		k := key(MetricPrefix, name)
		if _, taken := r.Metrics[k]; taken && k != name {
			continue // a metric has the prefixed name already: it wins
		}
		e.field(k, v)
	}
	return e.finish(measurement, r.Time)
}

// change appends the state-change measurement's point for r.
func (e *encoder) change(measurement string, r *sinks.Record) error {
	e.start()
	e.addLabels(r.Labels)
	e.tag(TagNode, r.Node)
	e.tag(TagCheck, r.Check)
	e.tag(TagType, r.Type)
	e.field(FieldFrom, string(r.Previous))
	e.field(FieldTo, string(r.Status))
	e.field(FieldSeverity, float64(r.Status.Severity()))
	if r.Error != "" {
		e.field(FieldError, r.Error)
	}
	return e.finish(measurement, r.Time)
}

func (e *encoder) start() {
	e.tags = e.tags[:0]
	e.fields = e.fields[:0]
}

func (e *encoder) tag(k, v string) { e.tags = append(e.tags, lp.Tag{Key: k, Value: tagValue(v)}) }

func (e *encoder) field(k string, v any) { e.fields = append(e.fields, lp.Field{Key: k, Value: v}) }

// addLabels adds the labels as tags. The encoder leaves out empty values.
func (e *encoder) addLabels(labels map[string]string) {
	for name, v := range labels {
		if !encodableKey(name) {
			continue
		}
		k := key(LabelPrefix, name)
		if _, taken := labels[k]; taken && k != name {
			continue // a label has the prefixed name already: it wins
		}
		e.tag(k, v)
	}
}

// finish sorts the tags and fields, so that a record always makes the same
// line, and encodes the point. The pointers are taken only now: appending
// may have moved the slices.
func (e *encoder) finish(measurement string, at time.Time) error {
	slices.SortFunc(e.tags, func(a, b lp.Tag) int { return strings.Compare(a.Key, b.Key) })
	slices.SortFunc(e.fields, func(a, b lp.Field) int { return strings.Compare(a.Key, b.Key) })
	e.m.name, e.m.time = measurement, at
	e.m.tags = e.m.tags[:0]
	for i := range e.tags {
		e.m.tags = append(e.m.tags, &e.tags[i])
	}
	e.m.fields = e.m.fields[:0]
	for i := range e.fields {
		e.m.fields = append(e.m.fields, &e.fields[i])
	}
	_, err := e.enc.Encode(&e.m)
	return err
}

// tagValue drops trailing backslashes, which the encoder does not escape
// and which would escape the separator after the value, so that the server
// could not parse the line (and would refuse the batch).
func tagValue(v string) string {
	return strings.TrimRight(v, `\`)
}

// encodableKey reports whether the line-protocol encoder can write name as
// a key: it fails the batch on a field key it cannot, and leaves out a tag.
func encodableKey(name string) bool {
	return name != "" && !strings.HasSuffix(name, `\`)
}
