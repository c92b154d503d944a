//go:build !linux

package mailpit

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
