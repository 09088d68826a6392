package checkpoint_test

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
	"unsafe"

	"lenskit.dev/lenskit/checkpoint"
)

// stFile assembles a safetensors file from a header string and a data area.
func stFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func f32bytes(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func TestParseSafetensors(t *testing.T) {
	data := append(f32bytes(1, 2, 3, 4, 5, 6), 0x00, 0x3c, 0x00, 0xc0) // F32 2×3, F16 [1, -2]
	hdr := `{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},` +
		`"b":{"dtype":"F16","shape":[2],"data_offsets":[24,28]},` +
		`"s":{"dtype":"F32","shape":[0],"data_offsets":[28,28]},` +
		`"__metadata__":{"format":"pt","n":3}}`
	for len(hdr)%8 != 0 {
		hdr += " "
	}
	ts, meta, err := checkpoint.ParseSafetensors("x.safetensors", stFile(hdr, data))
	if err != nil {
		t.Fatal(err)
	}
	if meta["format"] != "pt" || len(meta) != 1 {
		t.Errorf("metadata %v, want only the string entry", meta)
	}
	byName := map[string]*checkpoint.Tensor{}
	for _, x := range ts {
		byName[x.Name] = x
	}
	a, b := byName["a"], byName["b"]
	fa, err := a.Float32()
	if err != nil || len(fa) != 6 || fa[5] != 6 {
		t.Fatalf("a = %v, %v", fa, err)
	}
	if unsafe.Pointer(&fa[0]) != unsafe.Pointer(&a.Bytes()[0]) {
		t.Error("aligned F32 tensor was copied, want a view of the file")
	}
	fb, err := b.Float32()
	if err != nil || fb[0] != 1 || fb[1] != -2 {
		t.Fatalf("b = %v, %v", fb, err)
	}
	fb2, _ := b.Float32()
	if &fb[0] != &fb2[0] {
		t.Error("F16 tensor converted twice, want the cached conversion")
	}
	if n := byName["s"].NumElements(); n != 0 {
		t.Errorf("empty tensor has %d elements", n)
	}
}

// The bad-input table for one file: each case is a file that must be
// refused with an error naming the file and saying what is wrong.
func TestParseSafetensorsBadInput(t *testing.T) {
	ok := `"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`
	data := f32bytes(1, 2, 3, 4)
	hugeLen := binary.LittleEndian.AppendUint64(nil, 1<<40)
	for _, c := range []struct {
		name string
		file []byte
		kind error
		says string
	}{
		{"empty file", nil, checkpoint.ErrTruncated, "0 bytes, need at least 8"},
		{"truncated length", []byte{1, 2, 3}, checkpoint.ErrTruncated, "3 bytes"},
		{"header larger than file", stFile(`{`+ok+`}`, data)[:20], checkpoint.ErrTruncated, "larger than the file"},
		{"header over the limit", append(hugeLen, '{'), checkpoint.ErrMalformed, "exceeds the 100000000-byte limit"},
		{"not JSON", stFile(`hello`, data), checkpoint.ErrMalformed, "not JSON"},
		{"JSON array", stFile(`[1,2]`, data), checkpoint.ErrMalformed, "not a JSON object"},
		{"garbage after JSON", stFile(`{`+ok+`} x`, data), checkpoint.ErrMalformed, "after the header"},
		{"duplicate tensor", stFile(`{`+ok+`,`+ok+`}`, data), checkpoint.ErrMalformed, `"a" appears twice`},
		{"unknown dtype", stFile(`{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}`, data), checkpoint.ErrDType, `"Q4"`},
		{"missing field", stFile(`{"a":{"dtype":"F32","shape":[2]}}`, data), checkpoint.ErrMalformed, "needs dtype, shape and data_offsets"},
		{"wrong field type", stFile(`{"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}`, data), checkpoint.ErrMalformed, `tensor "a"`},
		{"negative dimension", stFile(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, data), checkpoint.ErrMalformed, "dimension -2"},
		{"fractional dimension", stFile(`{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}`, data), checkpoint.ErrMalformed, `tensor "a"`},
		{"shape overflow", stFile(`{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}}`, data), checkpoint.ErrMalformed, "more than"},
		{"one offset", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8]}}`, data), checkpoint.ErrMalformed, "has 1 values"},
		{"offset past end", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}`, data), checkpoint.ErrOffsets, "outside the data area of 16 bytes"},
		{"negative offset", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}`, data), checkpoint.ErrOffsets, "[-8, 0] are not a byte range"},
		{"reversed offsets", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}`, data), checkpoint.ErrOffsets, "[8, 0] are not a byte range"},
		{"truncated data", stFile(`{`+ok+`,"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, data[:12]), checkpoint.ErrTruncated, "describes 16 bytes of tensor data, the file holds 12"},
		{"size disagrees with shape", stFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, data), checkpoint.ErrOffsets, "needs 12"},
		{"size disagrees with dtype", stFile(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}}`, data), checkpoint.ErrOffsets, "needs 4"},
		{"overlap", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, data), checkpoint.ErrOffsets, "overlap"},
		{"same bytes twice", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, data), checkpoint.ErrOffsets, "overlap"},
		{"empty name", stFile(`{"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, data), checkpoint.ErrMalformed, "empty tensor name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := checkpoint.ParseSafetensors("bad.safetensors", c.file)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, c.kind) {
				t.Errorf("error %q is not %v", err, c.kind)
			}
			var fe *checkpoint.FileError
			if !errors.As(err, &fe) || fe.File != "bad.safetensors" {
				t.Errorf("error %q does not carry the file name", err)
			}
			if !strings.Contains(err.Error(), "bad.safetensors") || !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q should name the file and say %q", err, c.says)
			}
		})
	}
}

func TestFloat32OfIntegerTensor(t *testing.T) {
	ts, _, err := checkpoint.ParseSafetensors("m.safetensors",
		stFile(`{"mask":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, []byte{1, 0}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts[0].Float32(); err == nil || !strings.Contains(err.Error(), `"mask" has dtype U8`) {
		t.Errorf("Float32 of U8: %v", err)
	}
}
