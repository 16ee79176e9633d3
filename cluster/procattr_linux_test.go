package cluster

import "syscall"

// dieWithParent makes a child process die with the test binary, so that
// no redis-server outlives a killed test run.
func dieWithParent() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
