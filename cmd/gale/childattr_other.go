//go:build !linux

package main

import "syscall"

// childAttr: only Linux has a parent-death signal; elsewhere a node of a
// killed benchmark stays up until it is stopped.
func childAttr() *syscall.SysProcAttr { return nil }
