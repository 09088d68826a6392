//go:build unix

package checkpoint

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockFile takes an exclusive flock on path (created if needed, with its
// directory), waiting for another holder as long as ctx allows, and returns
// the function that releases it. huggingface_hub locks the same file with
// filelock, which uses flock on Unix too, so Python and lenskit downloading
// one blob take turns. The file is never removed: removing a lock file
// while another process waits on it would let a third lock a new file
// under the same name while the second still gets the old one. After
// lockNotice of waiting, waiting (when not nil) is called once.
func lockFile(ctx context.Context, path string, waiting func()) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	start, told := time.Now(), false
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, &os.PathError{Op: "flock", Path: path, Err: err}
		}
		if !told && waiting != nil && time.Since(start) >= lockNotice {
			told = true
			waiting()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, context.Cause(ctx)
		case <-time.After(wait):
		}
	}
}

// lockNotice is how long lockFile waits before saying so.
var lockNotice = time.Second
