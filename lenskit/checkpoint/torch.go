package checkpoint

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"

	"lenskit.dev/lenskit/internal/untrusted"
)

// storageDTypes maps the storage classes torch.save names in its pickles to
// dtypes. torch ≥ 2 still writes these legacy class names.
var storageDTypes = map[string]DType{
	"FloatStorage":    F32,
	"HalfStorage":     F16,
	"BFloat16Storage": BF16,
	"DoubleStorage":   F64,
	"LongStorage":     I64,
	"IntStorage":      I32,
	"ShortStorage":    I16,
	"CharStorage":     I8,
	"ByteStorage":     U8,
	"BoolStorage":     Bool,
}

// storageClass is what GLOBAL torch.FloatStorage (etc.) resolves to.
type storageClass struct{ dtype DType }

// storageRef is what a persistent id ('storage', class, key, location, numel)
// resolves to: a reference to bytes located later, never the bytes.
type storageRef struct {
	dtype DType
	key   string
	numel int
}

// pickledTensor is the result of torch._utils._rebuild_tensor_v2.
type pickledTensor struct {
	storage *storageRef
	offset  int
	shape   []int
	stride  []int
}

type rebuildTensor struct{}

func (rebuildTensor) Call(args ...any) (any, error) {
	// _rebuild_tensor_v2(storage, storage_offset, size, stride,
	//                    requires_grad, backward_hooks[, metadata])
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor_v2 with %d arguments", len(args))
	}
	st, ok := args[0].(*storageRef)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: first argument is %s, not a storage", describe(args[0]))
	}
	off, ok := args[1].(int)
	if !ok || off < 0 {
		return nil, fmt.Errorf("_rebuild_tensor_v2: storage offset %s", describe(args[1]))
	}
	shape, err := intTuple(args[2])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor_v2: size: %w", err)
	}
	stride, err := intTuple(args[3])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor_v2: stride: %w", err)
	}
	if len(stride) != len(shape) {
		return nil, fmt.Errorf("_rebuild_tensor_v2: size %v and stride %v differ in length", shape, stride)
	}
	return &pickledTensor{storage: st, offset: off, shape: shape, stride: stride}, nil
}

// rebuildParameter is torch._utils._rebuild_parameter(data, requires_grad,
// backward_hooks), which appears when an nn.Parameter rather than its
// .data was saved: the tensor is all we need.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("_rebuild_parameter without arguments")
	}
	if _, ok := args[0].(*pickledTensor); !ok {
		return nil, fmt.Errorf("_rebuild_parameter of %s, not a tensor", describe(args[0]))
	}
	return args[0], nil
}

// intTuple reads a size or stride tuple. Its length is checked before
// anything is allocated for it: scanPickle charges each rebuild call for at
// most maxPickleDims dimensions, and one long tuple referenced from the memo
// by every call would otherwise cost its length each time.
func intTuple(v any) ([]int, error) {
	t, ok := v.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("%s, not a tuple", describe(v))
	}
	if t.Len() > maxPickleDims {
		return nil, fmt.Errorf("%w: %d dimensions (at most %d accepted)", ErrLimit, t.Len(), maxPickleDims)
	}
	out := make([]int, t.Len())
	for i := range out {
		x, ok := t.Get(i).(int)
		if !ok || x < 0 {
			return nil, fmt.Errorf("element %d is %s, not a non-negative int", i, describe(t.Get(i)))
		}
		out[i] = x
	}
	return out, nil
}

// findClass is the allow-list of globals a state-dict pickle may name.
// Unpickling in Go never runs Python code, but an unknown class means the
// file is not a plain state dict (a whole pickled nn.Module, optimizer state,
// custom objects), and guessing at it is how loaders go wrong; so anything
// else is refused. collections.OrderedDict is resolved by gopickle itself
// before this function is consulted, as are __builtin__.object and
// copy_reg._reconstructor, which build plain data containers.
func findClass(module, name string) (any, error) {
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2":
		return rebuildTensor{}, nil
	case "torch._utils._rebuild_parameter":
		return rebuildParameter{}, nil
	}
	if module == "torch" {
		if dt, ok := storageDTypes[name]; ok {
			return &storageClass{dt}, nil
		}
	}
	return nil, fmt.Errorf("%w: pickle refers to %s, which is not among the classes a state dict uses", ErrUnsupported, untrusted.Name(module+"."+name))
}

// unpickle runs gopickle over a stream already checked by scanPickle.
// gopickle panics on a few malformed inputs that scanPickle cannot rule out
// without re-implementing it (for instance a dict key of an unhashable type);
// such a panic is turned into an ErrMalformed error here so that a damaged
// file never takes the program down. gopickle's own error messages print
// values from the stream with %#v; only a short prefix of them is kept.
func unpickle(p []byte, persistent func(any) (any, error)) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			result, err = nil, fmt.Errorf("%w: pickle: %s", ErrMalformed, quoteMessage(fmt.Sprint(r)))
		}
	}()
	u := pickle.NewUnpickler(bytes.NewReader(p))
	u.FindClass = findClass
	u.PersistentLoad = persistent
	result, err = u.Load()
	if err != nil && !isFault(err) {
		err = fmt.Errorf("%w: pickle: %s", ErrMalformed, quoteMessage(err.Error()))
	}
	return result, err
}

// storageID decodes a persistent id tuple ('storage', class, key, location,
// numel[, view_metadata]).
func storageID(pid any) (*storageRef, error) {
	t, ok := pid.(*types.Tuple)
	if !ok || t.Len() < 5 {
		return nil, fmt.Errorf("%w: persistent id %s is not a storage tuple", ErrMalformed, describe(pid))
	}
	if s, _ := t.Get(0).(string); s != "storage" {
		return nil, fmt.Errorf("%w: persistent id of kind %s", ErrUnsupported, describe(t.Get(0)))
	}
	cls, ok1 := t.Get(1).(*storageClass)
	key, ok2 := t.Get(2).(string)
	numel, ok3 := t.Get(4).(int)
	if !ok1 || !ok2 || !ok3 || numel < 0 {
		return nil, fmt.Errorf("%w: storage tuple (%s, %s, %s, %s)", ErrMalformed, describe(t.Get(1)), describe(t.Get(2)), describe(t.Get(3)), describe(t.Get(4)))
	}
	if t.Len() > 5 && t.Get(5) != nil {
		return nil, fmt.Errorf("%w: storage view metadata (torch < 1.0 checkpoints)", ErrUnsupported)
	}
	return &storageRef{dtype: cls.dtype, key: key, numel: numel}, nil
}

// ParseTorch reads a pytorch_model.bin held in data (usually a memory map)
// and returns its tensors, whose bytes alias data. file names it in errors.
//
// Two layouts are read: the zip archive torch.save has written since torch
// 1.6 (<prefix>/data.pkl plus one stored, uncompressed entry
// <prefix>/data/<key> per storage), and the older single-stream layout
// (magic number, protocol, system info, the pickle, the storage keys, then
// each storage as an 8-byte element count and raw bytes). In both, the
// pickle is scanned (scanPickle) and unpickled with a class allow-list
// (findClass); storages become references whose offsets are checked against
// the file, so no tensor data is copied. Tensors must be contiguous
// (row-major strides), as state_dict() tensors are; several tensors may share
// one storage, as tied weights do.
func ParseTorch(file string, data []byte) ([]*Tensor, error) {
	return parseTorch(file, data, bytes.NewReader(data))
}

// parseTorch is ParseTorch reading zip directories and local headers through
// ra (the same file as data) rather than through data; see mapped.
func parseTorch(file string, data []byte, ra io.ReaderAt) ([]*Tensor, error) {
	if len(data) >= 4 && string(data[:4]) == "PK\x03\x04" {
		return parseTorchZip(file, data, ra)
	}
	if len(data) >= 2 && data[0] == 0x80 {
		return parseTorchLegacy(file, data, ra)
	}
	return nil, fault(file, "", ErrMalformed, "neither a zip archive nor a pickle stream (torch.save output starts with one of the two)")
}

func parseTorchZip(file string, data []byte, ra io.ReaderAt) ([]*Tensor, error) {
	zr, err := zip.NewReader(ra, int64(len(data)))
	if err != nil {
		return nil, fault(file, "", ErrMalformed, "zip: %v", err)
	}
	var pkl *zip.File
	entries := make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		entries[f.Name] = f
		base := f.Name[strings.LastIndexByte(f.Name, '/')+1:]
		switch base {
		case "constants.pkl":
			return nil, fault(file, "", ErrUnsupported, "TorchScript archive (%s); save the state_dict() instead", untrusted.Name(f.Name))
		case "data.pkl":
			if pkl != nil {
				return nil, fault(file, "", ErrMalformed, "two pickles, %s and %s", untrusted.Name(pkl.Name), untrusted.Name(f.Name))
			}
			pkl = f
		}
	}
	if pkl == nil {
		return nil, fault(file, "", ErrMalformed, "zip archive without data.pkl")
	}
	prefix := strings.TrimSuffix(pkl.Name, "data.pkl")
	if bo, ok := entries[prefix+"byteorder"]; ok {
		b, err := readSmallEntry(bo, 16)
		if err == nil && strings.TrimSpace(string(b)) != "little" {
			return nil, fault(file, "", ErrUnsupported, "byte order %s", untrusted.Quote(strings.TrimSpace(string(b))))
		}
	}
	p, err := readSmallEntry(pkl, MaxPickle)
	if err != nil {
		return nil, fault(file, "", ErrMalformed, "%s: %v", untrusted.Name(pkl.Name), err)
	}
	if _, err := scanPickle(p); err != nil {
		return nil, &FileError{File: file, Err: fmt.Errorf("%s: %w", untrusted.Name(pkl.Name), err)}
	}
	return loadPickle(file, untrusted.Name(pkl.Name), p, func(ref *storageRef) ([]byte, error) {
		name := prefix + "data/" + ref.key
		f, ok := entries[name]
		if !ok {
			return nil, fmt.Errorf("%w: storage %s has no entry %s", ErrMalformed, untrusted.Quote(ref.key), untrusted.Name(name))
		}
		if f.Method != zip.Store {
			return nil, fmt.Errorf("%w: storage entry %s is compressed (torch.save stores them uncompressed)", ErrUnsupported, untrusted.Name(name))
		}
		off, err := f.DataOffset()
		if err != nil {
			return nil, fmt.Errorf("%w: storage entry %s: %v", ErrMalformed, untrusted.Name(name), err)
		}
		size := f.CompressedSize64
		if f.UncompressedSize64 != size || off < 0 || uint64(off) > uint64(len(data)) || size > uint64(len(data))-uint64(off) {
			return nil, fmt.Errorf("%w: storage entry %s: %d bytes at offset %d in a %d-byte file", ErrOffsets, untrusted.Name(name), size, off, len(data))
		}
		return data[off : off+int64(size) : off+int64(size)], nil
	})
}

// storageRefs are the storages a pickle has referenced, by key.
type storageRefs map[string]*storageRef

// declare resolves a persistent id to its storage: the one already declared
// under its key (seen), which must agree on type and size, or a new one,
// recorded.
func (refs storageRefs) declare(pid any) (ref *storageRef, seen bool, err error) {
	ref, err = storageID(pid)
	if err != nil {
		return nil, false, err
	}
	if old, ok := refs[ref.key]; ok {
		if old.dtype != ref.dtype || old.numel != ref.numel {
			return nil, true, fmt.Errorf("%w: storage %s declared twice with different types", ErrMalformed, untrusted.Quote(ref.key))
		}
		return old, true, nil
	}
	refs[ref.key] = ref
	return ref, false, nil
}

// loadPickle unpickles a zip archive's data.pkl (already scanned), asking
// storage for the bytes of each storage the first time it is referenced, and
// builds the tensors.
func loadPickle(file, pklName string, p []byte, storage func(*storageRef) ([]byte, error)) ([]*Tensor, error) {
	storages := make(map[string][]byte)
	refs := make(storageRefs)
	persistent := func(pid any) (any, error) {
		ref, seen, err := refs.declare(pid)
		if err != nil || seen {
			return ref, err
		}
		buf, err := storage(ref)
		if err != nil {
			return nil, err
		}
		need, err := storageBytes(ref)
		if err != nil {
			return nil, err
		}
		if need > uint64(len(buf)) {
			return nil, fmt.Errorf("%w: storage %s holds %d bytes, its %d %s elements need %d", ErrOffsets, untrusted.Quote(ref.key), len(buf), ref.numel, ref.dtype, need)
		}
		storages[ref.key] = buf[:need:need]
		return ref, nil
	}
	obj, err := unpickle(p, persistent)
	if err != nil {
		return nil, &FileError{File: file, Err: fmt.Errorf("%s: %w", pklName, err)}
	}
	return tensorsFromStateDict(file, obj, storages)
}

func storageBytes(ref *storageRef) (uint64, error) {
	n := uint64(ref.numel) * uint64(ref.dtype.Size())
	if ref.numel > maxElements || n/uint64(ref.dtype.Size()) != uint64(ref.numel) {
		return 0, fmt.Errorf("%w: storage %s of %d elements is too large", ErrOffsets, untrusted.Quote(ref.key), ref.numel)
	}
	return n, nil
}

func readSmallEntry(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("%d bytes, more than the %d accepted", f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("more than the %d bytes accepted", limit)
	}
	return b, nil
}

// The legacy stream starts with these two pickled integers.
var (
	legacyMagic    = func() *big.Int { n, _ := new(big.Int).SetString("1950a86a20f9469cfc6c", 16); return n }()
	legacyProtocol = 1001
)

func parseTorchLegacy(file string, data []byte, ra io.ReaderAt) ([]*Tensor, error) {
	pos := 0
	next := func(what string) (any, error) {
		n, err := scanPickle(data[pos:]) // at most MaxPickle bytes
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		p := data[pos : pos+n]
		pos += n
		return unpickle(p, nil)
	}
	magic, err := next("magic number")
	if err != nil {
		return nil, &FileError{File: file, Err: err}
	}
	if m, ok := magic.(*big.Int); !ok || m.Cmp(legacyMagic) != 0 {
		return nil, fault(file, "", ErrMalformed, "a pickle stream, but not a torch.save file (no magic number)")
	}
	proto, err := next("protocol")
	if err != nil {
		return nil, &FileError{File: file, Err: err}
	}
	if proto != legacyProtocol {
		return nil, fault(file, "", ErrUnsupported, "torch serialization protocol %s", describe(proto))
	}
	if _, err := next("system info"); err != nil {
		return nil, &FileError{File: file, Err: err}
	}
	n, err := scanPickle(data[pos:]) // at most MaxPickle bytes
	if err != nil {
		return nil, &FileError{File: file, Err: fmt.Errorf("state dict: %w", err)}
	}
	refs := make(storageRefs)
	obj, err := unpickle(data[pos:pos+n], func(pid any) (any, error) {
		ref, _, err := refs.declare(pid)
		return ref, err
	})
	if err != nil {
		return nil, &FileError{File: file, Err: fmt.Errorf("state dict: %w", err)}
	}
	pos += n
	keysObj, err := next("storage keys")
	if err != nil {
		return nil, &FileError{File: file, Err: err}
	}
	keys, ok := keysObj.(*types.List)
	if !ok {
		return nil, fault(file, "", ErrMalformed, "storage key list is %s", describe(keysObj))
	}
	storages := make(map[string][]byte, len(refs))
	for _, k := range *keys {
		key, ok := k.(string)
		if !ok {
			return nil, fault(file, "", ErrMalformed, "storage key %s is not a string", describe(k))
		}
		ref, ok := refs[key]
		if !ok {
			return nil, fault(file, "", ErrMalformed, "storage %s listed but not used", untrusted.Quote(key))
		}
		if _, dup := storages[key]; dup {
			return nil, fault(file, "", ErrMalformed, "storage %s listed twice", untrusted.Quote(key))
		}
		var cnt [8]byte
		if len(data)-pos < 8 {
			return nil, fault(file, "", ErrTruncated, "storage %s: no element count at byte %d", untrusted.Quote(key), pos)
		}
		if _, err := ra.ReadAt(cnt[:], int64(pos)); err != nil {
			return nil, &FileError{File: file, Err: err}
		}
		count := binary.LittleEndian.Uint64(cnt[:])
		pos += 8
		if count != uint64(ref.numel) {
			return nil, fault(file, "", ErrMalformed, "storage %s has %d elements, the pickle says %d", untrusted.Quote(key), count, ref.numel)
		}
		size, err := storageBytes(ref)
		if err != nil {
			return nil, &FileError{File: file, Err: err}
		}
		if size > uint64(len(data)-pos) {
			return nil, fault(file, "", ErrTruncated, "storage %s needs %d bytes at byte %d, the file has %d", untrusted.Quote(key), size, pos, len(data)-pos)
		}
		storages[key] = data[pos : pos+int(size) : pos+int(size)]
		pos += int(size)
	}
	return tensorsFromStateDict(file, obj, storages)
}

// tensorsFromStateDict turns the unpickled state dict into Tensors. A dict
// that wraps the state dict under "state_dict" or "model" (as training
// scripts often save it) is unwrapped once. Entries whose value is not a
// tensor are skipped.
func tensorsFromStateDict(file string, obj any, storages map[string][]byte) ([]*Tensor, error) {
	items, ok := dictItems(obj)
	if !ok {
		return nil, fault(file, "", ErrMalformed, "pickle holds %s, not a state dict", describe(obj))
	}
	hasTensor := false
	for _, kv := range items {
		if _, ok := kv[1].(*pickledTensor); ok {
			hasTensor = true
			break
		}
	}
	if !hasTensor {
		for _, kv := range items {
			if k, _ := kv[0].(string); k == "state_dict" || k == "model" {
				if inner, ok := dictItems(kv[1]); ok {
					items = inner
					break
				}
			}
		}
	}
	var out []*Tensor
	seen := make(map[string]bool)
	for _, kv := range items {
		pt, ok := kv[1].(*pickledTensor)
		if !ok {
			continue
		}
		name, ok := kv[0].(string)
		if !ok || name == "" {
			return nil, fault(file, "", ErrMalformed, "state dict key %s is not a tensor name", describe(kv[0]))
		}
		if seen[name] {
			return nil, fault(file, name, ErrMalformed, "appears twice")
		}
		seen[name] = true
		t, err := tensorFromPickled(file, name, pt, storages)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func dictItems(obj any) ([][2]any, bool) {
	switch d := obj.(type) {
	case *types.OrderedDict:
		out := make([][2]any, 0, d.Len())
		for e := d.List.Front(); e != nil; e = e.Next() {
			entry := e.Value.(*types.OrderedDictEntry)
			out = append(out, [2]any{entry.Key, entry.Value})
		}
		return out, true
	case *types.Dict:
		out := make([][2]any, 0, len(*d))
		for _, entry := range *d {
			out = append(out, [2]any{entry.Key, entry.Value})
		}
		return out, true
	}
	return nil, false
}

func tensorFromPickled(file, name string, pt *pickledTensor, storages map[string][]byte) (*Tensor, error) {
	buf, ok := storages[pt.storage.key]
	if !ok {
		return nil, fault(file, name, ErrMalformed, "storage %s has no data", untrusted.Quote(pt.storage.key))
	}
	count, err := numElements(pt.shape, maxElements)
	if err != nil {
		return nil, fault(file, name, ErrMalformed, "%v", err)
	}
	// Contiguous means row-major strides; dimensions of size 1 may carry
	// any stride (torch does not normalize them).
	want := 1
	for i := len(pt.shape) - 1; i >= 0; i-- {
		if pt.shape[i] != 1 && pt.stride[i] != want && count != 0 {
			return nil, fault(file, name, ErrUnsupported, "non-contiguous tensor (size %v, stride %v)", pt.shape, pt.stride)
		}
		want *= pt.shape[i]
	}
	if pt.offset > pt.storage.numel || count > pt.storage.numel-pt.offset {
		return nil, fault(file, name, ErrOffsets, "elements [%d, %d+%d) outside storage %s of %d elements",
			pt.offset, pt.offset, count, untrusted.Quote(pt.storage.key), pt.storage.numel)
	}
	es := pt.storage.dtype.Size()
	begin, end := pt.offset*es, (pt.offset+count)*es
	return &Tensor{Name: name, DType: pt.storage.dtype, Shape: pt.shape, File: file, data: buf[begin:end:end]}, nil
}
