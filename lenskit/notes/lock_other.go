//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package notes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// lockFile takes the lock by creating path exclusively, on systems where
// this package does not use flock. Unlike flock, a writer that crashes while
// holding it leaves the file behind; when the wait times out the error names
// the file so a person can remove it.
func lockFile(ctx context.Context, path string, w lockWait) (unlock func(), err error) {
	err = w.wait(ctx, path, func() (bool, error) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			f.Close()
			return true, nil
		}
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, err
	}, func() int { return 0 })
	if errors.Is(err, ErrLockTimeout) {
		err = fmt.Errorf("%w; if no lenskit is writing, a crashed one left %s behind: remove it", err, path)
	}
	if err != nil {
		return nil, err
	}
	return func() { os.Remove(path) }, nil
}

// syncDir is a no-op where directories cannot be synced (Windows); the
// rename itself is atomic there.
func syncDir(dir string) error { return nil }
