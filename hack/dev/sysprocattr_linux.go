package main

import "syscall"

// childSysProcAttr puts a child (the manager, Mailpit) in its own process
// group and has the kernel kill it if dev dies first (even of SIGKILL).
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
