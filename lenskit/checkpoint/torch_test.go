package checkpoint_test

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"lenskit.dev/lenskit/checkpoint"
)

// expected.json, written by testdata/torch/make_fixtures.py next to the
// fixtures it describes.
type torchExpected struct {
	Torch      string
	Parameters map[string]struct {
		Shape  []int
		Values []float32
	}
}

func readExpected(t *testing.T) torchExpected {
	t.Helper()
	b, err := os.ReadFile("testdata/torch/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var e torchExpected
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// Files written by the real torch.save (torch 1.13, zip and legacy layouts,
// F32, F16 and BF16) open and hold exactly the values the script put in.
func TestRealTorchSaveFixtures(t *testing.T) {
	exp := readExpected(t)
	for _, c := range []struct {
		dir   string
		dtype checkpoint.DType
	}{
		{"gpt2-zip-f32", checkpoint.F32},
		{"gpt2-zip-f16", checkpoint.F16},
		{"gpt2-zip-bf16", checkpoint.BF16},
		{"gpt2-legacy-f32", checkpoint.F32},
	} {
		t.Run(c.dir, func(t *testing.T) {
			ck, err := checkpoint.Open(filepath.Join("testdata/torch", c.dir))
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			if ck.Format() != "pytorch" {
				t.Errorf("format %q", ck.Format())
			}
			for name, want := range exp.Parameters {
				tt, err := ck.Tensor(name)
				if err != nil {
					t.Fatal(err)
				}
				if tt.DType != c.dtype || !slices.Equal(tt.Shape, want.Shape) {
					t.Errorf("%s: %s%v, want %s%v", name, tt.DType, tt.Shape, c.dtype, want.Shape)
				}
				got, err := tt.Float32()
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want.Values) {
					t.Errorf("%s: values differ from expected.json", name)
				}
			}
			// torch.save stores tied parameters once: lm_head.weight and
			// wte share bytes.
			wte, _ := ck.Tensor("transformer.wte.weight")
			head, err := ck.Tensor("lm_head.weight")
			if err != nil {
				t.Fatal(err)
			}
			if unsafe.Pointer(&wte.Bytes()[0]) != unsafe.Pointer(&head.Bytes()[0]) {
				t.Error("tied lm_head does not share wte's storage")
			}
			// The buffers are read too (as their own dtypes).
			mask, err := ck.Tensor("transformer.h.1.attn.bias")
			if err != nil || mask.DType != checkpoint.U8 || !slices.Equal(mask.Shape, []int{1, 1, 8, 8}) {
				t.Errorf("attn.bias: %v, %v", mask, err)
			} else if b := mask.Bytes(); b[0] != 1 || b[1] != 0 || b[8] != 1 || b[9] != 1 {
				t.Errorf("attn.bias is not a lower-triangular mask: %v", b[:16])
			}
		})
	}
}

func TestTorchStorageOffsetAndRejections(t *testing.T) {
	b, err := os.ReadFile("testdata/torch/offset_view.bin")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := checkpoint.ParseTorch("offset_view.bin", b)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]float32{}
	for _, x := range ts {
		got[x.Name], _ = x.Float32()
	}
	if !slices.Equal(got["row1"], []float32{4, 5, 6, 7}) || len(got["all"]) != 12 || got["all"][11] != 11 {
		t.Errorf("got %v", got)
	}

	for _, c := range []struct {
		file string
		kind error
		says string
	}{
		{"noncontig.bin", checkpoint.ErrUnsupported, `tensor "t": unsupported: non-contiguous tensor (size [4 3], stride [1 4])`},
		{"whole_module.bin", checkpoint.ErrUnsupported, "torch.nn.modules.linear.Linear, which is not among the classes a state dict uses"},
	} {
		b, err := os.ReadFile("testdata/torch/" + c.file)
		if err != nil {
			t.Fatal(err)
		}
		_, err = checkpoint.ParseTorch(c.file, b)
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), c.file) {
			t.Errorf("%s: %v, want %v saying %q", c.file, err, c.kind, c.says)
		}
	}
}

// torchZip builds a torch-style zip around a hand-written data.pkl.
func torchZip(t *testing.T, pkl []byte, storages map[string][]byte, method uint16) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte, m uint16) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: m})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	add("archive/data.pkl", pkl, zip.Store)
	for k, v := range storages {
		add("archive/data/"+k, v, method)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A protocol-2 pickle of {"w": _rebuild_tensor_v2(storage "0", 0, (n,), (1,), False, OrderedDict())}.
func statePickle(class string, numel, offset, size byte) []byte {
	p := []byte("\x80\x02ccollections\nOrderedDict\n)R(X\x01\x00\x00\x00w")
	p = append(p, "ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage"...)
	p = append(p, "ctorch\n"+class+"\n"...)
	p = append(p, "X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK"...)
	p = append(p, numel, 't', 'Q', 'K', offset, '(', 'K', size, 't', '(', 'K', 1, 't', 0x89)
	p = append(p, "ccollections\nOrderedDict\n)RtRu."...)
	return p
}

func TestTorchZipBadInput(t *testing.T) {
	good := f32bytes(1, 2, 3, 4)
	if ts, err := checkpoint.ParseTorch("ok.bin", torchZip(t, statePickle("FloatStorage", 4, 1, 2), map[string][]byte{"0": good}, zip.Store)); err != nil {
		t.Fatalf("hand-written pickle: %v", err)
	} else if v, _ := ts[0].Float32(); !slices.Equal(v, []float32{2, 3}) {
		t.Fatalf("hand-written pickle: %v", v)
	}
	evil := []byte("\x80\x02cos\nsystem\nX\x02\x00\x00\x00lsR.")
	for _, c := range []struct {
		name string
		file []byte
		kind error
		says string
	}{
		{"not torch", []byte("hello world"), checkpoint.ErrMalformed, "neither a zip archive nor a pickle"},
		{"truncated zip", torchZip(t, statePickle("FloatStorage", 4, 0, 4), map[string][]byte{"0": good}, zip.Store)[:40], checkpoint.ErrMalformed, "zip"},
		{"no data.pkl", zipWithout(t), checkpoint.ErrMalformed, "zip archive without data.pkl"},
		{"foreign global", torchZip(t, evil, nil, zip.Store), checkpoint.ErrUnsupported, "os.system"},
		{"unknown storage class", torchZip(t, statePickle("QuantStorage", 4, 0, 4), map[string][]byte{"0": good}, zip.Store), checkpoint.ErrUnsupported, "torch.QuantStorage"},
		{"missing storage", torchZip(t, statePickle("FloatStorage", 4, 0, 4), nil, zip.Store), checkpoint.ErrMalformed, "no entry archive/data/0"},
		{"storage too small", torchZip(t, statePickle("FloatStorage", 9, 0, 4), map[string][]byte{"0": good}, zip.Store), checkpoint.ErrOffsets, "need 36"},
		{"tensor past storage", torchZip(t, statePickle("FloatStorage", 4, 2, 4), map[string][]byte{"0": good}, zip.Store), checkpoint.ErrOffsets, "outside storage"},
		{"compressed storage", torchZip(t, statePickle("FloatStorage", 4, 0, 4), map[string][]byte{"0": good}, zip.Deflate), checkpoint.ErrUnsupported, "compressed"},
		{"truncated pickle", torchZip(t, statePickle("FloatStorage", 4, 0, 4)[:50], map[string][]byte{"0": good}, zip.Store), checkpoint.ErrTruncated, "data.pkl"},
		{"unknown opcode", torchZip(t, []byte{0x80, 2, 0xff, '.'}, nil, zip.Store), checkpoint.ErrMalformed, "unknown pickle opcode 0xff"},
		{"huge length", torchZip(t, []byte{0x80, 2, 0x8e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '.'}, nil, zip.Store), checkpoint.ErrTruncated, "needs 9223372036854775807 bytes"},
		{"not a dict", torchZip(t, []byte("\x80\x02K\x05."), nil, zip.Store), checkpoint.ErrMalformed, "not a state dict"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := checkpoint.ParseTorch("bad.bin", c.file)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), "bad.bin") || !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q: want %v naming bad.bin and saying %q", err, c.kind, c.says)
			}
		})
	}
}

func zipWithout(t *testing.T) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("archive/version")
	w.Write([]byte("3\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Values from a file reach error messages only as a short escaped prefix:
// a pickled tuple key holding a 30,000,000-byte string used to make a
// 30,000,134-byte message. 3 MB of terminal escapes here.
func TestErrorsQuoteHostileValues(t *testing.T) {
	huge := strings.Repeat("\x1b[2J", 750_000)
	binu := func(s string) []byte {
		return append(binary.LittleEndian.AppendUint32([]byte{'X'}, uint32(len(s))), s...)
	}
	good := f32bytes(1, 2, 3, 4)
	state := statePickle("FloatStorage", 4, 0, 4)
	// The state dict's key "w" replaced by the tuple (huge,).
	tupleKey := bytes.Replace(state, []byte("X\x01\x00\x00\x00w"), append(append([]byte("("), binu(huge)...), 't'), 1)
	// A safetensors header whose one tensor has a huge name and a huge dtype.
	hdr, _ := json.Marshal(map[string]any{huge: map[string]any{"dtype": huge, "shape": []int{1}, "data_offsets": []int{0, 4}}})
	st := append(binary.LittleEndian.AppendUint64(nil, uint64(len(hdr))), hdr...)
	st = append(st, 0, 0, 0, 0)
	for _, c := range []struct {
		name  string
		parse func() error
	}{
		{"tuple key", func() error {
			_, err := checkpoint.ParseTorch("bad.bin", torchZip(t, tupleKey, map[string][]byte{"0": good}, zip.Store))
			return err
		}},
		{"persistent id", func() error {
			p := append(append([]byte("\x80\x02("), binu(huge)...), "tQ."...)
			_, err := checkpoint.ParseTorch("bad.bin", torchZip(t, p, nil, zip.Store))
			return err
		}},
		{"REDUCE of a string (gopickle's %#v)", func() error {
			p := append(append([]byte("\x80\x02("), binu(huge)...), "t)R."...)
			_, err := checkpoint.ParseTorch("bad.bin", torchZip(t, p, nil, zip.Store))
			return err
		}},
		{"foreign global", func() error {
			p := []byte("\x80\x02c" + huge + "\nsystem\n.")
			_, err := checkpoint.ParseTorch("bad.bin", torchZip(t, p, nil, zip.Store))
			return err
		}},
		{"safetensors name and dtype", func() error {
			_, _, err := checkpoint.ParseSafetensors("bad.safetensors", st)
			return err
		}},
	} {
		err := c.parse()
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		msg := err.Error()
		if len(msg) > 1000 || strings.Contains(msg, "\x1b") {
			t.Errorf("%s: %d-byte message with raw escapes: %.300q…", c.name, len(msg), msg)
		}
		if !strings.Contains(msg, `\x1b[2J`) {
			t.Errorf("%s: the message shows no escaped prefix of the value: %q", c.name, msg)
		}
		t.Logf("%s: %s", c.name, msg)
	}
}
