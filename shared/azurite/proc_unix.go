//go:build unix

package azurite

import (
	"os/exec"
	"syscall"
)

// sysProcAttr puts Azurite in its own process group so that stopping it
// reaches every process it started, and not the test binary's group.
func sysProcAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(attr)
	return attr
}

// terminateGroup asks the whole group to stop (SIGTERM).
func terminateGroup(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
}

// killGroup kills the whole group (SIGKILL).
func killGroup(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
