// Package certgen makes the certificates of a Gale cluster's mutual TLS:
// a CA, node certificates (server and client, for the addresses the node
// is dialled by) and client certificates (the CLI, programs that submit),
// as `gale cert` does. Keys are ECDSA P-256; certificates are PEM.
//
// It is for clusters that have no PKI of their own, and for tests and
// benchmarks. A cluster whose organisation runs a CA (or cert-manager,
// Vault, an ACME server for the web-facing HTTPS) should use that: Gale
// only needs PEM files.
package certgen
