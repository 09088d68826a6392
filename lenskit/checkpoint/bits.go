package checkpoint

import "unsafe"

// Uint16s returns the stored elements of a 2-byte tensor (BF16, F16, I16,
// U16) as uint16 values aliasing the mapped file, without converting them:
// how the weights package keeps a BF16 embedding as BF16 instead of a float32
// copy twice its size. ok is false when the dtype is not 2 bytes wide, the
// machine is big-endian, or the data is not 2-byte aligned (then use
// Float32). The slice is read-only: writing to it faults.
func (t *Tensor) Uint16s() (v []uint16, ok bool) {
	if t.DType.Size() != 2 || !littleEndian {
		return nil, false
	}
	n := t.NumElements()
	if n == 0 {
		return []uint16{}, true
	}
	if uintptr(unsafe.Pointer(&t.data[0]))%2 != 0 {
		return nil, false
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&t.data[0])), n), true
}
