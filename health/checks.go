package health

// CheckConfig is a check as this node compiled it (GET /v1/checks): what
// the dashboard's check page shows next to its history.
type CheckConfig struct {
	// Address is TYPE.NAME or TYPE.NAME["key"].
	Address string `json:"address"`
	Type    string `json:"type"`
	// IntervalSeconds and TimeoutSeconds are the run's schedule.
	IntervalSeconds float64 `json:"interval_seconds"`
	TimeoutSeconds  float64 `json:"timeout_seconds"`
	// Runs is false for a check that only_on keeps off this node.
	Runs                   bool              `json:"runs"`
	OnlyOn                 map[string]string `json:"only_on,omitempty"`
	DependsOn              []string          `json:"depends_on"`
	Labels                 map[string]string `json:"labels"`
	Notify                 []string          `json:"notify"`
	Sinks                  []string          `json:"sinks"`
	FailuresBeforeCritical int               `json:"failures_before_critical"`
	SuccessesBeforePassing int               `json:"successes_before_passing"`
	Thresholds             []ThresholdConfig `json:"thresholds"`
	// File and Line are where the check block starts.
	File string `json:"file"`
	Line int    `json:"line"`
}

// ThresholdConfig is one threshold of a check: Warn and Crit are nil when
// not set; Direction is "above" (high values are bad) or "below".
type ThresholdConfig struct {
	Metric    string   `json:"metric"`
	Warn      *float64 `json:"warn,omitempty"`
	Crit      *float64 `json:"crit,omitempty"`
	Direction string   `json:"direction"`
}
