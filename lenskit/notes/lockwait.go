package notes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// DefaultLockTimeout is how long a write waits for the lock another
// process holds on a notes file, when Store.LockTimeout is zero.
const DefaultLockTimeout = 30 * time.Second

// ErrLockTimeout is wrapped by the error of a write that gave up waiting
// for the lock on its notes file.
var ErrLockTimeout = errors.New("lock held too long")

// lockNotice is how long a write waits for the lock before it says so
// (a variable for the tests).
var lockNotice = time.Second

// lockWait is how a write waits for the lock: how long at most, and whom
// to tell, after lockNotice, that it is waiting.
type lockWait struct {
	timeout time.Duration
	notify  func(msg string)
}

// wait calls try until it takes the lock, ctx is done or the timeout
// passes. holder names the process holding the lock (0 if unknown).
func (w lockWait) wait(ctx context.Context, path string, try func() (bool, error), holder func() int) error {
	timeout := w.timeout
	if timeout == 0 {
		timeout = DefaultLockTimeout
	}
	start := time.Now()
	told := false
	for tries := 0; ; tries++ {
		ok, err := try()
		if ok || err != nil {
			return err
		}
		waited := time.Since(start)
		if timeout > 0 && waited >= timeout {
			return fmt.Errorf("notes: %w: the lock on %s was held by %s for %v, the longest a write waits (set a longer wait with --lock-timeout or Store.LockTimeout)",
				ErrLockTimeout, path, holderText(holder()), timeout)
		}
		if !told && waited >= lockNotice && w.notify != nil {
			told = true
			w.notify(fmt.Sprintf("notes: waiting for the lock on %s held by %s…", path, holderText(holder())))
		}
		t := time.NewTimer(pollInterval(tries))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("notes: waiting for the lock on %s (held by %s): %w", path, holderText(holder()), context.Cause(ctx))
		case <-t.C:
		}
	}
}

func holderText(pid int) string {
	switch {
	case pid == os.Getpid():
		return fmt.Sprintf("this process (pid %d)", pid)
	case pid > 0:
		return fmt.Sprintf("another process (pid %d)", pid)
	}
	return "another process"
}

// pollInterval is the wait before the next try for a held lock.
func pollInterval(tries int) time.Duration {
	return min(time.Duration(tries+1)*10*time.Millisecond, 100*time.Millisecond)
}
