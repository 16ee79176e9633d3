//go:build !unix

package nodetest

import "os/exec"

// processGroup does nothing where there are no process groups: a
// cancelled run kills node only.
func processGroup(cmd *exec.Cmd) (killGroup func()) { return func() {} }
