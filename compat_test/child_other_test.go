//go:build !linux

package compat_test

import "os/exec"

// dieWithParent is Linux-only; elsewhere the test's cleanups stop children.
func dieWithParent(*exec.Cmd) {}
