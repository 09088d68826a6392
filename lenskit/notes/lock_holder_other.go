//go:build (darwin || freebsd || netbsd || openbsd || dragonfly) && !linux

package notes

import "os"

// flockHolder would name the lock's holder; only Linux lists flock holders
// (/proc/locks), so elsewhere it is unknown.
func flockHolder(f *os.File) int { return 0 }
