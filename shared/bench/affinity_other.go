//go:build !linux

package bench

import (
	"errors"
	"syscall"
)

// cpuSet stands in where CPU affinity is not supported.
type cpuSet struct{}

func (cpuSet) Count() int     { return 0 }
func (*cpuSet) Set(int)       {}
func (cpuSet) IsSet(int) bool { return false }

var errNoAffinity = errors.New("CPU affinity is only supported on Linux")

func allowedCPUs() (cpuSet, error)  { return cpuSet{}, errNoAffinity }
func setAffinity(int, cpuSet) error { return errNoAffinity }

func childAttr() *syscall.SysProcAttr { return nil }
