package benchdata

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"
)

// Memory returns this process's resident set (VmRSS) and its peak
// (VmHWM) in kB, from /proc/self/status: the figures the memory budgets of
// lenskit's benchmarks are stated in.
func Memory() (rssKB, hwmKB int64, err error) {
	st, err := status()
	return st["VmRSS:"], st["VmHWM:"], err
}

// Anonymous returns this process's anonymous resident memory (RssAnon) in
// kB: what it allocated, as opposed to the file pages it maps (RssFile),
// which the kernel can drop and re-read.
func Anonymous() (int64, error) {
	st, err := status()
	return st["RssAnon:"], err
}

// PeakAnonymous samples RssAnon every few milliseconds until stop is
// called, and stop returns the largest value seen, in kB — the kernel keeps
// no high-water mark of anonymous memory.
func PeakAnonymous() (stop func() int64) {
	done := make(chan struct{})
	peak := make(chan int64)
	go func() {
		var mx int64
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			if a, err := Anonymous(); err == nil {
				mx = max(mx, a)
			}
			select {
			case <-done:
				peak <- mx
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 { close(done); return <-peak }
}

func status() (map[string]int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		out[f[0]] = v
	}
	return out, sc.Err()
}
