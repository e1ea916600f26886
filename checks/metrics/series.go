package metrics

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// point is one number of the newest scrape for a value: a series' value,
// or one bucket's cumulative count of a histogram series.
type point struct {
	// key names the series (its labels), and for a bucket also its bound.
	key string
	// group names the histogram series a bucket belongs to (key without le).
	group string
	// le is a bucket's upper bound.
	le float64
	v  float64
}

// keySep separates label names and values in keys: it is no part of valid
// UTF-8, so no label value holds it.
const keySep = "\xff"

// wantedFor is what the filter must keep for the values: the lines of the
// series they name, and the # TYPE lines that tell a histogram's samples
// apart. A check without values keeps everything.
func wantedFor(values []valueConfig) *wanted {
	w := &wanted{all: len(values) == 0, families: map[string]bool{}, samples: map[string]bool{}}
	for _, v := range values {
		w.families[v.metric] = true
		if v.kind == kindQuantile {
			w.samples[v.metric+"_bucket"] = true
		} else {
			w.samples[v.metric] = true
		}
	}
	return w
}

// points returns the value's numbers in the exposition: the matching
// series (gauge, rate, increase) or their buckets (histogram_quantile). An
// error names what is missing.
func points(exp *exposition, v *valueConfig) ([]point, error) {
	var pts []point
	var err error
	if v.kind == kindQuantile {
		pts, err = bucketPoints(exp, v)
	} else {
		pts, err = seriesPoints(exp, v)
	}
	if err != nil {
		return nil, err
	}
	return dedupe(pts), nil
}

// dedupe keeps the first of the points with one key: an exposition that
// repeats a series (which Prometheus would reject, sample by sample) counts
// it once.
func dedupe(pts []point) []point {
	seen := make(map[string]struct{}, len(pts))
	out := pts[:0]
	for _, p := range pts {
		if _, dup := seen[p.key]; !dup {
			seen[p.key] = struct{}{}
			out = append(out, p)
		}
	}
	return out
}

// seriesPoints reads the series named by a gauge, rate or increase.
func seriesPoints(exp *exposition, v *valueConfig) ([]point, error) {
	var out []point
	total := 0
	add := func(m *dto.Metric, value float64, extra ...*dto.LabelPair) {
		total++
		if matches(m.GetLabel(), v.match, extra...) {
			out = append(out, point{key: labelKey(m.GetLabel(), extra...), v: value})
		}
	}
	if mf, ok := exp.families[v.metric]; ok {
		switch mf.GetType() {
		case dto.MetricType_COUNTER, dto.MetricType_GAUGE, dto.MetricType_UNTYPED:
			for _, m := range mf.GetMetric() {
				add(m, scalar(m))
			}
		case dto.MetricType_SUMMARY:
			if v.kind != kindGauge || !hasMatcher(v.match, "quantile") {
				return nil, isSummary(v)
			}
			for _, m := range mf.GetMetric() {
				for _, q := range m.GetSummary().GetQuantile() {
					add(m, q.GetValue(), labelPair("quantile", strconv.FormatFloat(q.GetQuantile(), 'g', -1, 64)))
				}
			}
		default:
			return nil, isHistogram(v)
		}
	} else if base, sum, ok := countOrSum(v.metric); ok && isSummaryOrHistogram(exp.families[base]) {
		// NAME_count and NAME_sum of a histogram or summary whose # TYPE
		// line made the parser fold them into it.
		for _, m := range exp.families[base].GetMetric() {
			add(m, countOrSumOf(m, sum))
		}
	} else {
		return nil, missing(exp, v)
	}
	if len(out) == 0 {
		return nil, noMatch(v, total)
	}
	return out, nil
}

// bucketPoints reads the buckets of the histogram a quantile names: a
// histogram family (its # TYPE line said so), or NAME_bucket series with
// an le label (an untyped exposition).
func bucketPoints(exp *exposition, v *valueConfig) ([]point, error) {
	var out []point
	total := 0
	if mf, ok := exp.families[v.metric]; ok {
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		default:
			return nil, fmt.Errorf("%s: %q is a %s, not a histogram", v.name, v.metric, strings.ToLower(mf.GetType().String()))
		}
		for _, m := range mf.GetMetric() {
			total++
			if !matches(m.GetLabel(), v.match) {
				continue
			}
			group := labelKey(m.GetLabel())
			for _, b := range m.GetHistogram().GetBucket() {
				count := float64(b.GetCumulativeCount())
				if b.CumulativeCountFloat != nil {
					count = b.GetCumulativeCountFloat()
				}
				out = append(out, bucketPoint(group, b.GetUpperBound(), count))
			}
		}
	} else if mf, ok := exp.families[v.metric+"_bucket"]; ok {
		for _, m := range mf.GetMetric() {
			total++
			le, rest, ok := cutLe(m.GetLabel())
			if !ok {
				return nil, fmt.Errorf("%s: a series of %s_bucket has no le label (or one that is not a number)", v.name, v.metric)
			}
			if !matches(rest, v.match) {
				continue
			}
			out = append(out, bucketPoint(labelKey(rest), le, scalar(m)))
		}
	} else {
		return nil, missing(exp, v)
	}
	if total == 0 {
		return nil, missing(exp, v)
	}
	if len(out) == 0 {
		return nil, noMatch(v, total)
	}
	return out, nil
}

func bucketPoint(group string, le, count float64) point {
	return point{key: group + keySep + "le" + keySep + strconv.FormatFloat(le, 'g', -1, 64), group: group, le: le, v: count}
}

// missing is the error for a metric with no series in the exposition.
func missing(exp *exposition, v *valueConfig) error {
	name := v.metric
	switch typ := exp.types[name]; {
	case (typ == "histogram" || typ == "gaugehistogram") && v.kind != kindQuantile:
		return isHistogram(v)
	case typ == "summary" && v.kind != kindQuantile:
		return isSummary(v)
	case typ == "counter" && exp.openMetrics && !strings.HasSuffix(name, "_total"):
		return fmt.Errorf("%s: metric %q has no samples: OpenMetrics writes the samples of a counter as %s_total; name that", v.name, name, name)
	case typ != "":
		return fmt.Errorf("%s: metric %q has a # TYPE line (%s) but no samples", v.name, name, typ)
	case v.kind == kindQuantile:
		return fmt.Errorf("%s: no histogram %q (no series %s_bucket) in the scrape", v.name, name, name)
	}
	return fmt.Errorf("%s: metric %q is not in the scrape", v.name, name)
}

func isHistogram(v *valueConfig) error {
	return fmt.Errorf("%s: %q is a histogram: use histogram_quantile with metric = %q, or name its %s_count or %s_sum", v.name, v.metric, v.metric, v.metric, v.metric)
}

func isSummary(v *valueConfig) error {
	return fmt.Errorf("%s: %q is a summary: name its %s_count or %s_sum, or read one quantile with gauge and match = { quantile = \"0.99\" }", v.name, v.metric, v.metric, v.metric)
}

// noMatch is the error for a metric whose series all fail the match.
func noMatch(v *valueConfig, total int) error {
	parts := make([]string, len(v.match))
	for i, m := range v.match {
		parts[i] = fmt.Sprintf("%s=%q", m.name, m.value)
	}
	return fmt.Errorf("%s: none of the %d series of %q matches {%s}", v.name, total, v.metric, strings.Join(parts, ","))
}

// scalar is the value of a counter, gauge or untyped sample.
func scalar(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	default:
		return m.GetUntyped().GetValue()
	}
}

// countOrSum splits NAME_count or NAME_sum into NAME and which one it is.
func countOrSum(name string) (base string, sum, ok bool) {
	if b, found := strings.CutSuffix(name, "_count"); found && b != "" {
		return b, false, true
	}
	if b, found := strings.CutSuffix(name, "_sum"); found && b != "" {
		return b, true, true
	}
	return "", false, false
}

func isSummaryOrHistogram(mf *dto.MetricFamily) bool {
	switch mf.GetType() {
	case dto.MetricType_SUMMARY, dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		return mf != nil
	}
	return false
}

func countOrSumOf(m *dto.Metric, sum bool) float64 {
	if s := m.GetSummary(); s != nil {
		if sum {
			return s.GetSampleSum()
		}
		return float64(s.GetSampleCount())
	}
	h := m.GetHistogram()
	if sum {
		return h.GetSampleSum()
	}
	if h.SampleCountFloat != nil {
		return h.GetSampleCountFloat()
	}
	return float64(h.GetSampleCount())
}

// cutLe returns a bucket series' bound and its other labels.
func cutLe(labels []*dto.LabelPair) (float64, []*dto.LabelPair, bool) {
	for i, l := range labels {
		if l.GetName() == "le" {
			le, err := strconv.ParseFloat(l.GetValue(), 64)
			if err != nil || math.IsNaN(le) {
				return 0, nil, false
			}
			rest := make([]*dto.LabelPair, 0, len(labels)-1)
			rest = append(append(rest, labels[:i]...), labels[i+1:]...)
			return le, rest, true
		}
	}
	return 0, nil, false
}

// matches reports whether a series has every matcher's label value; an
// empty value matches a series without the label. extra are labels the
// parser took off the series (a summary's quantile).
func matches(labels []*dto.LabelPair, match []matcher, extra ...*dto.LabelPair) bool {
	for _, m := range match {
		got := ""
		for _, l := range labels {
			if l.GetName() == m.name {
				got = l.GetValue()
				break
			}
		}
		for _, l := range extra {
			if l.GetName() == m.name {
				got = l.GetValue()
				if a, b, ok := floats(got, m.value); ok && a == b {
					got = m.value // quantile="0.99" matches 0.99 written any way
				}
			}
		}
		if got != m.value {
			return false
		}
	}
	return true
}

func floats(a, b string) (float64, float64, bool) {
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	return x, y, err1 == nil && err2 == nil
}

func hasMatcher(match []matcher, name string) bool {
	for _, m := range match {
		if m.name == name {
			return true
		}
	}
	return false
}

func labelPair(name, value string) *dto.LabelPair {
	return &dto.LabelPair{Name: &name, Value: &value}
}

// labelKey names a series by its labels, sorted by name; labels with an
// empty value are left out, as Prometheus drops them.
func labelKey(labels []*dto.LabelPair, extra ...*dto.LabelPair) string {
	all := labels
	if len(extra) > 0 {
		all = append(slices.Clip(labels), extra...)
	}
	if len(all) == 0 {
		return ""
	}
	sorted := make([]*dto.LabelPair, 0, len(all))
	for _, l := range all {
		if l.GetValue() != "" {
			sorted = append(sorted, l)
		}
	}
	slices.SortFunc(sorted, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	var sb strings.Builder
	for _, l := range sorted {
		sb.WriteString(l.GetName())
		sb.WriteString(keySep)
		sb.WriteString(l.GetValue())
		sb.WriteString(keySep)
	}
	return sb.String()
}
