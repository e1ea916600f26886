package heartbeatcheck

import (
	"testing"

	"github.com/satellite-hq/satellite/checks/checktest"
)

// The helpers every check type's tests share (checks/checktest).
var (
	compile      = checktest.Compile
	mustCompile  = checktest.MustCompile
	mustCheck    = checktest.MustCheck
	run          = checktest.Run
	expired      = checktest.Expired
	wantDiag     = checktest.WantDiag
	wantCritical = checktest.WantCritical
	wantPassing  = checktest.WantPassing
)

func TestSample(t *testing.T)      { checktest.Sample(t, Type) }
func TestDocExamples(t *testing.T) { checktest.DocExamples(t, Type) }
