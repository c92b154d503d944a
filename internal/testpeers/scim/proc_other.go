//go:build !linux

package scim

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
