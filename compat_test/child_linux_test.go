//go:build linux

package compat_test

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill a child process if the test binary
// dies first (for example on a test timeout panic), so no phxd outlives it.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
