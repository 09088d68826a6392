package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/nlpodyssey/gopickle/types"

	"lenskit.dev/lenskit/internal/untrusted"
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
	// ErrLimit: input that would take more memory, time or disk than its
	// size justifies — a pickle whose opcodes would make the unpickler
	// allocate far more than a state dict needs, a download larger than
	// the hub announced — refused before the work is done.
	ErrLimit = errors.New("over a safety limit")
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
		return fmt.Sprintf("checkpoint: %s: tensor %s: %v", e.File, untrusted.Quote(e.Tensor), e.Err)
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
	for _, k := range []error{ErrTruncated, ErrMalformed, ErrOffsets, ErrDType, ErrUnsupported, ErrLimit} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// quoteMessage keeps a message from another library (gopickle prints
// values from the stream with %#v) to a short prefix, escaped when it holds
// anything but printable text.
func quoteMessage(s string) string {
	const max = 200
	if len(s) <= max && strconv.CanBackquote(s) {
		return s
	}
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > max-4 && cut > 0 && s[cut]&0xc0 == 0x80 {
		cut--
	}
	return strconv.Quote(s[:cut]) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// describe names an unpickled value for an error message in bounded space
// and time, whatever the pickle built: strings and bytes as a short quoted
// prefix, numbers as themselves (or their size), containers by kind, length
// and at most their first three elements, one level deep.
func describe(v any) string {
	var b strings.Builder
	describeTo(&b, v, 1)
	return b.String()
}

func describeTo(b *strings.Builder, v any, depth int) {
	elems := func(kind string, n int, get func(i int) any) {
		fmt.Fprintf(b, "%s of %d", kind, n)
		if depth <= 0 || n == 0 {
			return
		}
		b.WriteString(" (")
		for i := range min(n, 3) {
			if i > 0 {
				b.WriteString(", ")
			}
			describeTo(b, get(i), depth-1)
		}
		if n > 3 {
			b.WriteString(", …")
		}
		b.WriteString(")")
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("None")
	case string:
		b.WriteString(untrusted.Quote(x))
	case []byte:
		b.WriteString("bytes " + untrusted.QuoteBytes(x))
	case bool, int, float64:
		fmt.Fprint(b, x)
	case *big.Int:
		if x.BitLen() <= 64 {
			b.WriteString(x.String())
		} else {
			fmt.Fprintf(b, "an integer of %d bits", x.BitLen())
		}
	case *types.Tuple:
		elems("tuple", x.Len(), x.Get)
	case *types.List:
		elems("list", x.Len(), x.Get)
	case *types.Dict:
		fmt.Fprintf(b, "dict of %d", x.Len())
	case *types.OrderedDict:
		fmt.Fprintf(b, "OrderedDict of %d", x.Len())
	case *storageRef:
		fmt.Fprintf(b, "storage %s", untrusted.Quote(x.key))
	case *storageClass:
		fmt.Fprintf(b, "storage class %s", x.dtype)
	case *pickledTensor:
		b.WriteString("a tensor")
	case json.Number:
		b.WriteString(untrusted.Name(string(x)))
	case []any:
		elems("array", len(x), func(i int) any { return x[i] })
	case map[string]any:
		fmt.Fprintf(b, "an object of %d keys", len(x))
	default:
		fmt.Fprintf(b, "a %T", v)
	}
}
