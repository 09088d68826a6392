package checkpoint

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
)

// pickleOf is a protocol-2 pickle: the opcodes body repeated n times
// between head and tail, then STOP.
func pickleOf(head string, body []byte, n int, tail string) []byte {
	var b bytes.Buffer
	b.WriteString("\x80\x02")
	b.WriteString(head)
	for range n {
		b.Write(body)
	}
	b.WriteString(tail)
	b.WriteByte('.')
	return b.Bytes()
}

// binunicode is the BINUNICODE opcode for s.
func binunicode(s string) []byte {
	return append(binary.LittleEndian.AppendUint32([]byte{'X'}, uint32(len(s))), s...)
}

func longBinput(i int) []byte { return binary.LittleEndian.AppendUint32([]byte{'r'}, uint32(i)) }

// pickleShapes are the opcode patterns the hostile-input runs used and the
// ones a state dict is made of, each at a size under the budget so that
// gopickle runs them to the end.
func pickleShapes(t testing.TB) map[string][]byte {
	shapes := map[string][]byte{
		"MARK":                 pickleOf("", []byte("("), 3000, "N"),
		"EMPTY_DICT":           pickleOf("", []byte("}"), 5000, ""),
		"EMPTY_LIST":           pickleOf("", []byte("]"), 5000, ""),
		"EMPTY_TUPLE":          pickleOf("", []byte(")"), 20000, ""),
		"EMPTY_SET":            pickleOf("", []byte("\x8f"), 3000, ""),
		"NONE":                 pickleOf("", []byte("N"), 50000, ""),
		"DUP":                  pickleOf("N", []byte("2"), 50000, ""),
		"BININT2":              pickleOf("", []byte("M\x01\x02"), 20000, ""),
		"BINFLOAT":             pickleOf("", []byte("G\x00\x00\x00\x00\x00\x00\xf0\x3f"), 10000, ""),
		"LONG1":                pickleOf("", append([]byte{0x8a, 200}, bytes.Repeat([]byte{7}, 200)...), 30, ""),
		"TUPLE3":               pickleOf("", []byte("NNN\x87"), 20000, ""),
		"TUPLE of K":           pickleOf("(", []byte("K\x05"), 50000, "t"),
		"LIST of N":            pickleOf("(", []byte("N"), 50000, "l"),
		"DICT":                 pickleOf("(", []byte("K\x01N"), 20000, "d"),
		"FROZENSET":            pickleOf("(", []byte("K\x01"), 20000, "\x91"),
		"APPENDS":              pickleOf("](", []byte("K\x01"), 20000, "e"),
		"APPEND":               pickleOf("]", []byte("Na"), 30000, ""),
		"SETITEM":              pickleOf("}", []byte("K\x01Ns"), 20000, ""),
		"memo puts":            pickleOf("N", nil, 0, ""),
		"strings":              pickleOf("", binunicode(strings.Repeat("w", 100)), 5000, ""),
		"long string":          pickleOf("", binunicode(strings.Repeat("w", 1<<20)), 1, ""),
		"bytes":                pickleOf("", append([]byte{'C', 100}, bytes.Repeat([]byte{1}, 100)...), 5000, ""),
		"BINGET":               pickleOf(string(binunicode("key"))+"q\x01", []byte("h\x01"), 50000, ""),
		"UNICODE lines":        pickleOf("", []byte("Vsome text line\n"), 5000, ""),
		"INT lines":            pickleOf("", []byte("I123456789\n"), 5000, ""),
		"OrderedDict calls":    pickleOf("ccollections\nOrderedDict\nq\x00", []byte("h\x00)R0"), 3000, "N"),
		"OrderedDict SETITEMS": pickleOf("ccollections\nOrderedDict\n)R(", nil, 0, "u"),
		"BUILD":                pickleOf("ccollections\nOrderedDict\n)R}(", nil, 0, "ub"),
		"FRAME":                append([]byte("\x80\x04\x95\x08\x00\x00\x00\x00\x00\x00\x00"), "NNNNNNN."...),
	}
	var memo, od, build bytes.Buffer
	memo.WriteString("\x80\x02N")
	for i := range 20000 {
		memo.Write(longBinput(i))
	}
	memo.WriteString(".")
	shapes["memo puts"] = memo.Bytes()
	od.WriteString("\x80\x02ccollections\nOrderedDict\n)R(")
	build.WriteString("\x80\x02ccollections\nOrderedDict\n)R}(")
	for i := range 5000 {
		k := binunicode(fmt.Sprintf("transformer.h.%d.attn.c_attn.weight", i))
		od.Write(k)
		od.WriteString("N")
		build.Write(k)
		build.WriteString("N")
	}
	od.WriteString("u.")
	build.WriteString("ub.")
	shapes["OrderedDict SETITEMS"] = od.Bytes()
	shapes["BUILD"] = build.Bytes()
	for _, f := range []string{"gpt2-zip-f32/pytorch_model.bin", "gpt2-zip-bf16/pytorch_model.bin", "offset_view.bin"} {
		shapes["fixture "+f] = zipEntryBytes(t, "testdata/torch/"+f, "data.pkl")
	}
	return shapes
}

func zipEntryBytes(t testing.TB, path, suffix string) []byte {
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, e := range zr.File {
		if strings.HasSuffix(e.Name, suffix) {
			rc, _ := e.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			return b
		}
	}
	t.Fatalf("%s has no %s", path, suffix)
	return nil
}

// zeroStorages serves every storage a pickle asks for from zeroed memory.
func zeroStorages(ref *storageRef) ([]byte, error) {
	need, err := storageBytes(ref)
	if err != nil {
		return nil, err
	}
	if need > uint64(len(zeroStorage)) {
		return nil, fmt.Errorf("%w: storage of %d bytes", ErrOffsets, need)
	}
	return zeroStorage[:need], nil
}

// The scan's estimate is an upper bound of what gopickle really allocates,
// counted by the Go runtime (MemStats.TotalAlloc, every heap allocation
// since the program started) around the unpickling; and it is not so loose
// that real state dicts come near the budget.
func TestPickleCostModel(t *testing.T) {
	for name, p := range pickleShapes(t) {
		n, est, err := scanPickleCost(p)
		if err != nil {
			t.Errorf("%s: scan: %v", name, err)
			continue
		}
		if n != len(p) {
			t.Errorf("%s: scan stopped at %d of %d bytes", name, n, len(p))
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, uerr := unpickle(p, func(pid any) (any, error) {
			ref, err := storageID(pid)
			if err != nil {
				return nil, err
			}
			if _, err := zeroStorages(ref); err != nil {
				return nil, err
			}
			return ref, nil
		})
		runtime.ReadMemStats(&after)
		got := int64(after.TotalAlloc - before.TotalAlloc)
		if uerr != nil && !strings.HasPrefix(name, "fixture") {
			t.Errorf("%s: gopickle refused a valid pickle: %v", name, uerr)
		}
		t.Logf("%-22s %8d bytes  allocated %9d  estimated %9d (%.2f×; %.0f per pickle byte, budget %d)",
			name, len(p), got, est, float64(est)/float64(max(got, 1)), float64(est)/float64(len(p)), pickleBudget(len(p)))
		if got > est {
			t.Errorf("%s: gopickle allocated %d bytes, the scan estimated %d", name, got, est)
		}
		if est > pickleBudget(len(p)) {
			t.Errorf("%s: estimate %d over the budget %d for %d bytes", name, est, pickleBudget(len(p)), len(p))
		}
		if strings.HasPrefix(name, "fixture") && est > 8*got+64<<10 {
			t.Errorf("%s: estimate %d is more than 8× the real %d for a real state dict", name, est, got)
		}
	}
}

// The shapes of the failed hostile inputs, at sizes far over the budget, are
// refused by the scan with ErrLimit naming the opcode, before gopickle runs.
func TestPickleBombsRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		p    []byte
		op   string
	}{
		{"20,000,000 MARKs", pickleOf("", []byte("("), 20_000_000, "N"), "MARK ('(')"},
		{"EMPTY_DICTs", pickleOf("", []byte("}"), 8_000_000, ""), "EMPTY_DICT ('}')"},
		{"EMPTY_SETs", pickleOf("", []byte("\x8f"), 4_000_000, ""), "EMPTY_SET (0x8f)"},
		{"OrderedDict calls", pickleOf("ccollections\nOrderedDict\nq\x00", []byte("h\x00)R"), 2_000_000, ""), "REDUCE ('R')"},
		// One 1 MiB string pushed once and DUP'ed into a tuple 100,000
		// times: 200 KB of pickle whose printing or hashing touches 100 GB.
		{"DUP of a long string", pickleOf("("+string(binunicode(strings.Repeat("s", 1<<20))), []byte("2"), 100_000, "t"), "TUPLE ('t')"},
	} {
		n, est, err := scanPickleCost(c.p)
		if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), c.op) {
			t.Errorf("%s (%d bytes): scan gave %d, %v; want ErrLimit naming %s", c.name, len(c.p), n, err, c.op)
			continue
		}
		if est > pickleBudget(len(c.p))*5/4 {
			t.Errorf("%s: the scan went on to %d bytes of charges past the budget", c.name, est)
		}
		t.Logf("%s: %v", c.name, err)
	}
	// A number too long to convert quickly.
	for _, p := range [][]byte{
		pickleOf("", append(binary.LittleEndian.AppendUint32([]byte{0x8b}, 100_000), make([]byte, 100_000)...), 1, ""),
		pickleOf("L"+strings.Repeat("9", 10_000)+"\n", nil, 0, ""),
	} {
		if _, err := scanPickle(p); !errors.Is(err, ErrLimit) {
			t.Errorf("long number %.20q…: %v", p, err)
		}
	}
	// More than MaxPickle bytes of opcodes that build nothing: the scan
	// stops at the limit rather than read on.
	big := bytes.Repeat([]byte("\x80\x02"), MaxPickle/2+10)
	if _, err := scanPickle(append(big, 'N', '.')); !errors.Is(err, ErrLimit) {
		t.Errorf("pickle longer than MaxPickle: %v", err)
	}
}

// TestPickleBombMemory runs the reported input — a pytorch_model.bin whose
// pickle is PROTO 2, millions of MARKs, STOP — through Open in a child
// process and asserts the child's peak resident memory (VmHWM): before the
// scan charged MARKs, 4,000,000 of them took over a gigabyte (the report's
// 20,000,000 took 4.7 GB); now the file is refused within a small multiple of
// its own size. EMPTY_DICT, the report's other shape, is checked the same way.
func TestPickleBombMemory(t *testing.T) {
	if shape := os.Getenv("LENSKIT_PICKLE_BOMB"); shape != "" {
		pickleBombChild(shape)
		return
	}
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc/self/status to read peak memory from")
	}
	for _, shape := range []string{"(", "}"} {
		hwm, out := runChild(t, "TestPickleBombMemory", "LENSKIT_PICKLE_BOMB="+shape)
		t.Logf("%q bomb: child peak RSS %d MB; %s", shape, hwm>>20, out)
		if !strings.Contains(out, "over a safety limit") {
			t.Errorf("%q bomb: the child did not report ErrLimit: %s", shape, out)
		}
		if hwm > 100<<20 {
			t.Errorf("%q bomb: child peak RSS %d MB, want under 100 MB for a 4 MB file", shape, hwm>>20)
		}
	}
}

func pickleBombChild(shape string) {
	dir, err := os.MkdirTemp("", "pickle-bomb-")
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer os.RemoveAll(dir)
	os.WriteFile(dir+"/config.json", []byte(`{"model_type": "gpt2"}`), 0o644)
	os.WriteFile(dir+"/pytorch_model.bin", pickleOf("", []byte(shape), 4_000_000, "N"), 0o644)
	_, err = Open(dir)
	fmt.Printf("result: %.300v\n", err)
	printPeakRSS()
}

// runChild re-runs the test binary on one test with env added, and returns
// the child's peak RSS (VmHWM, which it prints) and its output.
func runChild(t *testing.T, test string, env ...string) (int64, string) {
	t.Helper()
	cmd := childCommand(test, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	hwm := int64(-1)
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &hwm)
			hwm <<= 10
		}
	}
	if hwm < 0 {
		t.Fatalf("child printed no VmHWM:\n%s", out)
	}
	return hwm, string(out)
}
