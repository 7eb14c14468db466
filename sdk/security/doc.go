// Package security loads the files of Gale's mutual TLS and turns them
// into gRPC credentials, in one place for every connection a node, the
// cluster CLI or a Go program makes or serves.
//
// A cluster with TLS has one CA; every node has a certificate signed by it
// that it presents both as a server (on its one gRPC port) and as a client
// (to the other nodes), and every client (the CLI, a component process, a
// program that submits topologies) presents one too. Clients find the
// files in GALE_TLS_CA, GALE_TLS_CERT and GALE_TLS_KEY (FilesFromEnv), the
// variables a node sets for the component processes it manages.
//
// Certificate is the other kind: a server certificate for clients that
// present none, as browsers reach the web-analytics ingest and dashboard
// over HTTPS. Both kinds read their certificate and key again when the
// files change.
package security
