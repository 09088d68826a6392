package checkpoint

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"testing"
)

// The fuzz targets check the one property the package promises for hostile
// input: an error or a consistent result, never a panic, a hang or an
// allocation out of proportion to the input. Their seed corpora live in
// testdata/fuzz/<Target> (kept from fuzzing runs) plus the f.Add seeds below,
// so `go test` replays them as ordinary tests.

func fuzzSeedFiles(f *testing.F, paths ...string) {
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// zipEntry returns one entry's bytes of a zip file.
func zipEntry(f *testing.F, path, suffix string) []byte {
	zr, err := zip.OpenReader(path)
	if err != nil {
		f.Fatal(err)
	}
	defer zr.Close()
	for _, e := range zr.File {
		if bytes.HasSuffix([]byte(e.Name), []byte(suffix)) {
			rc, _ := e.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			return b
		}
	}
	f.Fatalf("%s has no %s", path, suffix)
	return nil
}

func checkTensors(t *testing.T, ts []*Tensor, data []byte) {
	for _, x := range ts {
		n := x.NumElements()
		if len(x.Bytes()) != n*x.DType.Size() {
			t.Fatalf("%s: %d bytes for %d elements of %s", x.Name, len(x.Bytes()), n, x.DType)
		}
		if x.DType.Float() && n <= 1<<20 {
			v, err := x.Float32()
			if err != nil || len(v) != n {
				t.Fatalf("%s: Float32: %d values, %v", x.Name, len(v), err)
			}
		}
	}
}

func FuzzSafetensors(f *testing.F) {
	small := binary.LittleEndian.AppendUint64(nil, 64)
	small = append(small, `{"a":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]}}      `...)
	small = append(small, 0, 0x3c, 0, 0xc0, 1, 2, 3, 4)
	f.Add(small)
	f.Add(binary.LittleEndian.AppendUint64(nil, 2))
	hdr := embeddedBytes("tiny-pl-gpt2")[:8+binary.LittleEndian.Uint64(embeddedBytes("tiny-pl-gpt2"))]
	f.Add(bytes.Clone(hdr))
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, _, err := ParseSafetensors("fuzz.safetensors", data)
		if err != nil {
			return
		}
		checkTensors(t, ts, data)
	})
}

func FuzzIndex(f *testing.F) {
	f.Add([]byte(`{"metadata":{"total_size":16},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"sub/x.safetensors"}}`))
	f.Add([]byte(`{"weight_map":{"a":"../x"}}`))
	f.Add([]byte(`{"weight_map":{"a":null}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := ParseIndex("fuzz.index.json", data)
		if err != nil {
			return
		}
		for name, shard := range idx.WeightMap {
			if name == "" || !fs.ValidPath(shard) || shard == "." {
				t.Fatalf("accepted %q → %q", name, shard)
			}
		}
		if len(idx.Shards) == 0 || len(idx.Shards) > len(idx.WeightMap) {
			t.Fatalf("%d shards for %d tensors", len(idx.Shards), len(idx.WeightMap))
		}
	})
}

func FuzzConfig(f *testing.F) {
	fuzzSeedFiles(f, "embedded/tiny-pl-gpt2/config.json")
	f.Add([]byte(`{"n_layer": -1, "n_inner": null, "tie_word_embeddings": 1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("fuzz/config.json", data)
		if err != nil {
			return
		}
		if c.NLayer < 0 || c.NHead < 0 || c.NEmbd < 0 || c.NInner < 0 || c.VocabSize < 0 || c.NPositions < 0 {
			t.Fatalf("negative size accepted: %v", c)
		}
	})
}

// zeroStorage backs every storage a fuzzed pickle asks for, up to 1 MiB.
var zeroStorage = make([]byte, 1<<20)

// bombSeeds are the shapes of the memory bombs (MARKs, EMPTY_DICTs,
// EMPTY_SETs, OrderedDict calls, DUPs of a long string into a tuple), small
// enough for the fuzzer to mutate.
func bombSeeds() [][]byte {
	return [][]byte{
		pickleOf("", []byte("("), 5000, "N"),
		pickleOf("", []byte("}"), 5000, ""),
		pickleOf("", []byte("\x8f"), 3000, ""),
		pickleOf("ccollections\nOrderedDict\nq\x00", []byte("h\x00)R"), 500, ""),
		pickleOf("("+string(binunicode(strings.Repeat("s", 4096))), []byte("2"), 2000, "t"),
		pickleOf("}(", append(binunicode("k"), "N"...), 2000, "u"),
		pickleOf("", []byte("N2q\x01"), 2000, ""),
	}
}

// FuzzPickle feeds data.pkl streams to the scanner and the restricted
// unpickler, with storages served from zeroed memory.
func FuzzPickle(f *testing.F) {
	f.Add(zipEntry(f, "testdata/torch/gpt2-zip-f32/pytorch_model.bin", "data.pkl"))
	f.Add(zipEntry(f, "testdata/torch/gpt2-zip-bf16/pytorch_model.bin", "data.pkl"))
	f.Add(zipEntry(f, "testdata/torch/offset_view.bin", "data.pkl"))
	f.Add(zipEntry(f, "testdata/torch/whole_module.bin", "data.pkl"))
	f.Add([]byte("\x80\x02}q\x00(X\x01\x00\x00\x00a]q\x01(K\x01K\x02eu."))
	f.Add([]byte("\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x01a\x94\x8c\x01b\x94\x86\x94."))
	for _, b := range bombSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		if len(p) > MaxPickle {
			return
		}
		_, est, err := scanPickleCost(p)
		if err != nil {
			return
		}
		// The scan's estimate bounds what unpickling allocates, as counted
		// by the runtime (the fuzz worker's other goroutines allocate a
		// little meanwhile; tensorsFromStateDict is outside the estimate).
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, uerr := unpickle(p, func(pid any) (any, error) {
			ref, err := storageID(pid)
			if err == nil {
				_, err = zeroStorages(ref)
			}
			return ref, err
		})
		runtime.ReadMemStats(&after)
		if got := int64(after.TotalAlloc - before.TotalAlloc); got > est+256<<10 {
			t.Fatalf("unpickling allocated %d bytes, the scan estimated %d (error %v)", got, est, uerr)
		}
		ts, err := loadPickle("fuzz.bin", "data.pkl", p, zeroStorages)
		if err != nil {
			if len(err.Error()) > 2000 {
				t.Fatalf("%d-byte error message", len(err.Error()))
			}
			return
		}
		checkTensors(t, ts, zeroStorage)
	})
}

// FuzzTorchFile feeds whole pytorch_model.bin files (zip and legacy) to
// ParseTorch. Mutations of a zip mostly break its checksums, so FuzzPickle
// is the one that reaches deep into the unpickler; this one covers the zip
// directory and the legacy stream layout.
func FuzzTorchFile(f *testing.F) {
	fuzzSeedFiles(f,
		"testdata/torch/gpt2-legacy-f32/pytorch_model.bin",
		"testdata/torch/offset_view.bin",
		"testdata/torch/noncontig.bin",
	)
	// The bombs as legacy files (a bare pickle stream) and in a zip.
	for _, b := range bombSeeds() {
		f.Add(b)
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: "archive/data.pkl", Method: zip.Store})
		w.Write(b)
		zw.Close()
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := ParseTorch("fuzz.bin", data)
		if err != nil {
			if len(err.Error()) > 2000 {
				t.Fatalf("%d-byte error message", len(err.Error()))
			}
			return
		}
		checkTensors(t, ts, data)
	})
}
