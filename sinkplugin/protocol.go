package sinkplugin

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/satellite-hq/satellite/sinkplugin/pb"
)

// ProtocolVersion is the version of the sink plugin protocol. A plugin built
// for another version is refused when it starts, with an error that says so.
const ProtocolVersion = 1

// PluginName is the name the sink is served under in the plugin set.
const PluginName = "sink"

// maxMessageSize bounds one gRPC message: a batch of up to 100,000 records
// (the largest batch_size) must fit, and gRPC's default of 4 MiB would not.
const maxMessageSize = 512 << 20

// Handshake is the go-plugin handshake both sides must agree on. The cookie
// is not a secret: it only lets a plugin run by hand say that it is a plugin
// instead of hanging.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "SATELLITE_PLUGIN",
	MagicCookieValue: "sink-3f6c1e0a9b2d4c57",
}

// logger writes to the plugin's own stderr, which satellite reads and logs
// with the level of each line. It is made at init, before Serve points
// os.Stderr elsewhere.
var logger = hclog.New(&hclog.LoggerOptions{
	Level:      hclog.Trace,
	Output:     os.Stderr,
	JSONFormat: true,
})

// Logger returns the plugin's logger: what it logs shows in satellite's log
// under the plugin's name, at the level it was logged at.
func Logger() hclog.Logger { return logger }

// Serve runs impl as a sink plugin until satellite stops it. Call it from
// main; it exits the process when it was not started by satellite. When impl
// also implements io.Closer, Serve calls Close after the last Write.
func Serve(impl Sink) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         PluginSet(impl),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(maxMessageSize))...)
		},
		Logger: logger,
	})
	if c, ok := impl.(io.Closer); ok {
		if err := c.Close(); err != nil {
			logger.Error("closing the sink failed", "error", err)
		}
	}
}

// PluginSet is the go-plugin plugin set of a sink plugin: impl on the
// plugin's side, nil on the host's.
func PluginSet(impl Sink) plugin.PluginSet {
	return plugin.PluginSet{PluginName: &GRPCPlugin{Impl: impl}}
}

// GRPCPlugin is the go-plugin plugin of a sink: it serves Impl on the
// plugin's side and dispenses a *Client on the host's.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the sink, on the plugin's side only.
	Impl Sink
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers Impl with the plugin's gRPC server.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("sinkplugin: no Sink to serve")
	}
	pb.RegisterSinkServer(s, &server{impl: p.Impl})
	return nil
}

// GRPCClient returns the host's *Client for the plugin's connection. done
// ends when the plugin process exits.
func (p *GRPCPlugin) GRPCClient(done context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &Client{rpc: pb.NewSinkClient(c), done: done}, nil
}

// server adapts a Sink to the gRPC service.
type server struct {
	pb.UnimplementedSinkServer
	impl Sink
}

func (s *server) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	config := req.GetConfig()
	if config == nil {
		config = map[string]string{}
	}
	if err := s.impl.Configure(ctx, config); err != nil {
		// codes.Unknown tells the host the plugin answered, as opposed to a
		// transport failure, whatever code the plugin's own error carries.
		return nil, status.Error(codes.Unknown, err.Error())
	}
	return &pb.ConfigureResponse{}, nil
}

func (s *server) Write(ctx context.Context, req *pb.WriteRequest) (*pb.WriteResponse, error) {
	batch := make([]Record, len(req.GetRecords()))
	for i, r := range req.GetRecords() {
		batch[i] = fromProto(r)
	}
	err := s.impl.Write(ctx, batch)
	var rej *RejectedError
	switch {
	case err == nil:
		return &pb.WriteResponse{}, nil
	case errors.As(err, &rej):
		return &pb.WriteResponse{Rejected: true, Reason: rej.Err.Error()}, nil
	default:
		return nil, status.Error(codes.Unknown, err.Error())
	}
}

func fromProto(r *pb.Record) Record {
	return Record{
		ID:        r.GetId(),
		Time:      r.GetTime().AsTime(),
		Node:      r.GetNode(),
		Check:     r.GetCheck(),
		Type:      r.GetType(),
		Status:    r.GetStatus(),
		RunStatus: r.GetRunStatus(),
		Changed:   r.GetChanged(),
		Previous:  r.GetPrevious(),
		Duration:  r.GetDuration().AsDuration(),
		Metrics:   r.GetMetrics(),
		Error:     r.GetError(),
		Labels:    r.GetLabels(),
	}
}

// Client is the host's end of a running sink plugin, as dispensed by
// go-plugin. Satellite uses it; plugin authors do not need it.
type Client struct {
	rpc  pb.SinkClient
	done context.Context
}

// PluginError is an error the plugin itself returned, as opposed to a
// failure to reach it.
type PluginError struct{ Message string }

// Error returns the plugin's message.
func (e *PluginError) Error() string { return e.Message }

// Configure sends the config map. An error the plugin returned is a
// *PluginError; any other error means the plugin could not be reached.
func (c *Client) Configure(ctx context.Context, config map[string]string) error {
	_, err := c.rpc.Configure(ctx, &pb.ConfigureRequest{Config: config})
	return fromStatus(err)
}

// Write sends a batch. A refusal the plugin marked with Reject is a
// *RejectedError, another error of the plugin's a *PluginError; any other
// error means the plugin could not be reached or did not answer in time.
func (c *Client) Write(ctx context.Context, records []*pb.Record) error {
	resp, err := c.rpc.Write(ctx, &pb.WriteRequest{Records: records})
	if err != nil {
		return fromStatus(err)
	}
	if resp.GetRejected() {
		return Reject(errors.New(resp.GetReason()))
	}
	return nil
}

// Exited is closed when the plugin process has exited.
func (c *Client) Exited() <-chan struct{} { return c.done.Done() }

// fromStatus turns the plugin's own errors (codes.Unknown, see server) into
// a *PluginError and leaves transport errors as gRPC returned them, so that
// status.Code still tells what happened.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	if s, ok := status.FromError(err); ok && s.Code() == codes.Unknown {
		return &PluginError{Message: s.Message()}
	}
	return err
}
