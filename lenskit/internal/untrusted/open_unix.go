//go:build unix

package untrusted

import "syscall"

// oNonblock makes open(2) return at once on a FIFO without a writer (the
// fstat that follows then refuses it); on a regular file it changes nothing.
const oNonblock = syscall.O_NONBLOCK
