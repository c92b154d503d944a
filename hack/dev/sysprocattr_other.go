//go:build !linux

package main

import "syscall"

// childSysProcAttr puts a child (the manager, Mailpit) in its own process
// group. Only Linux can have it killed when dev dies first: elsewhere, stop
// dev with Ctrl-C.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
