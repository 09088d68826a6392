package checkpoint

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"lenskit.dev/lenskit/internal/untrusted"
)

// dirFS is os.DirFS for a checkpoint directory, except that it opens only
// regular files and directories. Opening a FIFO for reading blocks until
// something writes to it, so a FIFO named config.json or tokenizer.json
// would hang Open for ever; here it fails at once with an error wrapping
// untrusted.ErrNotRegular that names its type, as does a device or socket.
type dirFS string

func (d dirFS) path(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	return filepath.Join(string(d), filepath.FromSlash(name)), nil
}

// relative reports err with the name inside the directory, as os.DirFS does.
func relative(err error, name string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: name, Err: pe.Err}
	}
	return err
}

func (d dirFS) Open(name string) (fs.File, error) {
	full, err := d.path("open", name)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(full)
	if err != nil {
		return nil, relative(err, name)
	}
	if st.IsDir() {
		f, err := os.Open(full)
		return f, relative(err, name)
	}
	f, err := untrusted.Open(full)
	if err != nil {
		return nil, relative(err, name)
	}
	return f, nil
}

func (d dirFS) Stat(name string) (fs.FileInfo, error) {
	full, err := d.path("stat", name)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(full)
	return st, relative(err, name)
}

func (d dirFS) ReadDir(name string) ([]fs.DirEntry, error) {
	full, err := d.path("readdir", name)
	if err != nil {
		return nil, err
	}
	es, err := os.ReadDir(full)
	return es, relative(err, name)
}
