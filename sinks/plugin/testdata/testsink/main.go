// Command testsink is a sink plugin that misbehaves on purpose, for the
// tests of sinks/plugin; config "mode" picks how:
//
//	ok     stores nothing and succeeds
//	fail   Write returns an error (the plugin's backend is down)
//	crash  Write exits the process
//	hang   Write never returns, whatever its context says
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/satellite-hq/satellite/sinkplugin"
)

type testSink struct{ mode string }

func (s *testSink) Configure(_ context.Context, config map[string]string) error {
	switch m := config["mode"]; m {
	case "ok", "fail", "crash", "hang":
		s.mode = m
		return nil
	default:
		return fmt.Errorf("unknown mode %q", m)
	}
}

func (s *testSink) Write(context.Context, []sinkplugin.Record) error {
	switch s.mode {
	case "fail":
		return errors.New("backend down")
	case "crash":
		os.Exit(3)
	case "hang":
		select {}
	}
	return nil
}

func main() { sinkplugin.Serve(&testSink{}) }
