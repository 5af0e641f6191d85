// Package cpuclock reads the CPU time the process has used. Benchmarks
// report CPU time per event beside wall-clock rates: it holds steadier than
// wall time on a shared machine.
package cpuclock

import (
	"syscall"
	"time"
)

// Used returns the CPU time (user and system) this process has used.
func Used() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
