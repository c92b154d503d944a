package slapd

import "syscall"

// sysProcAttr kills slapd when the test binary dies without running its
// cleanups (a -timeout panic, a kill).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
