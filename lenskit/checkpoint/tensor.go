package checkpoint

import (
	"fmt"
	"strings"
	"sync"
	"unsafe"

	"lenskit.dev/lenskit/internal/untrusted"
)

// A Tensor is one named array of a checkpoint. Opening a checkpoint creates
// Tensors from the file headers only; the bytes stay in the memory-mapped file
// until Float32 or Bytes is called.
type Tensor struct {
	Name  string
	DType DType
	Shape []int  // row-major; an empty shape is a scalar
	File  string // the file the bytes live in, as shown in errors

	data []byte // exactly NumElements()*DType.Size() bytes, little-endian, read-only

	once sync.Once
	f32  []float32
	err  error
}

// NumElements returns the product of the shape (1 for a scalar).
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Bytes returns the stored little-endian bytes. The slice aliases the mapped
// file (or the binary's read-only data for the embedded model): writing to
// it faults.
func (t *Tensor) Bytes() []byte { return t.data }

// Float32 returns the values in row-major order.
//
// For F32 data that is 4-byte aligned (every safetensors writer pads its
// header so that it is) on a little-endian machine the slice aliases the
// mapped file: no copy is made, and the slice must be treated as read-only —
// writing to it faults. F16, BF16 and F64 are converted on the first call and
// the result is kept, so a tensor is converted at most once however many
// callers ask, and only tensors somebody asks for are converted. It is safe
// to call from several goroutines.
func (t *Tensor) Float32() ([]float32, error) {
	t.once.Do(func() {
		t.err = guardRead(t.File, t.data, func() error {
			var err error
			t.f32, err = t.decode()
			return err
		})
	})
	return t.f32, t.err
}

func (t *Tensor) decode() ([]float32, error) {
	if !t.DType.Float() {
		return nil, fmt.Errorf("checkpoint: %s: tensor %s has dtype %s, not a float type", t.File, untrusted.Quote(t.Name), t.DType)
	}
	n := t.NumElements()
	if n == 0 {
		return []float32{}, nil
	}
	if t.DType == F32 && littleEndian && uintptr(unsafe.Pointer(&t.data[0]))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&t.data[0])), n), nil
	}
	out := make([]float32, n)
	if err := decodeFloat32(t.DType, t.data, out); err != nil {
		return nil, fmt.Errorf("checkpoint: %s: tensor %s: %w", t.File, untrusted.Quote(t.Name), err)
	}
	return out, nil
}

// String describes the tensor without its values, e.g.
// `transformer.wte.weight F32[8192 256] (model.safetensors)`.
func (t *Tensor) String() string {
	return fmt.Sprintf("%s %s%s (%s)", t.Name, t.DType, formatShape(t.Shape), t.File)
}

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// numElements multiplies dims, reporting overflow past limit or a negative
// dimension instead of wrapping around.
func numElements(shape []int, limit int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d in shape %s", d, formatShape(shape))
		}
		if d != 0 && n > limit/d {
			return 0, fmt.Errorf("shape %s has more than %d elements", formatShape(shape), limit)
		}
		n *= d
	}
	return n, nil
}

// formatShape prints a shape as fmt does ([8192 256]), but at most eight
// dimensions of it, so that a message about a hostile header stays short.
func formatShape[T int | int64](shape []T) string {
	if len(shape) <= 8 {
		return fmt.Sprint(shape)
	}
	return fmt.Sprintf("%v … (%d dimensions)]", strings.TrimSuffix(fmt.Sprint(shape[:8]), "]"), len(shape))
}
