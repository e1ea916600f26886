//go:build race

package engine_test

// raceSlowdown is how much slower the race detector makes evaluation here
// (five to ten times; make test and CI run with -race).
const raceSlowdown = 10
