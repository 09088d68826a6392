package vocab

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Size limits, checked before anything is allocated for a file. They are far
// above any real tokenizer (GPT-2: 1.3 MB tokenizer.json, 50,257 entries,
// 50,000 merges; the largest public vocabularies have about 260,000 entries)
// and far below what would exhaust memory.
const (
	maxTokenizerJSON = 256 << 20
	maxVocabJSON     = 128 << 20
	maxMergesTxt     = 128 << 20
	maxConfigJSON    = 64 << 20
	maxVocabEntries  = 1 << 22
	maxMerges        = 1 << 23
	maxEntryBytes    = 1 << 16
)

// A FileError reports a fault in one of the tokenizer files: which file,
// where in it (a line, or a JSON field such as model.vocab["Ġdom"]), and what
// is wrong. Missing files wrap fs.ErrNotExist.
type FileError struct {
	File  string // "tokenizer.json", "vocab.json", "merges.txt", ...
	Where string // "line 17", `model.vocab["Ġdom"]`, or "" for the whole file
	Err   error
}

func (e *FileError) Error() string {
	if e.Where == "" {
		return fmt.Sprintf("vocab: %s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("vocab: %s: %s: %v", e.File, e.Where, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

func fileErr(file, where, format string, args ...any) *FileError {
	return &FileError{File: file, Where: where, Err: fmt.Errorf(format, args...)}
}

// LoadDir is Load(os.DirFS(dir)).
func LoadDir(dir string) (*Vocab, error) { return Load(os.DirFS(dir)) }

// Load reads a vocabulary from the root of fsys: tokenizer.json when present
// (the Hugging Face "fast" tokenizer file, as transformers prefers it), else
// vocab.json + merges.txt (with tokenizer_config.json and
// special_tokens_map.json, when present, for special tokens and
// add_prefix_space). Only byte-level BPE, the tokenizer of the GPT-2 family,
// is accepted; anything else is reported rather than mis-tokenized.
//
// Every file is size-checked before it is read, and every fault — duplicate
// entries or ids, ids out of range or leaving gaps, malformed merges, merges
// whose parts or result are not in the vocabulary — is a *FileError naming
// the file and the line or field.
func Load(fsys fs.FS) (*Vocab, error) {
	data, err := readFile(fsys, "tokenizer.json", maxTokenizerJSON)
	if err == nil {
		sp, err := parseTokenizerJSON(data)
		if err != nil {
			return nil, err
		}
		return build(sp)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	vocabData, err := readFile(fsys, "vocab.json", maxVocabJSON)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &FileError{File: "tokenizer.json", Err: fmt.Errorf("no tokenizer.json, and no vocab.json + merges.txt either: %w", fs.ErrNotExist)}
	}
	if err != nil {
		return nil, err
	}
	mergesData, err := readFile(fsys, "merges.txt", maxMergesTxt)
	if err != nil {
		return nil, err
	}
	sp, err := parseVocabMerges(vocabData, mergesData)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"tokenizer_config.json", "special_tokens_map.json"} {
		cfg, err := readFile(fsys, name, maxConfigJSON)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := sp.applyConfig(name, cfg); err != nil {
			return nil, err
		}
	}
	sp.defaultSpecials()
	return build(sp)
}

// readFile reads name from fsys, refusing files larger than limit before
// reading them.
func readFile(fsys fs.FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, &FileError{File: name, Err: err}
	}
	defer f.Close()
	var size int64 = -1
	if st, err := f.Stat(); err == nil {
		if st.IsDir() {
			return nil, fileErr(name, "", "is a directory")
		}
		size = st.Size()
		if size > limit {
			return nil, fileErr(name, "", "file is %d bytes, over the %d-byte limit for this file", size, limit)
		}
	}
	var buf bytes.Buffer
	if size > 0 {
		buf.Grow(int(size))
	}
	if _, err := io.Copy(&buf, io.LimitReader(f, limit+1)); err != nil {
		return nil, &FileError{File: name, Err: err}
	}
	if int64(buf.Len()) > limit {
		return nil, fileErr(name, "", "file is over the %d-byte limit for this file", limit)
	}
	if buf.Len() == 0 {
		return nil, fileErr(name, "", "file is empty")
	}
	return buf.Bytes(), nil
}

// spec is what the parsers extract from the files, before any cross-checks.
type spec struct {
	source     string
	vocabFile  string // file + field prefix used in messages about entries
	vocabField string
	entries    []entry // in file order
	added      []addedSpec
	mergeFile  string
	merges     []mergeSpec
	prefix     bool
	ignore     bool
	unkToken   string
	fuseUnk    bool
}

type entry struct {
	token string
	id    int64
}

type addedSpec struct {
	file       string // for messages: the file and field that define it
	where      string
	content    string
	id         int64
	special    bool
	lstrip     bool
	rstrip     bool
	singleWord bool
}

type mergeSpec struct {
	where string // "line 5" or "model.merges[3]"
	a, b  string
}

// jsonWhere turns a JSON decoding error into a position.
func jsonWhere(data []byte, err error) (string, error) {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var off int64 = -1
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
	case errors.As(err, &typ):
		off = typ.Offset
		if typ.Field != "" {
			return fmt.Sprintf("field %s at %s", typ.Field, lineCol(data, off)), fmt.Errorf("%s value where %s was expected", typ.Value, typ.Type)
		}
	}
	if off >= 0 {
		return lineCol(data, off), err
	}
	return "", err
}

func lineCol(data []byte, off int64) string {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line := bytes.Count(data[:off], []byte{'\n'}) + 1
	col := off - int64(bytes.LastIndexByte(data[:off], '\n'))
	return fmt.Sprintf("line %d, column %d", line, col)
}

// tokenizerJSON is the part of tokenizer.json that matters for byte-level BPE.
type tokenizerJSON struct {
	AddedTokens []struct {
		ID         *int64  `json:"id"`
		Content    *string `json:"content"`
		SingleWord bool    `json:"single_word"`
		Lstrip     bool    `json:"lstrip"`
		Rstrip     bool    `json:"rstrip"`
		Special    bool    `json:"special"`
	} `json:"added_tokens"`
	Normalizer   json.RawMessage `json:"normalizer"`
	PreTokenizer json.RawMessage `json:"pre_tokenizer"`
	Model        *struct {
		Type                    string          `json:"type"`
		Vocab                   json.RawMessage `json:"vocab"`
		Merges                  json.RawMessage `json:"merges"`
		UnkToken                *string         `json:"unk_token"`
		ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
		ByteFallback            bool            `json:"byte_fallback"`
		FuseUnk                 bool            `json:"fuse_unk"`
		IgnoreMerges            bool            `json:"ignore_merges"`
		Dropout                 *float64        `json:"dropout"`
	} `json:"model"`
}

type preTokenizerJSON struct {
	Type           string             `json:"type"`
	AddPrefixSpace bool               `json:"add_prefix_space"`
	UseRegex       *bool              `json:"use_regex"`
	PreTokenizers  []preTokenizerJSON `json:"pretokenizers"`
}

func isNull(raw json.RawMessage) bool {
	return len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

func parseTokenizerJSON(data []byte) (*spec, error) {
	const file = "tokenizer.json"
	var tj tokenizerJSON
	if err := json.Unmarshal(data, &tj); err != nil {
		where, err := jsonWhere(data, err)
		return nil, &FileError{File: file, Where: where, Err: err}
	}
	m := tj.Model
	if m == nil {
		return nil, fileErr(file, "model", "missing")
	}
	if m.Type != "" && m.Type != "BPE" {
		return nil, fileErr(file, "model.type", "%q is not supported: lenskit reads byte-level BPE tokenizers (the GPT-2 family)", m.Type)
	}
	if !isNull(tj.Normalizer) {
		return nil, fileErr(file, "normalizer", "%s is not supported: GPT-2-style byte-level BPE has no normalizer", abbreviate(tj.Normalizer))
	}
	sp := &spec{source: file, vocabFile: file, vocabField: "model.vocab", mergeFile: file}
	if isNull(tj.PreTokenizer) {
		return nil, fileErr(file, "pre_tokenizer", "missing: a ByteLevel pre-tokenizer is required")
	}
	var pt preTokenizerJSON
	if err := json.Unmarshal(tj.PreTokenizer, &pt); err != nil {
		return nil, fileErr(file, "pre_tokenizer", "%v", err)
	}
	if pt.Type == "Sequence" && len(pt.PreTokenizers) == 1 {
		pt = pt.PreTokenizers[0]
	}
	if pt.Type != "ByteLevel" {
		return nil, fileErr(file, "pre_tokenizer", "type %q is not supported: lenskit reads byte-level BPE (pre_tokenizer ByteLevel)", pt.Type)
	}
	if pt.UseRegex != nil && !*pt.UseRegex {
		return nil, fileErr(file, "pre_tokenizer.use_regex", "false is not supported: lenskit splits text with GPT-2's pattern")
	}
	sp.prefix = pt.AddPrefixSpace
	if m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "" {
		return nil, fileErr(file, "model.continuing_subword_prefix", "%q is not supported by byte-level BPE", *m.ContinuingSubwordPrefix)
	}
	if m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "" {
		return nil, fileErr(file, "model.end_of_word_suffix", "%q is not supported by byte-level BPE", *m.EndOfWordSuffix)
	}
	if m.ByteFallback {
		return nil, fileErr(file, "model.byte_fallback", "true is not supported: byte-level BPE needs no byte fallback")
	}
	if m.Dropout != nil && *m.Dropout != 0 {
		return nil, fileErr(file, "model.dropout", "%v: BPE dropout makes encoding random; lenskit needs it off", *m.Dropout)
	}
	if m.UnkToken != nil {
		sp.unkToken = *m.UnkToken
	}
	sp.fuseUnk = m.FuseUnk
	sp.ignore = m.IgnoreMerges
	var err error
	if isNull(m.Vocab) {
		return nil, fileErr(file, "model.vocab", "missing")
	}
	if sp.entries, err = parseVocabObject(m.Vocab, file, "model.vocab"); err != nil {
		return nil, err
	}
	if !isNull(m.Merges) {
		if sp.merges, err = parseMergesJSON(m.Merges, file); err != nil {
			return nil, err
		}
	}
	for i, at := range tj.AddedTokens {
		where := fmt.Sprintf("added_tokens[%d]", i)
		if at.ID == nil {
			return nil, fileErr(file, where, "no id")
		}
		if at.Content == nil || *at.Content == "" {
			return nil, fileErr(file, where, "empty content")
		}
		sp.added = append(sp.added, addedSpec{
			file: file, where: where, content: *at.Content, id: *at.ID, special: at.Special,
			lstrip: at.Lstrip, rstrip: at.Rstrip, singleWord: at.SingleWord,
		})
	}
	return sp, nil
}

func abbreviate(raw []byte) string {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// parseVocabObject reads a {"token": id, ...} object, in file order,
// rejecting duplicate tokens and ids that are not small non-negative integers.
func parseVocabObject(raw []byte, file, field string) ([]entry, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		where, err := jsonWhere(raw, err)
		return nil, &FileError{File: file, Where: joinWhere(field, where), Err: err}
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fileErr(file, field, "not an object {\"token\": id, ...} (a Unigram or WordPiece vocabulary is not byte-level BPE)")
	}
	seen := make(map[string]int64)
	var out []entry
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			where, err := jsonWhere(raw, err)
			return nil, &FileError{File: file, Where: joinWhere(field, where), Err: err}
		}
		key, ok := kt.(string)
		if !ok {
			return nil, fileErr(file, field, "entry %d: key is not a string", len(out))
		}
		where := fmt.Sprintf("%s[%s]", field, strconv.Quote(key))
		vt, err := dec.Token()
		if err != nil {
			w, err := jsonWhere(raw, err)
			return nil, &FileError{File: file, Where: joinWhere(where, w), Err: err}
		}
		num, ok := vt.(json.Number)
		if !ok {
			return nil, fileErr(file, where, "id is %s, not a number", describeToken(vt))
		}
		id, err := strconv.ParseInt(num.String(), 10, 64)
		if err != nil {
			return nil, fileErr(file, where, "id %s is not an integer", num)
		}
		if id < 0 {
			return nil, fileErr(file, where, "id %d is negative", id)
		}
		if id >= maxVocabEntries {
			return nil, fileErr(file, where, "id %d is beyond the %d-entry limit", id, maxVocabEntries)
		}
		if key == "" {
			return nil, fileErr(file, where, "empty token")
		}
		if len(key) > maxEntryBytes {
			return nil, fileErr(file, where, "token is %d bytes, over the %d-byte limit", len(key), maxEntryBytes)
		}
		if prev, dup := seen[key]; dup {
			return nil, fileErr(file, where, "duplicate token (ids %d and %d)", prev, id)
		}
		if len(out) >= maxVocabEntries {
			return nil, fileErr(file, field, "more than %d entries", maxVocabEntries)
		}
		seen[key] = id
		out = append(out, entry{key, id})
	}
	if _, err := dec.Token(); err != nil {
		where, err := jsonWhere(raw, err)
		return nil, &FileError{File: file, Where: joinWhere(field, where), Err: err}
	}
	if len(out) == 0 {
		return nil, fileErr(file, field, "empty vocabulary")
	}
	return out, nil
}

func describeToken(t json.Token) string {
	switch x := t.(type) {
	case json.Delim:
		return fmt.Sprintf("%q", string(x))
	case string:
		return fmt.Sprintf("the string %q", x)
	case bool:
		return fmt.Sprintf("%v", x)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", t)
}

func joinWhere(a, b string) string {
	if b == "" {
		return a
	}
	return a + " (" + b + ")"
}

// parseMergesJSON reads model.merges: ["a b", ...] or [["a", "b"], ...].
func parseMergesJSON(raw []byte, file string) ([]mergeSpec, error) {
	const field = "model.merges"
	dec := json.NewDecoder(bytes.NewReader(raw))
	fail := func(where string, err error) error {
		w, err := jsonWhere(raw, err)
		return &FileError{File: file, Where: joinWhere(where, w), Err: err}
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, fail(field, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fileErr(file, field, "not an array")
	}
	var out []mergeSpec
	for dec.More() {
		where := fmt.Sprintf("%s[%d]", field, len(out))
		if len(out) >= maxMerges {
			return nil, fileErr(file, field, "more than %d merges", maxMerges)
		}
		t, err := dec.Token()
		if err != nil {
			return nil, fail(where, err)
		}
		var a, b string
		switch x := t.(type) {
		case string:
			var ok bool
			a, b, ok = splitMerge(x)
			if !ok {
				return nil, fileErr(file, where, "%q is not two tokens separated by one space", x)
			}
		case json.Delim:
			if x != '[' {
				return nil, fileErr(file, where, "expected \"a b\" or [\"a\", \"b\"]")
			}
			var parts []string
			for dec.More() {
				p, err := dec.Token()
				if err != nil {
					return nil, fail(where, err)
				}
				s, ok := p.(string)
				if !ok || len(parts) == 2 {
					return nil, fileErr(file, where, "expected exactly two strings")
				}
				parts = append(parts, s)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fail(where, err)
			}
			if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
				return nil, fileErr(file, where, "expected exactly two non-empty strings")
			}
			a, b = parts[0], parts[1]
		default:
			return nil, fileErr(file, where, "%s: expected \"a b\" or [\"a\", \"b\"]", describeToken(t))
		}
		out = append(out, mergeSpec{where, a, b})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fail(field, err)
	}
	return out, nil
}

func splitMerge(s string) (a, b string, ok bool) {
	a, b, ok = strings.Cut(s, " ")
	if !ok || a == "" || b == "" || strings.Contains(b, " ") {
		return "", "", false
	}
	return a, b, true
}

// parseVocabMerges reads the slow-tokenizer pair of files.
func parseVocabMerges(vocabData, mergesData []byte) (*spec, error) {
	sp := &spec{source: "vocab.json+merges.txt", vocabFile: "vocab.json", mergeFile: "merges.txt"}
	var err error
	if sp.entries, err = parseVocabObject(vocabData, "vocab.json", "vocab"); err != nil {
		return nil, err
	}
	if sp.merges, err = parseMergesTxt(mergesData); err != nil {
		return nil, err
	}
	return sp, nil
}

// parseMergesTxt reads merges.txt: an optional "#version" line, then one
// merge "a b" per line. A final newline is allowed; blank lines elsewhere
// are errors, as are lines that are not two tokens separated by one space.
// A trailing "\r" (a file written on Windows) is ignored.
func parseMergesTxt(data []byte) ([]mergeSpec, error) {
	const file = "merges.txt"
	lines := strings.Split(string(data), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > maxMerges+1 {
		return nil, fileErr(file, "", "more than %d merges", maxMerges)
	}
	out := make([]mergeSpec, 0, len(lines))
	for i, line := range lines {
		line = strings.TrimSuffix(line, "\r")
		where := fmt.Sprintf("line %d", i+1)
		if strings.HasPrefix(line, "#version") {
			continue
		}
		if line == "" {
			return nil, fileErr(file, where, "blank line")
		}
		a, b, ok := splitMerge(line)
		if !ok {
			return nil, fileErr(file, where, "%q is not two tokens separated by one space", abbreviate([]byte(line)))
		}
		out = append(out, mergeSpec{where, a, b})
	}
	return out, nil
}

// tokenizerConfig holds the fields of tokenizer_config.json and
// special_tokens_map.json that name special tokens.
type tokenizerConfig struct {
	AddedTokensDecoder map[string]struct {
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		Lstrip     bool   `json:"lstrip"`
		Rstrip     bool   `json:"rstrip"`
		Special    bool   `json:"special"`
	} `json:"added_tokens_decoder"`
	BosToken       json.RawMessage `json:"bos_token"`
	EosToken       json.RawMessage `json:"eos_token"`
	UnkToken       json.RawMessage `json:"unk_token"`
	PadToken       json.RawMessage `json:"pad_token"`
	AddPrefixSpace *bool           `json:"add_prefix_space"`
}

// tokenContent reads a special token given as "text" or {"content": "text"}.
func tokenContent(raw json.RawMessage) (string, bool) {
	if isNull(raw) {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, s != ""
	}
	var obj struct {
		Content string `json:"content"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.Content, obj.Content != ""
	}
	return "", false
}

func (sp *spec) applyConfig(file string, data []byte) error {
	var cfg tokenizerConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		where, err := jsonWhere(data, err)
		return &FileError{File: file, Where: where, Err: err}
	}
	if cfg.AddPrefixSpace != nil {
		sp.prefix = *cfg.AddPrefixSpace
	}
	keys := make([]string, 0, len(cfg.AddedTokensDecoder))
	for key := range cfg.AddedTokensDecoder {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		at := cfg.AddedTokensDecoder[key]
		where := fmt.Sprintf("added_tokens_decoder[%q]", key)
		id, err := strconv.ParseInt(key, 10, 64)
		if err != nil || id < 0 || id >= maxVocabEntries {
			return fileErr(file, where, "key is not a token id in [0, %d)", maxVocabEntries)
		}
		if at.Content == "" {
			return fileErr(file, where, "empty content")
		}
		sp.added = append(sp.added, addedSpec{
			file: file, where: where, content: at.Content, id: id, special: at.Special,
			lstrip: at.Lstrip, rstrip: at.Rstrip, singleWord: at.SingleWord,
		})
	}
	for _, named := range []struct {
		field string
		raw   json.RawMessage
	}{{"bos_token", cfg.BosToken}, {"eos_token", cfg.EosToken}, {"unk_token", cfg.UnkToken}, {"pad_token", cfg.PadToken}} {
		content, ok := tokenContent(named.raw)
		if !ok {
			continue
		}
		sp.markSpecial(file, named.field, content)
	}
	return nil
}

// markSpecial makes a vocabulary entry a special token (matched whole in
// text, not byte-level decoded). Names of tokens that are not in the
// vocabulary are ignored, as transformers would add them as new tokens that
// have no embedding row.
func (sp *spec) markSpecial(file, where, content string) {
	for _, a := range sp.added {
		if a.content == content {
			return
		}
	}
	for _, e := range sp.entries {
		if e.token == content {
			sp.added = append(sp.added, addedSpec{file: file, where: where, content: content, id: e.id, special: true})
			return
		}
	}
}

// defaultSpecials applies GPT2Tokenizer's defaults: "<|endoftext|>" is the
// unknown, beginning and end token even when no config file says so.
func (sp *spec) defaultSpecials() {
	sp.markSpecial(sp.vocabFile, "GPT-2 default special token", "<|endoftext|>")
}
