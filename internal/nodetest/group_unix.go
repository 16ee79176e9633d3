//go:build unix

package nodetest

import (
	"os/exec"
	"syscall"
)

// processGroup runs cmd in a process group of its own and makes its
// cancellation kill the whole group: node runs each test file in a child
// process, and those spawn herald servers, none of which may outlive the
// test.
func processGroup(cmd *exec.Cmd) (killGroup func()) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	killGroup = func() {
		if cmd.Process != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	cmd.Cancel = func() error {
		killGroup()
		return nil
	}
	return killGroup
}
