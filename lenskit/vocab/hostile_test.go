package vocab

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// genFS serves files whose content is generated as it is read — a 77 MB
// vocab.json of 4 million entries without 77 MB in the test — and counts the
// bytes read.
type genFS map[string]*genSpec

type genSpec struct {
	head, tail string
	n          int
	entry      func(i int) string
	read       int64
}

func (g genFS) Open(name string) (fs.File, error) {
	sp, ok := g[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &genFile{sp: sp, pending: sp.head}, nil
}

type genFile struct {
	sp      *genSpec
	i       int
	pending string
	done    bool
}

func (f *genFile) Stat() (fs.FileInfo, error) { return nil, errors.New("size unknown") }
func (f *genFile) Close() error               { return nil }
func (f *genFile) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if f.pending == "" {
			switch {
			case f.i < f.sp.n:
				f.pending = f.sp.entry(f.i)
				if f.i > 0 {
					f.pending = "," + f.pending
				}
				f.i++
			case !f.done:
				f.pending, f.done = f.sp.tail, true
			default:
				f.sp.read += int64(n)
				if n == 0 {
					return 0, io.EOF
				}
				return n, nil
			}
		}
		k := copy(p[n:], f.pending)
		f.pending = f.pending[k:]
		n += k
	}
	f.sp.read += int64(n)
	return n, nil
}

func hugeVocabEntry(i int) string { return fmt.Sprintf("%q: %d", fmt.Sprintf("tok%012d", i), i) }

// allocDuring returns the bytes allocated while f runs.
func allocDuring(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// Issue 12, item 8: a 77 MB vocab.json of 4 million entries for a model of
// 300 embedding rows used 1.5 GB and 18 s before it was refused. With
// LoadOptions.MaxTokens the entry that goes past the rows is refused as it
// is read: a few kilobytes read, a few hundred kilobytes allocated. The same
// for a 241 MB tokenizer.json.
func TestLoadMaxTokensRefusesEarly(t *testing.T) {
	const entries = 4_000_000
	vocabJSON := &genSpec{head: "{", tail: "}", n: entries, entry: hugeVocabEntry}
	tokJSON := &genSpec{
		head: `{"version": "1.0", "added_tokens": [], "normalizer": null, "pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {`,
		tail: `}, "merges": []}}`, n: entries,
		entry: func(i int) string { return fmt.Sprintf("%q: %d", fmt.Sprintf("token-%052d", i), i) },
	}
	cases := []struct {
		name string
		fsys genFS
		sp   *genSpec
		msg  string
	}{
		{"vocab.json", genFS{"vocab.json": vocabJSON, "merges.txt": &genSpec{head: "#version: 0.2\n"}}, vocabJSON,
			`vocab: vocab.json: vocab["tok000000000300"]: id 300 is beyond the embedding's 300 rows`},
		{"tokenizer.json", genFS{"tokenizer.json": tokJSON}, tokJSON,
			`vocab: tokenizer.json: model.vocab["token-0000000000000000000000000000000000"… (58 bytes)]: id 300 is beyond the embedding's 300 rows`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			start := time.Now()
			alloc := allocDuring(func() { _, err = LoadOptions{MaxTokens: 300}.Load(tc.fsys) })
			if err == nil || err.Error() != tc.msg {
				t.Fatalf("error %v\nwant %s", err, tc.msg)
			}
			if tc.sp.read > 256<<10 || alloc > 2<<20 {
				t.Errorf("read %d bytes and allocated %d bytes before refusing", tc.sp.read, alloc)
			}
			t.Logf("refused after reading %d bytes, %d bytes allocated, %v", tc.sp.read, alloc, time.Since(start))
		})
	}
	// More entries than rows, with ids in range, is refused at the first
	// entry too many.
	dup := genFS{"tokenizer.json": &genSpec{head: `{"model": {"vocab": {`, tail: `}}}`, n: 1000,
		entry: func(i int) string { return fmt.Sprintf(`"t%d": %d`, i, i%300) }}}
	_, err := LoadOptions{MaxTokens: 300}.Load(dup)
	if err == nil || !strings.Contains(err.Error(), "model.vocab") {
		t.Fatalf("error %v", err)
	}
	// Added tokens beyond the rows, too.
	m := newMini()
	m.added = `[{"id": 258, "content": "<|endoftext|>", "special": true}, {"id": 300, "content": "<x>"}]`
	_, err = LoadOptions{MaxTokens: 259}.Load(m.fastFS())
	if err == nil || err.Error() != "vocab: tokenizer.json: added_tokens[1]: id 300 is beyond the embedding's 259 rows" {
		t.Fatalf("error %v", err)
	}
	if v, err := (LoadOptions{MaxTokens: 259}).Load(newMini().fastFS()); err != nil || v.Len() != 259 {
		t.Fatalf("a vocabulary that fits: %v", err)
	}
}

// Values from files are quoted short: an over-long token gave a
// 100,120-byte message (issue 12, item 7). Every message about a value is
// one line of bounded length, whatever the value holds.
func TestErrorsQuoteShortly(t *testing.T) {
	long := strings.Repeat("ż\n\"x", 25000) // 100,000 bytes of letters, newlines, quotes
	q := strconv.Quote(long)
	m := newMini()
	cases := map[string]fs.FS{
		"duplicate long token": fstest.MapFS{"tokenizer.json": {Data: []byte(strings.Replace(m.tokenizerJSON(), `"ab": 256`, q+`: 256, `+q+`: 300`, 1))}},
		"long token over the limit": fstest.MapFS{"tokenizer.json": {Data: []byte(strings.Replace(m.tokenizerJSON(), `"ab": 256`,
			strconv.Quote(strings.Repeat("ab", maxEntryBytes))+`: 256`, 1))}},
		"long merge": fstest.MapFS{"tokenizer.json": {Data: []byte(strings.Replace(m.tokenizerJSON(), `"a b", `, q[:len(q)-1]+` b", `, 1))}},
		"long added token": func() fs.FS {
			m := newMini()
			m.added = `[{"id": 5, "content": ` + q + `}]`
			return m.fastFS()
		}(),
		"long normalizer type": func() fs.FS { m := newMini(); m.normalizer = `{"type": ` + q + `}`; return m.fastFS() }(),
		"long regex": func() fs.FS {
			m := newMini()
			m.pre = `{"type": "Split", "pattern": {"Regex": ` + q + `}, "behavior": "Isolated"}`
			return m.fastFS()
		}(),
		"pretty-printed normalizer": func() fs.FS {
			m := newMini()
			m.normalizer = "{\n  \"type\": \"Sequence\",\n  \"normalizers\": [\n    {\n      \"type\": \"BertNormalizer\",\n      \"lowercase\": true\n    }\n  ]\n}"
			return m.fastFS()
		}(),
		"long model type":   fstest.MapFS{"tokenizer.json": {Data: []byte(strings.Replace(m.tokenizerJSON(), `"type": "BPE"`, `"type": `+q, 1))}},
		"long merges line":  fstest.MapFS{"vocab.json": {Data: []byte(m.vocabJSON())}, "merges.txt": {Data: []byte("a b\n" + strings.ReplaceAll(long, "\n", "") + "\n")}},
		"long config key":   fstest.MapFS{"vocab.json": {Data: []byte(m.vocabJSON())}, "merges.txt": {Data: []byte(m.mergesTxt())}, "tokenizer_config.json": {Data: []byte(`{"added_tokens_decoder": {` + q + `: {"content": "x"}}}`)}},
		"long string as id": fstest.MapFS{"tokenizer.json": {Data: []byte(strings.Replace(m.tokenizerJSON(), `"ab": 256`, `"ab": `+q, 1))}},
		"long number as id": fstest.MapFS{"tokenizer.json": {Data: []byte(strings.Replace(m.tokenizerJSON(), `"ab": 256`, `"ab": `+strings.Repeat("9", 350), 1))}},
	}
	for name, fsys := range cases {
		_, err := Load(fsys)
		if err == nil {
			t.Errorf("%s: loaded", name)
			continue
		}
		msg := err.Error()
		if len(msg) > 300 || strings.ContainsAny(msg, "\n\r") {
			t.Errorf("%s: %d-byte message %.400q", name, len(msg), msg)
		}
		t.Logf("%s: %s", name, msg)
	}
}

// Memory is bounded per byte of input: loading a vocabulary of small
// entries — the worst case, where per-token costs dominate — peaks at a
// bounded multiple of the file's size. The load runs in a child process so
// that its peak resident memory (VmHWM) is its own.
func TestLoadMemoryPerInputByte(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and loads a 13 MB vocabulary in a child process")
	}
	if dir := os.Getenv("LENSKIT_VOCAB_MEM_CHILD"); dir != "" {
		v, err := LoadDir(dir)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		status, _ := os.ReadFile("/proc/self/status")
		for _, l := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(l, "VmHWM:") {
				fmt.Printf("tokens %d %s\n", v.Len(), l)
			}
		}
		os.Exit(0)
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc/self/status on this system")
	}
	dir := t.TempDir()
	const n = 500_000
	f, err := os.Create(filepath.Join(dir, "vocab.json"))
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("{")
	for i := 0; i < n; i++ {
		if i > 0 {
			f.WriteString(",")
		}
		f.WriteString(hugeVocabEntry(i))
	}
	f.WriteString("}")
	f.Close()
	os.WriteFile(filepath.Join(dir, "merges.txt"), []byte("#version: 0.2\n"), 0o644)
	st, _ := os.Stat(filepath.Join(dir, "vocab.json"))
	// The child's baseline: the same binary loading the tiny model.
	peak := func(d string) int64 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLoadMemoryPerInputByte$")
		cmd.Env = append(os.Environ(), "LENSKIT_VOCAB_MEM_CHILD="+d)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		var tokens int
		var kb int64
		if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "tokens %d VmHWM: %d kB", &tokens, &kb); err != nil {
			t.Fatalf("child output %q: %v", out, err)
		}
		return kb << 10
	}
	base := peak(modelDir(t))
	big := peak(dir)
	perByte := float64(big-base) / float64(st.Size())
	t.Logf("%d entries, %d-byte vocab.json: peak %d MiB (tiny model: %d MiB), %.1f bytes of memory per byte of input",
		n, st.Size(), big>>20, base>>20, perByte)
	if perByte > 16 {
		t.Errorf("%.1f bytes of peak memory per byte of input, more than 16", perByte)
	}
}
