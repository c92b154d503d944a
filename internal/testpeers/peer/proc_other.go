//go:build !linux

package peer

import "syscall"

// sysProcAttr puts a child in its own process group. Only Linux can have
// it killed when this process dies first.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
