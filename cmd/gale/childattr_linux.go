//go:build linux

package main

import "syscall"

// childAttr has the kernel stop a node process the benchmark started when
// the benchmark dies, even by kill -9 (the parent-death signal): the
// three nodes of a killed `gale bench --cluster` ran on otherwise.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
