package checkpoint

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// childCommand re-runs this test binary on one test, with env added: the
// way memory ceilings are measured (a child's VmHWM is its own, not the
// test runner's) and several processes share one cache.
func childCommand(test string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// printPeakRSS prints the VmHWM line of /proc/self/status (peak resident
// set size), which runChild reads.
func printPeakRSS() {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Println("no /proc/self/status:", err)
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			fmt.Println(line)
		}
	}
}
