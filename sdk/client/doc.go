// Package client submits topologies to a Gale cluster from Go programs,
// through the Coordinator API of any node: what `gale submit` does, for a
// spec built with sdk.TopologyBuilder (or loaded with sdk.LoadTopology).
//
//	spec, err := b.Build()
//	id, err := client.Submit(ctx, "127.0.0.1:7070", spec, nil)
//
// A node with mutual TLS wants a client certificate of the cluster's CA:
// Options.TLS names the files, or GALE_TLS_CA, GALE_TLS_CERT and
// GALE_TLS_KEY do when it is zero (package security).
//
// The Python and TypeScript SDKs have the same call (gale.submit, submit).
package client
