package vocab

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// mini describes a small byte-level BPE tokenizer for tests: the 256 byte
// symbols (ids 0..255 in byte order), "ab" (256), "Ġab" (257) and
// "<|endoftext|>" (258), with merges "a b" and "Ġ ab".
type mini struct {
	entries    []entry
	merges     []string
	added      string // JSON array for added_tokens
	pre        string // JSON for pre_tokenizer
	normalizer string // JSON for normalizer
	model      string // extra JSON fields for model, with a leading comma
}

func newMini() mini {
	m := mini{
		merges: []string{"a b", "Ġ ab"},
		added:  `[{"id": 258, "content": "<|endoftext|>", "special": true}]`,
		pre:    `{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}`,
	}
	for b := 0; b < 256; b++ {
		m.entries = append(m.entries, entry{string(byteRune[b]), int64(b)})
	}
	m.entries = append(m.entries, entry{"ab", 256}, entry{"Ġab", 257}, entry{"<|endoftext|>", 258})
	return m
}

func (m mini) vocabJSON() string {
	var sb strings.Builder
	sb.WriteString("{")
	for i, e := range m.entries {
		if i > 0 {
			sb.WriteString(",\n")
		}
		fmt.Fprintf(&sb, "%s: %d", strconv.Quote(e.token), e.id)
	}
	sb.WriteString("}")
	return sb.String()
}

func (m mini) mergesJSON() string {
	q := make([]string, len(m.merges))
	for i, s := range m.merges {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func (m mini) mergesTxt() string { return "#version: 0.2\n" + strings.Join(m.merges, "\n") + "\n" }

func (m mini) tokenizerJSON() string {
	norm := m.normalizer
	if norm == "" {
		norm = "null"
	}
	return fmt.Sprintf(`{"version": "1.0", "added_tokens": %s, "normalizer": %s, "pre_tokenizer": %s,
"decoder": {"type": "ByteLevel"},
"model": {"type": "BPE", "dropout": null, "unk_token": null%s,
"vocab": %s,
"merges": %s}}`, m.added, norm, m.pre, m.model, m.vocabJSON(), m.mergesJSON())
}

func (m mini) fastFS() fstest.MapFS {
	return fstest.MapFS{"tokenizer.json": {Data: []byte(m.tokenizerJSON())}}
}

func (m mini) slowFS() fstest.MapFS {
	return fstest.MapFS{
		"vocab.json": {Data: []byte(m.vocabJSON())},
		"merges.txt": {Data: []byte(m.mergesTxt())},
	}
}

func mustLoad(t *testing.T, fsys fs.FS) *Vocab {
	t.Helper()
	v, err := Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMiniLoads(t *testing.T) {
	m := newMini()
	for _, fsys := range []fs.FS{m.fastFS(), m.slowFS()} {
		v := mustLoad(t, fsys)
		if v.Len() != 259 {
			t.Fatalf("Len = %d", v.Len())
		}
		ids, err := v.Encode("ab ab<|endoftext|>abc")
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{256, 257, 258, 256, int('c')}; !slices.Equal(ids, want) {
			t.Fatalf("%s: ids %v", v.Source(), ids)
		}
		if !v.Special(258) || v.Special(256) {
			t.Fatalf("%s: special flags wrong", v.Source())
		}
	}
}

// bigFS serves one file whose Stat claims a huge size, to check that the
// size limit is applied before anything is read.
type bigFS struct{ name string }

type bigFile struct{ name string }

func (b bigFS) Open(name string) (fs.File, error) {
	if name != b.name {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return bigFile{name}, nil
}
func (f bigFile) Stat() (fs.FileInfo, error) { return f, nil }
func (f bigFile) Read([]byte) (int, error)   { return 0, errors.New("bigFile must not be read") }
func (f bigFile) Close() error               { return nil }
func (f bigFile) Name() string               { return f.name }
func (f bigFile) Size() int64                { return 1 << 40 }
func (f bigFile) Mode() fs.FileMode          { return 0o444 }
func (f bigFile) ModTime() time.Time         { return time.Time{} }
func (f bigFile) IsDir() bool                { return false }
func (f bigFile) Sys() any                   { return nil }

// The bad-input table of the package documentation: each case is an error
// naming the file, the place in it, and the fault.
func TestLoadBadInput(t *testing.T) {
	withEntries := func(f func(m *mini)) fstest.MapFS { m := newMini(); f(&m); return m.fastFS() }
	withEntriesSlow := func(f func(m *mini)) fstest.MapFS { m := newMini(); f(&m); return m.slowFS() }
	cases := []struct {
		name  string
		fsys  fs.FS
		file  string
		where string
		fault string
	}{
		{"no tokenizer files", fstest.MapFS{"config.json": {Data: []byte("{}")}}, "tokenizer.json", "", "no vocab.json + merges.txt"},
		{"vocab.json without merges.txt", fstest.MapFS{"vocab.json": {Data: []byte(newMini().vocabJSON())}}, "merges.txt", "", "file does not exist"},
		{"empty tokenizer.json", fstest.MapFS{"tokenizer.json": {Data: nil}}, "tokenizer.json", "", "empty"},
		{"truncated tokenizer.json", fstest.MapFS{"tokenizer.json": {Data: []byte(newMini().tokenizerJSON()[:500])}}, "tokenizer.json", "line ", "unexpected end"},
		{"tokenizer.json over the size limit", bigFS{"tokenizer.json"}, "tokenizer.json", "", "over the 268435456-byte limit"},
		{"tokenizer.json is not JSON", fstest.MapFS{"tokenizer.json": {Data: []byte("{\n\"model\": x}")}}, "tokenizer.json", "line 2, column", "invalid character"},
		{"wrong field type", fstest.MapFS{"tokenizer.json": {Data: []byte(`{"model": {"type": 7}}`)}}, "tokenizer.json", "model.type", "number value where string"},
		{"no model", fstest.MapFS{"tokenizer.json": {Data: []byte(`{"added_tokens": []}`)}}, "tokenizer.json", "model", "missing"},
		{"WordPiece model", fstest.MapFS{"tokenizer.json": {Data: []byte(strings.Replace(newMini().tokenizerJSON(), `"type": "BPE"`, `"type": "WordPiece"`, 1))}}, "tokenizer.json", "model.type", `"WordPiece" is not supported`},
		{"unsupported normalizer", func() fs.FS {
			m := newMini()
			m.normalizer = `{"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Lowercase"}]}`
			return m.fastFS()
		}(), "tokenizer.json", "normalizer.normalizers[1]", `an object of type "Lowercase" is not supported (lenskit implements`},
		{"normalizer not an object", func() fs.FS { m := newMini(); m.normalizer = "[1,\n 2]"; return m.fastFS() }(), "tokenizer.json", "normalizer", "an array, not an object"},
		{"Replace with a regex", func() fs.FS {
			m := newMini()
			m.normalizer = `{"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}`
			return m.fastFS()
		}(), "tokenizer.json", "normalizer.pattern", `a Regex pattern " {2,}" is not supported`},
		{"unsupported pre-tokenizer", func() fs.FS { m := newMini(); m.pre = `{"type": "Whitespace"}`; return m.fastFS() }(), "tokenizer.json", "pre_tokenizer", `an object of type "Whitespace" is not supported`},
		{"unknown split pattern", func() fs.FS {
			m := newMini()
			m.pre = `{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\s+|\\w+"}, "behavior": "Isolated"}, {"type": "ByteLevel", "use_regex": false}]}`
			return m.fastFS()
		}(), "tokenizer.json", "pre_tokenizer.pretokenizers[0].pattern.Regex", `"\\s+|\\w+" is not a pattern lenskit implements`},
		{"unknown split behavior", func() fs.FS {
			m := newMini()
			m.pre = `{"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways"}`
			return m.fastFS()
		}(), "tokenizer.json", "pre_tokenizer.behavior", `"Sideways" is not one of`},
		{"neither byte-level nor SentencePiece", func() fs.FS {
			m := newMini()
			m.pre = `{"type": "Split", "pattern": {"String": " "}, "behavior": "Removed"}`
			return m.fastFS()
		}(), "tokenizer.json", "pre_tokenizer", "neither ByteLevel nor Metaspace"},
		{"dropout", func() fs.FS { m := newMini(); m.model = `, "dropout": 0.1`; return m.fastFS() }(), "tokenizer.json", "model.dropout", "random"},
		{"byte fallback with ByteLevel", func() fs.FS { m := newMini(); m.model = `, "byte_fallback": true`; return m.fastFS() }(), "tokenizer.json", "model.byte_fallback", "needs no byte fallback"},
		{"unk_token not in vocabulary", func() fs.FS {
			m := newMini()
			return fstest.MapFS{"tokenizer.json": {Data: []byte(strings.Replace(m.tokenizerJSON(), `"unk_token": null`, `"unk_token": "<unk>"`, 1))}}
		}(), "tokenizer.json", "model.unk_token", `"<unk>" is not in the vocabulary`},
		{"vocab is an array", fstest.MapFS{"tokenizer.json": {Data: []byte(`{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": [["a", 0.0]]}}`)}}, "tokenizer.json", "model.vocab", "not an object"},
		{"negative id", withEntries(func(m *mini) { m.entries[256].id = -3 }), "tokenizer.json", `model.vocab["ab"]`, "id -3 is negative"},
		{"fractional id", fstest.MapFS{"tokenizer.json": {Data: []byte(strings.Replace(newMini().tokenizerJSON(), `"ab": 256`, `"ab": 256.5`, 1))}}, "tokenizer.json", `model.vocab["ab"]`, "not an integer"},
		{"string id", fstest.MapFS{"tokenizer.json": {Data: []byte(strings.Replace(newMini().tokenizerJSON(), `"ab": 256`, `"ab": "256"`, 1))}}, "tokenizer.json", `model.vocab["ab"]`, "not a number"},
		{"huge id", withEntries(func(m *mini) { m.entries[256].id = 1 << 40 }), "tokenizer.json", `model.vocab["ab"]`, "beyond the"},
		{"duplicate token", withEntries(func(m *mini) { m.entries = append(m.entries, entry{"ab", 259}) }), "tokenizer.json", `model.vocab["ab"]`, "duplicate token (ids 256 and 259)"},
		{"duplicate id", withEntries(func(m *mini) { m.entries[257].id = 256 }), "tokenizer.json", `model.vocab["Ġab"]`, `id 256 is already the id of "ab"`},
		{"ids mostly holes", withEntries(func(m *mini) { m.entries[257].id = 5000 }), "tokenizer.json", "model.vocab", "ids run up to 5000 but at most 260 ids have a token"},
		{"added token on another token's id", func() fs.FS {
			m := newMini()
			m.added = `[{"id": 258, "content": "<|endoftext|>", "special": true}, {"id": 5, "content": "<|x|>", "special": true}]`
			return m.fastFS()
		}(), "tokenizer.json", "added_tokens[1]", `id 5 is "ą" in the vocabulary but "<|x|>" here`},
		{"added token with another id", func() fs.FS {
			m := newMini()
			m.added = `[{"id": 259, "content": "ab", "special": true}]`
			return m.fastFS()
		}(), "tokenizer.json", "added_tokens[0]", `"ab" has id 259 but the vocabulary gives it id 256`},
		{"two added tokens on one id", func() fs.FS {
			m := newMini()
			m.added = `[{"id": 258, "content": "<|endoftext|>"}, {"id": 259, "content": "<|a|>"}, {"id": 259, "content": "<|b|>"}]`
			return m.fastFS()
		}(), "tokenizer.json", "added_tokens[2]", `id 259 is already the added token "<|a|>"`},
		{"added token without content", func() fs.FS { m := newMini(); m.added = `[{"id": 259}]`; return m.fastFS() }(), "tokenizer.json", "added_tokens[0]", "empty content"},
		{"merge of three parts", withEntries(func(m *mini) { m.merges = append(m.merges, "a b c") }), "tokenizer.json", "model.merges[2]", "not two tokens"},
		{"merge part not in vocabulary", withEntries(func(m *mini) { m.merges = append(m.merges, "x yz") }), "tokenizer.json", "model.merges[2]", `"yz" is not in the vocabulary`},
		{"merge result not in vocabulary", withEntries(func(m *mini) { m.merges = append(m.merges, "b a") }), "tokenizer.json", "model.merges[2]", `merged token "ba" is not in the vocabulary`},
		{"duplicate merge", withEntries(func(m *mini) { m.merges = append(m.merges, "a b") }), "tokenizer.json", "model.merges[2]", "duplicate of the merge at model.merges[0]"},
		{"merge is a number", fstest.MapFS{"tokenizer.json": {Data: []byte(strings.Replace(newMini().tokenizerJSON(), `"merges": ["a b"`, `"merges": [7`, 1))}}, "tokenizer.json", "model.merges[0]", "expected"},
		{"vocab.json duplicate id", withEntriesSlow(func(m *mini) { m.entries[257].id = 256 }), "vocab.json", `vocab["Ġab"]`, `id 256 is already the id of "ab"`},
		{"vocab.json over the size limit", bigFS{"vocab.json"}, "vocab.json", "", "over the 134217728-byte limit"},
		{"merges.txt malformed line", withEntriesSlow(func(m *mini) { m.merges = append(m.merges, "abc") }), "merges.txt", "line 4", `"abc" is not two tokens`},
		{"merges.txt blank line", withEntriesSlow(func(m *mini) { m.merges = append([]string{""}, m.merges...) }), "merges.txt", "line 2", "blank line"},
		{"merges.txt unknown token", withEntriesSlow(func(m *mini) { m.merges = append(m.merges, "ab Ġab") }), "merges.txt", "line 4", `merged token "abĠab" is not in the vocabulary`},
		{"malformed tokenizer_config.json", func() fs.FS {
			f := newMini().slowFS()
			f["tokenizer_config.json"] = &fstest.MapFile{Data: []byte(`{"bos_token": `)}
			return f
		}(), "tokenizer_config.json", "", "unexpected end"},
		{"added_tokens_decoder with a bad id", func() fs.FS {
			f := newMini().slowFS()
			f["tokenizer_config.json"] = &fstest.MapFile{Data: []byte(`{"added_tokens_decoder": {"x": {"content": "<|y|>"}}}`)}
			return f
		}(), "tokenizer_config.json", `added_tokens_decoder["x"]`, "not a token id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Load(tc.fsys)
			if err == nil {
				t.Fatalf("loaded %d tokens, want an error", v.Len())
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FileError", err)
			}
			msg := err.Error()
			t.Log(msg)
			if fe.File != tc.file || !strings.Contains(fe.Where, tc.where) || !strings.Contains(msg, tc.fault) {
				t.Errorf("error %q\nwant file %q, where containing %q, fault containing %q", msg, tc.file, tc.where, tc.fault)
			}
		})
	}
	if _, err := Load(fstest.MapFS{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing files: %v does not wrap fs.ErrNotExist", err)
	}
}

func TestLoadOptions(t *testing.T) {
	t.Run("add_prefix_space", func(t *testing.T) {
		m := newMini()
		m.pre = `{"type": "ByteLevel", "add_prefix_space": true}`
		v := mustLoad(t, m.fastFS())
		ids, _ := v.Encode("ab ab")
		if !slices.Equal(ids, []int{257, 257}) {
			t.Errorf("ids %v, want [257 257]", ids)
		}
		// A config file turns it on for the vocab.json path too.
		f := m.slowFS()
		f["tokenizer_config.json"] = &fstest.MapFile{Data: []byte(`{"add_prefix_space": true}`)}
		v = mustLoad(t, f)
		if ids, _ := v.Encode("ab"); !slices.Equal(ids, []int{257}) {
			t.Errorf("vocab.json path: ids %v", ids)
		}
	})
	t.Run("added token flags", func(t *testing.T) {
		m := newMini()
		m.added = `[{"id": 258, "content": "<|endoftext|>", "special": true, "lstrip": true, "rstrip": true},
			{"id": 259, "content": "ab", "single_word": true}]`
		m.entries = m.entries[:258]
		m.entries = append(m.entries, entry{"<|endoftext|>", 258})
		m.merges = m.merges[:1]
		m.entries[256].token = "zz" // free "ab" for the added token
		m.merges = nil
		v := mustLoad(t, m.fastFS())
		ids, _ := v.Encode("x  <|endoftext|>  y")
		if !slices.Equal(ids, []int{int('x'), 258, int('y')}) {
			t.Errorf("lstrip/rstrip: ids %v", ids)
		}
		ids, _ = v.Encode("ab cab")
		if ids[0] != 259 || slices.Contains(ids[1:], 259) {
			t.Errorf("single_word: ids %v", ids)
		}
		if v.Special(259) || !v.Special(258) || v.Display(259) != "ab" {
			t.Errorf("flags: special %v %v display %q", v.Special(258), v.Special(259), v.Display(259))
		}
	})
	t.Run("merges as pairs", func(t *testing.T) {
		m := newMini()
		js := strings.Replace(m.tokenizerJSON(), `"merges": ["a b", "Ġ ab"]`, `"merges": [["a", "b"], ["Ġ", "ab"]]`, 1)
		v := mustLoad(t, fstest.MapFS{"tokenizer.json": {Data: []byte(js)}})
		if ids, _ := v.Encode(" ab"); !slices.Equal(ids, []int{257}) {
			t.Errorf("ids %v", ids)
		}
	})
	t.Run("missing byte symbol", func(t *testing.T) {
		m := newMini()
		m.entries[int('z')].token = "zq" // no symbol for 'z' any more
		v := mustLoad(t, m.fastFS())
		_, err := v.Encode("abz")
		var mb *MissingByteError
		if !errors.As(err, &mb) || mb.Byte != 'z' || mb.Offset != 2 {
			t.Errorf("error %v", err)
		}
	})
	t.Run("unk token", func(t *testing.T) {
		m := newMini()
		m.entries[int('z')].token = "<unk>"
		m.model = `, "fuse_unk": true`
		js := strings.Replace(m.tokenizerJSON(), `"unk_token": null`, `"unk_token": "<unk>"`, 1)
		v := mustLoad(t, fstest.MapFS{"tokenizer.json": {Data: []byte(js)}})
		ids, err := v.Encode("azzb")
		if err != nil || !slices.Equal(ids, []int{int('a'), int('z'), int('b')}) {
			t.Errorf("ids %v, %v", ids, err)
		}
	})
	t.Run("ignore_merges", func(t *testing.T) {
		m := newMini()
		m.merges = nil
		m.model = `, "ignore_merges": true`
		v := mustLoad(t, m.fastFS())
		if ids, _ := v.Encode(" ab abc"); !slices.Equal(ids, []int{257, 32, int('a'), int('b'), int('c')}) {
			t.Errorf("ids %v", ids)
		}
	})
	t.Run("non-byte-level entry", func(t *testing.T) {
		m := newMini()
		m.entries[256].token = "ab€" // "€" is no byte image: decoded as its UTF-8
		m.merges = nil
		v := mustLoad(t, m.fastFS())
		if string(v.Bytes(256)) != "ab€" || v.Text(256) != "ab€" {
			t.Errorf("Bytes %q", v.Bytes(256))
		}
	})
}

// readFile never reads more than its limit, even when Stat is unavailable.
func TestReadFileLimit(t *testing.T) {
	_, err := readFile(noStatFS{}, "f", 10)
	if err == nil || !strings.Contains(err.Error(), "over the 10-byte limit") {
		t.Fatalf("err = %v", err)
	}
}

type noStatFS struct{}
type noStatFile struct{ n int }

func (noStatFS) Open(string) (fs.File, error)  { return &noStatFile{}, nil }
func (*noStatFile) Stat() (fs.FileInfo, error) { return nil, errors.New("no stat") }
func (*noStatFile) Close() error               { return nil }
func (f *noStatFile) Read(p []byte) (int, error) {
	if f.n > 1000 {
		return 0, io.EOF
	}
	f.n += len(p)
	return len(p), nil
}
