package synth

import (
	"archive/zip"
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"lenskit.dev/lenskit/checkpoint"
)

// writeSafetensors writes one safetensors file: the 8-byte header length,
// the JSON header padded with spaces to a multiple of 8 bytes (as the
// reference writer does, so F32 data is aligned for zero-copy reads), then
// the tensors back to back in spec order.
func writeSafetensors(path string, o Options, specs []Spec) (err error) {
	return writeSafetensorsWith(path, specs, func(s Spec) string { return o.StoredName(s.Name) },
		func(w *bufio.Writer, s Spec) error { return emit(w, o, s) })
}

// writeSafetensorsWith writes one safetensors file of specs, each stored
// under stored(spec) with the bytes emit writes (exactly bytesOf(spec)).
func writeSafetensorsWith(path string, specs []Spec, stored func(Spec) string, emit func(*bufio.Writer, Spec) error) (err error) {
	header := make(map[string]any, len(specs)+1)
	header["__metadata__"] = map[string]string{"format": "pt"}
	var off int64
	for _, s := range specs {
		n := bytesOf(s)
		header[stored(s)] = map[string]any{
			"dtype": string(s.DType), "shape": s.Shape, "data_offsets": [2]int64{off, off + n},
		}
		off += n
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	for len(hb)%8 != 0 {
		hb = append(hb, ' ')
	}
	return writeFile(path, func(w *bufio.Writer) error {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(hb)))
		w.Write(n[:])
		w.Write(hb)
		for _, s := range specs {
			if err := emit(w, s); err != nil {
				return err
			}
		}
		return nil
	})
}

func writeFile(path string, body func(*bufio.Writer) error) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("synth: %w", cerr)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if err := body(w); err != nil {
		return fmt.Errorf("synth: %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("synth: %s: %w", path, err)
	}
	return nil
}

// countingWriter tracks the offset in the output file, so that zip entries
// can be padded to align their data.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

var storageClass = map[checkpoint.DType]string{
	checkpoint.F32: "FloatStorage", checkpoint.F16: "HalfStorage", checkpoint.BF16: "BFloat16Storage",
	checkpoint.F64: "DoubleStorage", checkpoint.U8: "ByteStorage",
}

// writeTorch writes the zip layout torch.save has used since torch 1.6:
// archive/data.pkl (a protocol-2 pickle of an OrderedDict whose values are
// torch._utils._rebuild_tensor_v2 calls on persistent storage ids),
// archive/data/<key> with each storage's raw little-endian bytes, stored
// uncompressed and 64-byte aligned as torch aligns them, archive/byteorder
// and archive/version. A tied LMHeadTiedCopy head refers to wte's storage.
func writeTorch(path string, o Options, specs []Spec) error {
	type stored struct {
		spec Spec
		key  string
	}
	var storages []stored
	keyOf := make(map[string]string)
	for _, s := range specs {
		if s.Name == "lm_head.weight" && o.Naming.LMHead == LMHeadTiedCopy {
			if k, ok := keyOf["wte.weight"]; ok {
				keyOf[s.Name] = k
				continue
			}
		}
		k := strconv.Itoa(len(storages))
		keyOf[s.Name] = k
		storages = append(storages, stored{s, k})
	}
	var p pickler
	p.proto()
	p.global("collections", "OrderedDict")
	p.op(')')
	p.op('R')
	p.op('(')
	for _, s := range specs {
		p.str(o.StoredName(s.Name))
		p.global("torch._utils", "_rebuild_tensor_v2")
		p.op('(')
		p.op('(')
		p.str("storage")
		p.global("torch", storageClass[s.DType])
		p.str(keyOf[s.Name])
		p.str("cpu")
		p.int(int64(bytesOf(s)) / int64(s.DType.Size()))
		p.op('t')
		p.op('Q') // BINPERSID
		p.int(0)
		p.ints(s.Shape)
		stride := make([]int, len(s.Shape))
		acc := 1
		for i := len(s.Shape) - 1; i >= 0; i-- {
			stride[i] = acc
			acc *= s.Shape[i]
		}
		p.ints(stride)
		p.op(0x89) // NEWFALSE: requires_grad
		p.global("collections", "OrderedDict")
		p.op(')')
		p.op('R')
		p.op('t')
		p.op('R')
	}
	p.op('u') // SETITEMS
	p.op('.')

	return writeFile(path, func(bw *bufio.Writer) error {
		cw := &countingWriter{w: bw}
		zw := zip.NewWriter(cw)
		pending := int64(0) // data descriptor of the previous entry, not yet written
		entry := func(name string, body func(w *bufio.Writer) error) error {
			if err := zw.Flush(); err != nil {
				return err
			}
			// Local header: 30 bytes + name + extra; pad the extra field so
			// the data starts on a 64-byte boundary. The previous entry's
			// data descriptor (16 bytes, 24 for zip64) is written by
			// CreateHeader before this header.
			base := cw.n + pending + 30 + int64(len(name)) + 4
			pad := (64 - base%64) % 64
			extra := make([]byte, 4+pad)
			binary.LittleEndian.PutUint16(extra, 0x4246) // "FB", torch's padding id
			binary.LittleEndian.PutUint16(extra[2:], uint16(pad))
			w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Extra: extra})
			if err != nil {
				return err
			}
			cnt := &countingWriter{w: w}
			ew := bufio.NewWriterSize(cnt, 1<<20)
			if err := body(ew); err != nil {
				return err
			}
			err = ew.Flush()
			pending = 16
			if cnt.n >= 1<<32-1 {
				pending = 24
			}
			return err
		}
		if err := entry("archive/data.pkl", func(w *bufio.Writer) error { _, err := w.Write(p.buf); return err }); err != nil {
			return err
		}
		if err := entry("archive/byteorder", func(w *bufio.Writer) error { _, err := w.WriteString("little"); return err }); err != nil {
			return err
		}
		for _, st := range storages {
			if err := entry("archive/data/"+st.key, func(w *bufio.Writer) error { return emit(w, o, st.spec) }); err != nil {
				return err
			}
		}
		if err := entry("archive/version", func(w *bufio.Writer) error { _, err := w.WriteString("3\n"); return err }); err != nil {
			return err
		}
		return zw.Close()
	})
}

// pickler emits the handful of protocol-2 opcodes a state dict needs.
type pickler struct{ buf []byte }

func (p *pickler) op(b byte) { p.buf = append(p.buf, b) }
func (p *pickler) proto()    { p.buf = append(p.buf, 0x80, 2) }
func (p *pickler) global(module, name string) {
	p.buf = append(p.buf, 'c')
	p.buf = append(p.buf, module+"\n"+name+"\n"...)
}
func (p *pickler) str(s string) {
	p.buf = append(p.buf, 'X')
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(len(s)))
	p.buf = append(p.buf, s...)
}
func (p *pickler) int(v int64) {
	if v >= -1<<31 && v < 1<<31 {
		p.buf = append(p.buf, 'J')
		p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(int32(v)))
		return
	}
	p.buf = append(p.buf, 0x8a, 8) // LONG1 with 8 bytes, two's complement
	p.buf = binary.LittleEndian.AppendUint64(p.buf, uint64(v))
}
func (p *pickler) ints(v []int) {
	p.op('(')
	for _, x := range v {
		p.int(int64(x))
	}
	p.op('t')
}
