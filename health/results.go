package health

import (
	"context"
	"time"
)

// ResultQuery selects a check's results from a history, downsampled to one
// bucket per Step (GET /v1/history/results).
type ResultQuery struct {
	// Node is the node whose runs are read (each node keeps its own).
	Node string
	// Check is the check's address.
	Check string
	// Since and Until are the time range, [Since, Until); a zero Since or
	// Until leaves that end open.
	Since, Until time.Time
	// Step is the width of a bucket; buckets are aligned to multiples of it
	// since the Unix epoch. It must be above zero.
	Step time.Duration
}

// MetricSeries is one metric of a ResultSeries: its smallest, mean and
// largest value in each bucket, nil where no run of the bucket had it.
type MetricSeries struct {
	Min []*float64 `json:"min"`
	Avg []*float64 `json:"avg"`
	Max []*float64 `json:"max"`
}

// ResultSeries is a check's downsampled results, in columns (as the
// dashboard's charts take them): element i of every slice is the bucket
// starting at Times[i]. Only buckets with at least one run are listed.
// Times, Runs, Failing and Metrics are never nil, so that an empty series is
// `"times":[]` and `"metrics":{}` in JSON.
type ResultSeries struct {
	Check string    `json:"check"`
	Node  string    `json:"node"`
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// StepSeconds is the query's Step.
	StepSeconds float64 `json:"step_seconds"`
	// Times are the starts of the buckets, in Unix seconds, ascending.
	Times []float64 `json:"times"`
	// Runs counts the runs of each bucket.
	Runs []int `json:"runs"`
	// Failing counts the runs of each bucket whose status (after
	// thresholds) was warning, critical or blocked.
	Failing []int `json:"failing"`
	// Metrics holds each metric's series by name; non-finite values are
	// left out.
	Metrics map[string]MetricSeries `json:"metrics"`
}

// ResultStore is a history whose results can be read downsampled: the
// agent's local SQLite history implements it, for the API.
type ResultStore interface {
	// Results returns the results matching q, one bucket per q.Step.
	Results(ctx context.Context, q ResultQuery) (ResultSeries, error)
}

// autoSteps are the round steps AutoStep picks from, shortest first.
var autoSteps = []time.Duration{
	time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// autoMaxBuckets is the most buckets AutoStep's step makes over its span.
const autoMaxBuckets = 300

// AutoStep returns the step a results query over span takes when none is
// given: the shortest round step (1s, 5s, 10s, 30s, 1m, 2m, 5m, 10m, 15m,
// 30m, 1h, 2h, 3h, 6h, 12h, 24h) that makes at most 300 buckets of span,
// and 24h for any longer span.
func AutoStep(span time.Duration) time.Duration {
	for _, s := range autoSteps {
		if span <= autoMaxBuckets*s {
			return s
		}
	}
	return autoSteps[len(autoSteps)-1]
}
