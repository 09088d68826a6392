//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package notes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// lockTimeout is how long lockFile waits for another writer before it
// reports the lock file, which a crashed writer may have left behind.
const lockTimeout = 30 * time.Second

// lockFile takes the lock by creating path exclusively, on systems where
// this package does not use flock. Unlike flock, a writer that crashes while
// holding it leaves the file behind; after lockTimeout the error names the
// file so a person can remove it.
func lockFile(path string) (unlock func(), err error) {
	deadline := time.Now().Add(lockTimeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s held for more than %v; if no lenskit is writing, remove it", path, lockTimeout)
		}
		time.Sleep(wait)
	}
}

// syncDir is a no-op where directories cannot be synced (Windows); the
// rename itself is atomic there.
func syncDir(dir string) error { return nil }
