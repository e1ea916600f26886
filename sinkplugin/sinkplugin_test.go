package sinkplugin

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/satellite-hq/satellite/sinkplugin/pb"
)

func TestReject(t *testing.T) {
	if Reject(nil) != nil {
		t.Error("Reject(nil) is not nil")
	}
	base := errors.New("field type conflict")
	err := fmt.Errorf("batch 3: %w", Reject(base))
	if !IsRejected(err) || !errors.Is(err, base) {
		t.Errorf("IsRejected(%v) = false, or the cause is lost", err)
	}
	if IsRejected(base) {
		t.Error("a plain error counts as rejected")
	}
}

// recorder is a Sink that keeps what it gets and returns err from Write.
type recorder struct {
	config map[string]string
	got    []Record
	err    error
}

func (r *recorder) Configure(_ context.Context, c map[string]string) error {
	r.config = c
	return r.err
}

func (r *recorder) Write(_ context.Context, b []Record) error {
	r.got = append(r.got, b...)
	return r.err
}

// The server side turns the messages into Records and the plugin's errors
// into what the host tells apart: a rejection in the response, any other
// error as codes.Unknown.
func TestServer(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 11, 25, 12, 0, 0, 42, time.UTC)
	msg := &pb.Record{
		Id: "00000000000000ff", Time: timestamppb.New(at), Node: "n", Check: `http.a["x"]`, Type: "http",
		Status: "critical", RunStatus: "critical", Changed: true, Previous: "passing",
		Duration: durationpb.New(1500 * time.Millisecond), Metrics: map[string]float64{"m": 1.5},
		Error: "refused", Labels: map[string]string{"team": "core"},
	}
	want := Record{
		ID: "00000000000000ff", Time: at, Node: "n", Check: `http.a["x"]`, Type: "http",
		Status: "critical", RunStatus: "critical", Changed: true, Previous: "passing",
		Duration: 1500 * time.Millisecond, Metrics: map[string]float64{"m": 1.5},
		Error: "refused", Labels: map[string]string{"team": "core"},
	}

	r := &recorder{}
	s := &server{impl: r}
	if _, err := s.Configure(ctx, &pb.ConfigureRequest{}); err != nil || r.config == nil {
		t.Fatalf("Configure: %v; config %v, want an empty map", err, r.config)
	}
	resp, err := s.Write(ctx, &pb.WriteRequest{Records: []*pb.Record{msg}})
	if err != nil || resp.GetRejected() {
		t.Fatalf("Write: %v %v", resp, err)
	}
	g := r.got[0]
	if len(r.got) != 1 || g.ID != want.ID || !g.Time.Equal(want.Time) || g.Node != want.Node || g.Check != want.Check ||
		g.Type != want.Type || g.Status != want.Status || g.RunStatus != want.RunStatus || g.Changed != want.Changed ||
		g.Previous != want.Previous || g.Duration != want.Duration || g.Metrics["m"] != 1.5 || g.Error != want.Error ||
		g.Labels["team"] != "core" {
		t.Errorf("got %+v, want %+v", r.got, want)
	}

	r.err = Reject(errors.New("bad field"))
	resp, err = s.Write(ctx, &pb.WriteRequest{Records: []*pb.Record{msg}})
	if err != nil || !resp.GetRejected() || resp.GetReason() != "bad field" {
		t.Errorf("Write of a rejected batch: %v %v", resp, err)
	}

	// Even an error that carries a gRPC code of its own must not look like
	// a transport failure to the host.
	r.err = status.Error(codes.Unavailable, "backend down")
	_, err = s.Write(ctx, &pb.WriteRequest{})
	if status.Code(err) != codes.Unknown {
		t.Errorf("Write's error has code %s, want Unknown", status.Code(err))
	}
	var perr *PluginError
	if !errors.As(fromStatus(err), &perr) || perr.Message != r.err.Error() {
		t.Errorf("fromStatus(%v) = %v, want a PluginError", err, fromStatus(err))
	}
	if _, err := s.Configure(ctx, &pb.ConfigureRequest{}); status.Code(err) != codes.Unknown {
		t.Errorf("Configure's error has code %s, want Unknown", status.Code(err))
	}
	if err := fromStatus(status.Error(codes.Unavailable, "EOF")); status.Code(err) != codes.Unavailable {
		t.Errorf("a transport error became %v", err)
	}
}
