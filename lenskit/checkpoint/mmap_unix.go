//go:build unix

package checkpoint

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps the whole file read-only. The mapping is shared with the page
// cache: nothing is read until a tensor's bytes are touched, and pages that
// are touched count against the process only while they are resident, which
// is how a 1.4 GB checkpoint opens in a few megabytes.
//
// Writing through the returned slice faults (PROT_READ). If another program
// truncates the file while it is mapped, touching the lost pages raises
// SIGBUS; the Hugging Face cache never rewrites a blob in place, and local
// checkpoints are expected to be left alone while open.
func mapFile(path string) (data []byte, unmap func() error, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: not a regular file", path)
	}
	size := st.Size()
	if size == 0 {
		return []byte{}, func() error { return nil }, nil
	}
	if int64(int(size)) != size || size < 0 {
		return nil, nil, fmt.Errorf("%s: file of %d bytes is too large to map", path, size)
	}
	data, err = syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: mmap: %w", path, err)
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}
