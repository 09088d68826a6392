package checkpoint

import (
	"errors"
	"fmt"
)

// Sentinel faults, for errors.Is. Every error this package returns for bad
// input is a *FileError wrapping one of these (or an fs error for a file that
// cannot be opened), so callers can tell a damaged file from a missing one
// while users read a message that names the file and the fault.
var (
	// ErrTruncated: the file is shorter than its own header says.
	ErrTruncated = errors.New("truncated")
	// ErrMalformed: a header, index or pickle that does not parse or has
	// fields of the wrong kind.
	ErrMalformed = errors.New("malformed")
	// ErrOffsets: a tensor's bytes lie outside the data area, overlap
	// another tensor's, or do not match its shape and dtype.
	ErrOffsets = errors.New("bad tensor offsets")
	// ErrDType: a dtype this package does not know.
	ErrDType = errors.New("unknown dtype")
	// ErrUnsupported: a well-formed file using a feature this package
	// deliberately does not handle (TorchScript, compressed zip entries,
	// non-contiguous tensors, pickled classes outside the allow-list).
	ErrUnsupported = errors.New("unsupported")
	// ErrNoWeights: a directory without any weights file this package reads.
	ErrNoWeights = errors.New("no weights file")
	// ErrNotCached: HF_HUB_OFFLINE (or WithOffline) is set and the model is
	// not in the cache.
	ErrNotCached = errors.New("not cached")
	// ErrUnauthorized: the hub answered 401 or 403.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotFound: the hub answered 404 for the model, revision or a file.
	ErrNotFound = errors.New("not found")
)

// A FileError reports a fault in one file of a checkpoint, and in one tensor
// of it when Tensor is set.
type FileError struct {
	File   string // path of the file (or its name inside the embedded model)
	Tensor string // tensor name, if the fault is in one tensor
	Err    error  // the fault; wraps one of the sentinel errors above
}

func (e *FileError) Error() string {
	if e.Tensor != "" {
		return fmt.Sprintf("checkpoint: %s: tensor %q: %v", e.File, e.Tensor, e.Err)
	}
	return fmt.Sprintf("checkpoint: %s: %v", e.File, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// fault builds a *FileError whose fault wraps kind, e.g.
// fault(file, "", ErrTruncated, "%d bytes, need %d", …) reads
// "checkpoint: file: truncated: 5 bytes, need 8".
func fault(file, tensor string, kind error, format string, args ...any) *FileError {
	return &FileError{File: file, Tensor: tensor, Err: fmt.Errorf("%w: "+format, append([]any{kind}, args...)...)}
}

// isFault reports whether err already says what kind of fault it is.
func isFault(err error) bool {
	for _, k := range []error{ErrTruncated, ErrMalformed, ErrOffsets, ErrDType, ErrUnsupported} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}
