//go:build !linux

package main

import "syscall"

// managerSysProcAttr puts the manager in its own process group. Only Linux
// can have it killed when dev dies first: elsewhere, stop dev with Ctrl-C.
func managerSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
