//go:build !unix

package main

import "os/exec"

// e2eProcessGroup does nothing where there are no process groups: a
// cancelled run kills node only.
func e2eProcessGroup(cmd *exec.Cmd) (killGroup func()) { return func() {} }
