//go:build !unix

package checkpoint

import (
	"bytes"
	"io"

	"lenskit.dev/lenskit/internal/untrusted"
)

// mapFile reads the whole file: on systems without mmap support in the
// standard library the checkpoint is copied into memory once. Only Unix
// systems get the lazy, page-cache-backed behaviour described in the package
// documentation.
func mapFile(path string) (mapped, error) {
	f, err := untrusted.Open(path)
	if err != nil {
		return mapped{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return mapped{}, err
	}
	return mapped{data: data, ra: bytes.NewReader(data), close: func() error { return nil }}, nil
}
