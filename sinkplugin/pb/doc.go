// Package pb is the Go code protoc generates from sink.proto, the protocol
// between satellite and its sink plugins (`make proto` regenerates it).
// Plugins written in Go use the sinkplugin package rather than this one.
package pb
