package bench

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// cpuSet is a set of CPU numbers.
type cpuSet = unix.CPUSet

// allowedCPUs is the set this process may run on.
func allowedCPUs() (cpuSet, error) {
	var set cpuSet
	err := unix.SchedGetaffinity(0, &set)
	return set, err
}

// setAffinity restricts every thread of process pid to set. Threads started
// later inherit the mask of the thread that starts them; the pass is made
// twice so that a thread started during the first is caught by the second.
func setAffinity(pid int, set cpuSet) error {
	for pass := 0; pass < 2; pass++ {
		tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
		if err != nil {
			return fmt.Errorf("threads of %d: %w", pid, err)
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("affinity of thread %d of %d: %w", tid, pid, err)
			}
		}
	}
	return nil
}

// childAttr makes a child process die with the bench, so that an
// interrupted run leaves no sandbox holding a port.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
