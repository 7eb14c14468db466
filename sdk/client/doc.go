// Package client submits topologies to a Gale cluster from Go programs,
// through the Coordinator API of any node: what `gale submit` does, for a
// spec built with sdk.TopologyBuilder (or loaded with sdk.LoadTopology).
//
//	spec, err := b.Build()
//	id, err := client.Submit(ctx, "127.0.0.1:7070", spec, nil)
//
// The Python and TypeScript SDKs have the same call (gale.submit, submit).
package client
