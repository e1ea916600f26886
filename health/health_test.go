package health

import "testing"

func TestSeverityAndWorse(t *testing.T) {
	for s, want := range map[Status]int{Passing: 0, Warning: 1, Critical: 2, Blocked: 3, Unknown: -1, "": -1} {
		if got := s.Severity(); got != want {
			t.Errorf("%q.Severity() = %d, want %d", s, got, want)
		}
	}
	for _, tc := range []struct{ a, b, want Status }{
		{Passing, Warning, Warning}, {Critical, Warning, Critical}, {Blocked, Critical, Blocked}, {Unknown, Passing, Passing},
	} {
		if got := Worse(tc.a, tc.b); got != tc.want {
			t.Errorf("Worse(%s, %s) = %s, want %s", tc.a, tc.b, got, tc.want)
		}
	}
	if !Critical.Failing() || !Blocked.Failing() || Warning.Failing() || Unknown.Failing() {
		t.Error("Failing: only critical and blocked make a node degraded")
	}
}
