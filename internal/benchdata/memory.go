package benchdata

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// Memory returns this process's resident set (VmRSS) and its peak
// (VmHWM) in kB, from /proc/self/status: the figures the memory budgets of
// lenskit's benchmarks are stated in.
func Memory() (rssKB, hwmKB int64, err error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rssKB = v
		case "VmHWM:":
			hwmKB = v
		}
	}
	return rssKB, hwmKB, sc.Err()
}
