package main

import "syscall"

// managerSysProcAttr puts the manager in its own process group and has the
// kernel kill it if dev dies first (even of SIGKILL).
func managerSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
