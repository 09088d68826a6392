package checkpoint

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"lenskit.dev/lenskit/internal/untrusted"
)

// MaxSafetensorsHeader is the largest safetensors JSON header accepted, in
// bytes: the limit the reference implementation uses (100 MB). A header that
// claims more is rejected before anything is allocated for it.
const MaxSafetensorsHeader = 100_000_000

// maxDims bounds a tensor's number of dimensions, checked before a shape is
// allocated (real tensors have at most a handful).
const maxDims = 64

// maxElements bounds a tensor's element count so that element count × dtype
// size (at most 8) cannot overflow int.
const maxElements = math.MaxInt >> 4

type stEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// ParseSafetensors parses a safetensors file held in data (usually a memory
// map) and returns its tensors, whose bytes alias data, and the optional
// __metadata__ map. file names the file in errors.
//
// It checks everything the format lets a file get wrong before any tensor is
// handed out: the 8-byte header length against the file size and against
// MaxSafetensorsHeader, that the header is one JSON object with no duplicate
// keys, that every dtype is known, that every shape is non-negative and its
// element count times the dtype size equals the tensor's byte range without
// overflowing, that every range lies inside the data area, and that no two
// tensors share bytes. The reference implementation forbids overlap too; here
// it also guarantees that handing out slices of one mapping can never alias
// two tensors.
func ParseSafetensors(file string, data []byte) ([]*Tensor, map[string]string, error) {
	if len(data) < 8 {
		return nil, nil, fault(file, "", ErrTruncated, "%d bytes, need at least 8 for the header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	rest := uint64(len(data) - 8)
	if n > MaxSafetensorsHeader {
		return nil, nil, fault(file, "", ErrMalformed, "header length %d exceeds the %d-byte limit", n, MaxSafetensorsHeader)
	}
	if n > rest {
		return nil, nil, fault(file, "", ErrTruncated, "header length %d larger than the file (%d bytes after the length field)", n, rest)
	}
	header := data[8 : 8+n]
	body := data[8+n:]

	entries, meta, err := parseSafetensorsHeader(header)
	if err != nil {
		return nil, nil, &FileError{File: file, Err: err}
	}

	tensors := make([]*Tensor, 0, len(entries))
	type span struct {
		begin, end int64
		index      int
	}
	spans := make([]span, 0, len(entries))
	for _, kv := range entries {
		name, e := kv.name, kv.entry
		dt := DType(e.DType)
		if !dt.Known() {
			return nil, nil, fault(file, name, ErrDType, "%s", untrusted.Quote(e.DType))
		}
		if len(e.Shape) > maxDims {
			return nil, nil, fault(file, name, ErrMalformed, "shape of %d dimensions (at most %d accepted)", len(e.Shape), maxDims)
		}
		shape := make([]int, len(e.Shape))
		for i, d := range e.Shape {
			if d < 0 || d > maxElements {
				return nil, nil, fault(file, name, ErrMalformed, "dimension %d out of range in shape %s", d, formatShape(e.Shape))
			}
			shape[i] = int(d)
		}
		count, err := numElements(shape, maxElements)
		if err != nil {
			return nil, nil, fault(file, name, ErrMalformed, "%v", err)
		}
		if len(e.DataOffsets) != 2 {
			return nil, nil, fault(file, name, ErrMalformed, "data_offsets has %d values, want [begin, end]", len(e.DataOffsets))
		}
		begin, end := e.DataOffsets[0], e.DataOffsets[1]
		if begin < 0 || end < begin {
			return nil, nil, fault(file, name, ErrOffsets, "data_offsets [%d, %d] are not a byte range", begin, end)
		}
		if want := int64(count) * int64(dt.Size()); end-begin != want {
			return nil, nil, fault(file, name, ErrOffsets, "data_offsets [%d, %d] hold %d bytes, but %s%s needs %d", begin, end, end-begin, dt, formatShape(shape), want)
		}
		tensors = append(tensors, &Tensor{Name: name, DType: dt, Shape: shape, File: file})
		spans = append(spans, span{begin, end, len(tensors) - 1})
	}
	slices.SortFunc(spans, func(a, b span) int {
		if a.begin != b.begin {
			return cmp.Compare(a.begin, b.begin)
		}
		return cmp.Compare(a.end, b.end)
	})
	tiled := len(spans) == 0 || spans[0].begin == 0
	for i := 1; i < len(spans); i++ {
		if spans[i].begin < spans[i-1].end {
			a, b := spans[i-1], spans[i]
			return nil, nil, fault(file, tensors[b.index].Name, ErrOffsets, "bytes [%d, %d] overlap tensor %s [%d, %d]",
				b.begin, b.end, untrusted.Quote(tensors[a.index].Name), a.begin, a.end)
		}
		tiled = tiled && spans[i].begin == spans[i-1].end
	}
	if n := len(spans); n > 0 && spans[n-1].end > int64(len(body)) {
		// A header whose tensors tile the data area without gaps, as every
		// writer lays them out, describes a longer file than this one: the
		// file was cut short. Otherwise an offset is simply wrong.
		if tiled {
			return nil, nil, fault(file, "", ErrTruncated, "the header describes %d bytes of tensor data, the file holds %d", spans[n-1].end, len(body))
		}
		for _, sp := range spans {
			if sp.end > int64(len(body)) {
				return nil, nil, fault(file, tensors[sp.index].Name, ErrOffsets, "data_offsets [%d, %d] outside the data area of %d bytes", sp.begin, sp.end, len(body))
			}
		}
	}
	for _, sp := range spans {
		tensors[sp.index].data = body[sp.begin:sp.end:sp.end]
	}
	return tensors, meta, nil
}

type namedEntry struct {
	name  string
	entry stEntry
}

// parseSafetensorsHeader decodes the JSON header token by token so that a
// duplicated tensor name is an error rather than silently "last one wins".
func parseSafetensorsHeader(header []byte) ([]namedEntry, map[string]string, error) {
	trimmed := bytes.TrimRight(header, " \t\r\n\x00")
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: header is not JSON: %s", ErrMalformed, quoteMessage(err.Error()))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	var entries []namedEntry
	var meta map[string]string
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: header JSON: %s", ErrMalformed, quoteMessage(err.Error()))
		}
		name, ok := tok.(string)
		if !ok {
			return nil, nil, fmt.Errorf("%w: header JSON: expected a key", ErrMalformed)
		}
		if seen[name] {
			return nil, nil, fmt.Errorf("%w: tensor %s appears twice in the header", ErrMalformed, untrusted.Quote(name))
		}
		seen[name] = true
		if name == "__metadata__" {
			// The spec says string → string. Accept other JSON values
			// (some writers put numbers there) but keep only strings.
			var raw map[string]any
			if err := dec.Decode(&raw); err != nil {
				return nil, nil, fmt.Errorf("%w: __metadata__: %s", ErrMalformed, quoteMessage(err.Error()))
			}
			meta = make(map[string]string, len(raw))
			for k, v := range raw {
				if s, ok := v.(string); ok {
					meta[k] = s
				}
			}
			continue
		}
		if name == "" {
			return nil, nil, fmt.Errorf("%w: empty tensor name in header", ErrMalformed)
		}
		var e stEntry
		if err := dec.Decode(&e); err != nil {
			return nil, nil, fmt.Errorf("%w: tensor %s: %s", ErrMalformed, untrusted.Quote(name), quoteMessage(err.Error()))
		}
		if e.DType == "" || e.DataOffsets == nil || e.Shape == nil {
			return nil, nil, fmt.Errorf("%w: tensor %s: entry needs dtype, shape and data_offsets", ErrMalformed, untrusted.Quote(name))
		}
		entries = append(entries, namedEntry{name, e})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, nil, fmt.Errorf("%w: header JSON: %s", ErrMalformed, quoteMessage(err.Error()))
	}
	if len(bytes.TrimSpace(trimmed[dec.InputOffset():])) != 0 {
		return nil, nil, fmt.Errorf("%w: data after the header's JSON object", ErrMalformed)
	}
	return entries, meta, nil
}
