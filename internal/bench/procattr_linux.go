package bench

import (
	"os/exec"
	"syscall"
)

// dieWithBench makes the kernel kill cmd's process when the bench process
// ends, however it ends (an OOM kill, a kill -9): no server it started is
// left behind.
func dieWithBench(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
