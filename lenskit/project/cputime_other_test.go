//go:build !unix

package project

// cpuSeconds is not measured here; rates per CPU-second come out as +Inf.
func cpuSeconds() float64 { return 0 }
