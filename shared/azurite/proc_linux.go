//go:build linux

package azurite

import "syscall"

// setParentDeathSignal kills Azurite if the process that started it dies
// without stopping it (a test binary killed on timeout), so no server is
// left holding a port.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}
