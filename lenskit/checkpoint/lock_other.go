//go:build !unix

package checkpoint

import "context"

// lockFile is a no-op where this package does not use flock: concurrent
// downloads of one blob may then both run, each into a temporary file of
// its own, and the last rename wins with identical content.
func lockFile(ctx context.Context, path string, waiting func()) (unlock func(), err error) {
	return func() {}, nil
}
