//go:build unix

package checkpoint

import (
	"errors"
	"fmt"
	"syscall"

	"lenskit.dev/lenskit/internal/untrusted"
)

// mapFile maps the whole file read-only. The mapping is shared with the page
// cache: nothing is read until a tensor's bytes are touched, and pages that
// are touched count against the process only while they are resident, which
// is how a 1.4 GB checkpoint opens in a few megabytes.
//
// Writing through the returned slice faults (PROT_READ). If another program
// truncates the file while it is mapped, touching the lost pages raises
// SIGBUS; the Hugging Face cache never rewrites a blob in place, and local
// checkpoints are expected to be left alone while open (Checkpoint.Guard
// turns such a fault into an error).
//
// Only regular files are mapped, and the type is checked without blocking
// (untrusted.Open): a FIFO given as a weights file would otherwise hang the
// open for ever.
//
// The file stays open as the ReaderAt for metadata reads (see mapped).
func mapFile(path string) (m mapped, err error) {
	f, err := untrusted.Open(path)
	if err != nil {
		return mapped{}, err
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return mapped{}, err
	}
	size := st.Size()
	if size == 0 {
		return mapped{data: []byte{}, ra: f, close: f.Close}, nil
	}
	if int64(int(size)) != size || size < 0 {
		return mapped{}, fmt.Errorf("%s: file of %d bytes is too large to map", path, size)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return mapped{}, fmt.Errorf("%s: mmap: %w", path, err)
	}
	return mapped{data: data, ra: f, close: func() error {
		return errors.Join(syscall.Munmap(data), f.Close())
	}}, nil
}
