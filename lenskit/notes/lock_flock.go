//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package notes

import (
	"context"
	"errors"
	"os"
	"syscall"
)

// lockFile takes an exclusive flock on path (created if needed) and returns
// the function that releases it. The lock belongs to the open file, so it
// serializes goroutines as well as processes, and the kernel drops it when
// its holder dies: a killed writer never leaves the file locked.
//
// It does not block in flock: it tries, and waits between tries, so that
// ctx and the timeout are honoured and, after about a second, waiting says
// who it waits for (see lockWait).
func lockFile(ctx context.Context, path string, w lockWait) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	err = w.wait(ctx, path, func() (bool, error) {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, syscall.EINTR):
			return false, nil
		}
		return false, &os.PathError{Op: "flock", Path: path, Err: err}
	}, func() int { return flockHolder(f) })
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}
