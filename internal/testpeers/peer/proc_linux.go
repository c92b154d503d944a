package peer

import "syscall"

// sysProcAttr puts a child in its own process group and has the kernel
// kill it if this process dies first (even of SIGKILL, or a test binary's
// -timeout panic).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
