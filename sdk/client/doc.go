// Package client submits topologies to a Gale cluster from Go programs,
// through the Coordinator API of any node: what `gale submit` does, for a
// spec built with sdk.TopologyBuilder (or loaded with sdk.LoadTopology).
//
//	spec, err := b.Build()
//	id, err := client.Submit(ctx, "127.0.0.1:7070", spec, nil)
//
// Build resolves Go classes through this binary's registry: a program
// that does not import the packages registering them (they run in the
// cluster's gale binary) builds with b.BuildWith(nil), and the node
// resolves and checks them at submit. A refused submit's error carries
// the node's gRPC status: status.Code(err) is codes.AlreadyExists for a
// name in use, codes.FailedPrecondition for a name whose topology is
// being killed (submit again once it is gone), codes.InvalidArgument for
// a spec the node rejects (the
// message names the component and what is wrong), codes.Unavailable for
// a node that does not answer.
//
// The other calls of the API (list, status, kill, activate, deactivate,
// rebalance, nodes) are the generated client's, dialled as Submit dials:
// grpc.NewClient(addr, grpc.WithTransportCredentials(sec.Credentials()))
// with sec from security.Load (plaintext when its files are empty), then
// galev1.NewCoordinatorServiceClient(conn); the requests and responses are
// documented in proto/gale/v1/coordinator.proto.
//
// A node with mutual TLS wants a client certificate of the cluster's CA:
// Options.TLS names the files, or GALE_TLS_CA, GALE_TLS_CERT and
// GALE_TLS_KEY do when it is zero (package security).
//
// The Python and TypeScript SDKs have the same call (gale.submit, submit).
package client
