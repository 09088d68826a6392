//go:build unix

package kernel

import "syscall"

// cpuSeconds is this process's CPU time (user + system). Benchmarks divide
// work by it as well as by wall time: on a machine shared with other jobs
// the wall-clock rate measures the sharing, the CPU-time rate the code.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
