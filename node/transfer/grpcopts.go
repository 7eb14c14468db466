package transfer

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// HTTP/2 settings for connections that carry Transfer streams, and the
// largest message a node receives (MaxMessageBytes, framesize.go). A node's
// one port serves the Coordinator API and Transfer alike, so
// coordinator.DialOptions and ServerOptions include these for every
// connection; the raw stream baseline uses them too, so that it is the
// same gRPC tuned the same way.
//
// gRPC's defaults start each stream and connection with a 64 KiB window
// that its bandwidth estimator grows by pinging, and read and write
// through 32 KiB buffers. Transfer streams have their own flow control
// (credit per destination task, credit.go) that bounds what is in flight,
// and the receiver never stops reading them, so a fixed window larger than
// a busy stream's traffic in flight removes the window updates and pings
// without buffering more; larger buffers take a burst of frames in fewer
// system calls (which were a tenth of the nodes' CPU in the cluster
// benchmark). Measured there, alternating four runs each: word count
// x1.07-1.17, pass-through x1.04-1.13 in tuples/s.
const (
	streamWindow = 1 << 20   // per stream
	connWindow   = 4 << 20   // per connection
	ioBuffer     = 256 << 10 // read and write buffers
)

// DialOptions are the HTTP/2 settings of a client connection that carries
// Transfer streams, and its reconnect backoff: at most 1 s between tries,
// where gRPC's default grows to two minutes, so that a node restarted
// after a crash was unreachable from the others for half a minute while
// the leader already gave it tasks.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithInitialWindowSize(streamWindow), grpc.WithInitialConnWindowSize(connWindow),
		grpc.WithWriteBufferSize(ioBuffer), grpc.WithReadBufferSize(ioBuffer),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	}
}

// ServerOptions are the HTTP/2 settings of a server that accepts Transfer
// streams, and its codec (frameCodec).
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.InitialWindowSize(streamWindow), grpc.InitialConnWindowSize(connWindow),
		grpc.WriteBufferSize(ioBuffer), grpc.ReadBufferSize(ioBuffer),
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		serverCodec(),
	}
}
