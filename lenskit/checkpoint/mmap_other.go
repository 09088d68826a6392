//go:build !unix

package checkpoint

import "os"

// mapFile reads the whole file: on systems without mmap support in the
// standard library the checkpoint is copied into memory once. Only Unix
// systems get the lazy, page-cache-backed behaviour described in the package
// documentation.
func mapFile(path string) (data []byte, unmap func() error, err error) {
	data, err = os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}
