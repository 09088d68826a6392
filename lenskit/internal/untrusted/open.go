package untrusted

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrNotRegular is wrapped by Open's error for a path that exists but is
// not a regular file (a directory, FIFO, socket or device).
var ErrNotRegular = errors.New("not a regular file")

// Kind names a file's type for messages: "regular file", "directory",
// "FIFO (named pipe)", "socket", "character device" (such as /dev/urandom),
// "block device", "symbolic link" or "irregular file".
func Kind(mode fs.FileMode) string {
	switch {
	case mode.IsRegular():
		return "regular file"
	case mode.IsDir():
		return "directory"
	case mode&fs.ModeNamedPipe != 0:
		return "FIFO (named pipe)"
	case mode&fs.ModeSocket != 0:
		return "socket"
	case mode&fs.ModeCharDevice != 0:
		return "character device"
	case mode&fs.ModeDevice != 0:
		return "block device"
	case mode&fs.ModeSymlink != 0:
		return "symbolic link"
	}
	return "irregular file"
}

// NotRegular returns the error Open gives for path of the given mode: a
// *fs.PathError wrapping ErrNotRegular whose text names the type, e.g.
// "open /tmp/p: not a regular file: FIFO (named pipe)".
func NotRegular(path string, mode fs.FileMode) error {
	return &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: %s", ErrNotRegular, Kind(mode))}
}

// Open opens path for reading if it is a regular file (after following
// symbolic links), and fails with NotRegular otherwise. It never blocks:
// opening a FIFO for reading waits for a writer, so the type is checked with
// Stat before the open, and again on the open file (opened non-blocking
// where the system has that flag) in case the path was replaced in between.
func Open(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, NotRegular(path, st.Mode())
	}
	f, err := os.OpenFile(path, os.O_RDONLY|oNonblock, 0)
	if err != nil {
		return nil, err
	}
	st, err = f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, NotRegular(path, st.Mode())
	}
	return f, nil
}

// ReadFile reads the regular file at path (see Open), refusing one larger
// than limit bytes before reading it, and one that grows past limit while
// it is read. The error for a file over the limit wraps ErrTooLarge.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAll(f, path, limit)
}

// ErrTooLarge is wrapped by ReadFile's error for a file over its limit.
var ErrTooLarge = errors.New("file too large")

// ReadAll reads f (named path in errors) up to limit bytes; more is an
// error wrapping ErrTooLarge. The size is checked with Stat before reading,
// and the read stops one byte past the limit whatever Stat said.
func ReadAll(f interface {
	io.Reader
	Stat() (fs.FileInfo, error)
}, path string, limit int64) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: %d bytes, more than the %d accepted", ErrTooLarge, st.Size(), limit)}
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: more than the %d bytes accepted", ErrTooLarge, limit)}
	}
	return b, nil
}
