package notes

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// flockHolder returns the pid of the process holding a flock on f's file,
// from /proc/locks (whose lines read "1: FLOCK  ADVISORY  WRITE 1234
// 08:01:56789 0 EOF": pid, then device major:minor in hex and inode), or 0.
func flockHolder(f *os.File) int {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return 0
	}
	want := strconv.FormatUint(uint64(unix.Major(uint64(st.Dev))), 16) + ":" +
		strconv.FormatUint(uint64(unix.Minor(uint64(st.Dev))), 16) + ":" + strconv.FormatUint(st.Ino, 10)
	locks, err := os.Open("/proc/locks")
	if err != nil {
		return 0
	}
	defer locks.Close()
	sc := bufio.NewScanner(locks)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// Waiting requests are listed as "1: -> FLOCK …"; skip them.
		if len(fields) < 6 || fields[1] != "FLOCK" {
			continue
		}
		dev := strings.Split(fields[5], ":")
		if len(dev) != 3 {
			continue
		}
		major, err1 := strconv.ParseUint(dev[0], 16, 32)
		minor, err2 := strconv.ParseUint(dev[1], 16, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		if strconv.FormatUint(major, 16)+":"+strconv.FormatUint(minor, 16)+":"+dev[2] == want {
			pid, _ := strconv.Atoi(fields[4])
			return pid
		}
	}
	return 0
}
