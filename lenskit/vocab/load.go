package vocab

import (
	"bufio"
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
	"unicode/utf8"
)

// Size limits, checked before anything is allocated for a file. They are far
// above any real tokenizer (GPT-2: 1.3 MB tokenizer.json, 50,257 entries,
// 50,000 merges; Gemma 3: 33 MB, 262,145 entries, 514,906 merges) and far
// below what would exhaust memory.
const (
	maxTokenizerJSON = 256 << 20
	maxVocabJSON     = 128 << 20
	maxMergesTxt     = 128 << 20
	maxConfigJSON    = 64 << 20
	maxVocabEntries  = 1 << 22
	maxMerges        = 1 << 23
	maxEntryBytes    = 1 << 16
	// maxGapSlack is how many ids may be missing (placeholders) beyond one
	// per real token: a few reserved ids are normal, a vocabulary that is
	// mostly holes is an attack on memory.
	maxGapSlack = 1024
)

// A FileError reports a fault in one of the tokenizer files: which file,
// where in it (a line, or a JSON field such as model.vocab["Ġdom"]), and what
// is wrong. Missing files wrap fs.ErrNotExist. Values from the file are
// quoted escaped and cut to a short prefix, so a message is always one short
// line.
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

// quoteMax is the longest prefix of a value from a file that a message
// quotes.
const quoteMax = 40

// quote is strconv.Quote for values from files: at most quoteMax bytes (cut
// at a character boundary), escaped, with the full length when cut. A
// 100,000-byte token gives a 60-byte quotation, never a 100,000-byte message.
func quote(s string) string {
	if len(s) <= quoteMax {
		return strconv.Quote(s)
	}
	cut := quoteMax
	for cut > quoteMax-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:cut]), len(s))
}

// LoadOptions tunes Load for a caller that knows more than the files.
type LoadOptions struct {
	// MaxTokens, when positive, is the number of token ids the caller can
	// use — the model's embedding rows. A vocabulary entry or added token
	// with an id at or beyond it, or more entries than it, is refused as
	// soon as it is read, before the rest of the file is decoded and before
	// any map is built, so a hostile 4-million-entry vocabulary for a
	// 300-row model costs a few kilobytes, not gigabytes.
	MaxTokens int
}

// LoadDir is Load(os.DirFS(dir)).
func LoadDir(dir string) (*Vocab, error) { return Load(os.DirFS(dir)) }

// Load is LoadOptions{}.Load(fsys): no limit but the package's own.
func Load(fsys fs.FS) (*Vocab, error) { return LoadOptions{}.Load(fsys) }

// Load reads a vocabulary from the root of fsys: tokenizer.json when present
// (the Hugging Face "fast" tokenizer file, as transformers prefers it), else
// vocab.json + merges.txt (with tokenizer_config.json and
// special_tokens_map.json, when present, for special tokens and
// add_prefix_space). Two kinds of tokenizer are read (see Kind): byte-level
// BPE (GPT-2, GPT-NeoX, Llama 3, Qwen 2/3) and SentencePiece-style BPE with
// the "▁" word marker (Llama 2, Mistral, Gemma); anything else is reported
// rather than mis-tokenized. tokenizer_config.json, when present beside
// tokenizer.json, is read for add_bos_token and bos_token (see BOS).
//
// Files are read as streams: each is size-checked before it is read, JSON
// is decoded token by token, and entries are counted and checked against
// o.MaxTokens as they arrive. Every fault — duplicate entries or ids, ids
// out of range, malformed merges, merges whose parts or result are not in
// the vocabulary, unsupported normalizers or pre-tokenizers — is a
// *FileError naming the file and the line or field.
func (o LoadOptions) Load(fsys fs.FS) (*Vocab, error) {
	lim := limits{tokens: maxVocabEntries}
	if o.MaxTokens > 0 && o.MaxTokens < lim.tokens {
		lim.tokens, lim.rows = o.MaxTokens, true
	}
	sp, err := parseTokenizerJSON(fsys, lim)
	if err == nil {
		if err := sp.readConfigForBOS(fsys); err != nil {
			return nil, err
		}
		return build(sp)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	sp, err = parseVocabMerges(fsys, lim)
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

// limits are the bounds a load checks entries against as it reads them.
type limits struct {
	tokens int  // ids must be below this
	rows   bool // tokens came from the caller (the embedding's rows)
}

// checkID reports an id at or beyond the limit.
func (l limits) checkID(id int64) error {
	if id < int64(l.tokens) {
		return nil
	}
	if l.rows {
		return fmt.Errorf("id %d is beyond the embedding's %d rows", id, l.tokens)
	}
	return fmt.Errorf("id %d is beyond the %d-entry limit", id, l.tokens)
}

// checkCount reports more entries than ids.
func (l limits) checkCount(n int) error {
	if n <= l.tokens {
		return nil
	}
	if l.rows {
		return fmt.Errorf("more than %d entries, the embedding's rows", l.tokens)
	}
	return fmt.Errorf("more than %d entries", l.tokens)
}

// openFile opens name, refusing a directory or a file larger than limit
// (by its Stat, before reading) and stopping any read beyond limit.
func openFile(fsys fs.FS, name string, limit int64) (*limitedReader, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, &FileError{File: name, Err: err}
	}
	if st, err := f.Stat(); err == nil {
		if st.IsDir() {
			f.Close()
			return nil, fileErr(name, "", "is a directory")
		}
		if st.Size() > limit {
			f.Close()
			return nil, fileErr(name, "", "file is %d bytes, over the %d-byte limit for this file", st.Size(), limit)
		}
	}
	return &limitedReader{f: f, name: name, limit: limit}, nil
}

// errOverLimit is returned by limitedReader past its limit.
var errOverLimit = errors.New("over the size limit")

// limitedReader reads a file up to its size limit and counts what it read.
type limitedReader struct {
	f     fs.File
	name  string
	limit int64
	n     int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n > l.limit {
		return 0, errOverLimit
	}
	if int64(len(p)) > l.limit+1-l.n {
		p = p[:l.limit+1-l.n]
	}
	k, err := l.f.Read(p)
	l.n += int64(k)
	if l.n > l.limit {
		return k, errOverLimit
	}
	return k, err
}

func (l *limitedReader) Close() error { return l.f.Close() }

// overLimit is the error for a file that grew past its limit while read.
func (l *limitedReader) overLimit() *FileError {
	return fileErr(l.name, "", "file is over the %d-byte limit for this file", l.limit)
}

// readFile reads a small file whole, refusing files larger than limit before
// reading them.
func readFile(fsys fs.FS, name string, limit int64) ([]byte, error) {
	r, err := openFile(fsys, name, limit)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var buf bytes.Buffer
	if st, err := r.f.Stat(); err == nil && st.Size() > 0 {
		buf.Grow(int(st.Size()))
	}
	if _, err := io.Copy(&buf, r); err != nil {
		if errors.Is(err, errOverLimit) {
			return nil, r.overLimit()
		}
		return nil, &FileError{File: name, Err: err}
	}
	if buf.Len() == 0 {
		return nil, fileErr(name, "", "file is empty")
	}
	return buf.Bytes(), nil
}

func lineCol(data []byte, off int64) string {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line := bytes.Count(data[:off], []byte{'\n'}) + 1
	col := off - int64(bytes.LastIndexByte(data[:off], '\n'))
	return fmt.Sprintf("line %d, column %d", line, col)
}

// jsonWhere turns a JSON decoding error on an in-memory document into a
// position.
func jsonWhere(data []byte, err error) (string, error) {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return lineCol(data, syn.Offset), err
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %s at %s", typ.Field, lineCol(data, typ.Offset)), fmt.Errorf("%s value where %s was expected", typ.Value, typ.Type)
		}
		return lineCol(data, typ.Offset), fmt.Errorf("%s value where %s was expected", typ.Value, typ.Type)
	}
	return "", err
}

func joinWhere(a, b string) string {
	if b == "" {
		return a
	}
	if a == "" {
		return b
	}
	return a + " (" + b + ")"
}

// spec is what the parsers extract from the files, before any cross-checks.
type spec struct {
	source     string
	vocabFile  string // file + field prefix used in messages about entries
	vocabField string
	lim        limits

	entries []entry          // model vocabulary, in file order
	ids     map[string]int32 // the same, by token
	added   []addedSpec

	mergeFile string
	mergeAt   func(rank int) string // where merge number rank is, for messages
	merges    []resolvedMerge       // by rank
	pending   *pendingMerges        // merges read before the vocabulary

	kind         string
	norm         *normalizer
	pre          []preStep
	prefix       bool // ByteLevel add_prefix_space (vocab.json path)
	ignore       bool
	unkToken     string
	fuseUnk      bool
	byteFallback bool
	replacement  string // the SentencePiece word marker, "▁"

	bos       string // content of the BOS token the post-processor adds
	bosFromPP bool
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
	normalized bool
}

// resolvedMerge is a merge with its parts and result as ids.
type resolvedMerge struct{ a, b, res int32 }

// pendingMerges holds merges read before the vocabulary they refer to, packed
// into one byte arena so that they cost about their size in the file.
type pendingMerges struct {
	arena []byte
	ends  []uint32 // per merge: end of part a, end of part b (cumulative)
}

func (p *pendingMerges) add(a, b string) {
	p.arena = append(p.arena, a...)
	p.ends = append(p.ends, uint32(len(p.arena)))
	p.arena = append(p.arena, b...)
	p.ends = append(p.ends, uint32(len(p.arena)))
}

func (p *pendingMerges) len() int { return len(p.ends) / 2 }

func (p *pendingMerges) at(i int) (a, b []byte) {
	start := uint32(0)
	if i > 0 {
		start = p.ends[2*i-1]
	}
	return p.arena[start:p.ends[2*i]], p.arena[p.ends[2*i]:p.ends[2*i+1]]
}

// addEntry records one vocabulary entry, with every check that can be made
// on it alone.
func (sp *spec) addEntry(key string, id int64, where func() string) error {
	if id < 0 {
		return fileErr(sp.vocabFile, where(), "id %d is negative", id)
	}
	if err := sp.lim.checkID(id); err != nil {
		return &FileError{File: sp.vocabFile, Where: where(), Err: err}
	}
	if key == "" {
		return fileErr(sp.vocabFile, where(), "empty token")
	}
	if len(key) > maxEntryBytes {
		return fileErr(sp.vocabFile, where(), "token is %d bytes, over the %d-byte limit", len(key), maxEntryBytes)
	}
	if prev, dup := sp.ids[key]; dup {
		return fileErr(sp.vocabFile, where(), "duplicate token (ids %d and %d)", prev, id)
	}
	if err := sp.lim.checkCount(len(sp.entries) + 1); err != nil {
		return &FileError{File: sp.vocabFile, Where: sp.vocabField, Err: err}
	}
	sp.ids[key] = int32(id)
	sp.entries = append(sp.entries, entry{key, id})
	return nil
}

// addMerge resolves one merge against the vocabulary, or keeps it for later
// when the vocabulary has not been read yet.
func (sp *spec) addMerge(a, b string) error {
	n := len(sp.merges)
	if sp.pending != nil {
		n = sp.pending.len()
	}
	if n >= maxMerges {
		return fileErr(sp.mergeFile, "", "more than %d merges", maxMerges)
	}
	if sp.ids == nil {
		if sp.pending == nil {
			sp.pending = &pendingMerges{}
		}
		sp.pending.add(a, b)
		return nil
	}
	return sp.resolveMerge(len(sp.merges), []byte(a), []byte(b))
}

// resolveMerge checks merge number rank and appends it to sp.merges.
func (sp *spec) resolveMerge(rank int, a, b []byte) error {
	ia, ok := sp.ids[string(a)]
	if !ok {
		return fileErr(sp.mergeFile, sp.mergeAt(rank), "%s is not in the vocabulary", quote(string(a)))
	}
	ib, ok := sp.ids[string(b)]
	if !ok {
		return fileErr(sp.mergeFile, sp.mergeAt(rank), "%s is not in the vocabulary", quote(string(b)))
	}
	ab := make([]byte, 0, len(a)+len(b))
	ab = append(append(ab, a...), b...)
	res, ok := sp.ids[string(ab)]
	if !ok {
		return fileErr(sp.mergeFile, sp.mergeAt(rank), "the merged token %s is not in the vocabulary", quote(string(ab)))
	}
	sp.merges = append(sp.merges, resolvedMerge{ia, ib, res})
	return nil
}

// resolvePending resolves merges that were read before the vocabulary.
func (sp *spec) resolvePending() error {
	if sp.pending == nil {
		return nil
	}
	p := sp.pending
	sp.pending = nil
	sp.merges = make([]resolvedMerge, 0, p.len())
	for i := 0; i < p.len(); i++ {
		a, b := p.at(i)
		if err := sp.resolveMerge(i, a, b); err != nil {
			return err
		}
	}
	return nil
}

// parseVocabMerges reads the slow-tokenizer pair of files, GPT-2's format.
func parseVocabMerges(fsys fs.FS, lim limits) (*spec, error) {
	sp := &spec{source: "vocab.json+merges.txt", vocabFile: "vocab.json", vocabField: "vocab", mergeFile: "merges.txt",
		lim: lim, kind: KindByteLevel, pre: []preStep{{kind: preByteLevel, regex: patGPT2}}}
	err := parseVocabJSON(fsys, sp)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err2 := fs.Stat(fsys, "tokenizer.model"); err2 == nil {
			return nil, fileErr("tokenizer.model", "", "a SentencePiece model (protobuf) without tokenizer.json: lenskit reads tokenizer.json; write one with transformers (AutoTokenizer.from_pretrained(dir).save_pretrained(dir)) and put it beside the model")
		}
		return nil, &FileError{File: "tokenizer.json", Err: fmt.Errorf("no tokenizer.json, and no vocab.json + merges.txt either: %w", fs.ErrNotExist)}
	}
	if err != nil {
		return nil, err
	}
	if err := parseMergesTxt(fsys, sp); err != nil {
		return nil, err
	}
	return sp, nil
}

// parseMergesTxt streams merges.txt: an optional "#version" line, then one
// merge "a b" per line. A final newline is allowed; blank lines elsewhere
// are errors, as are lines that are not two tokens separated by one space.
// A trailing "\r" (a file written on Windows) is ignored.
func parseMergesTxt(fsys fs.FS, sp *spec) error {
	const file = "merges.txt"
	r, err := openFile(fsys, file, maxMergesTxt)
	if err != nil {
		return err
	}
	defer r.Close()
	var skipped []int // 0-based lines that hold no merge ("#version")
	sp.mergeAt = func(rank int) string {
		line := rank
		for _, s := range skipped {
			if s <= line {
				line++
			}
		}
		return fmt.Sprintf("line %d", line+1)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	blank := -1 // a blank line is an error unless it is the last
	for lineNo := 0; ; lineNo++ {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return fileErr(file, fmt.Sprintf("line %d", lineNo+1), "line longer than %d bytes", br.Size())
		}
		if err != nil && err != io.EOF {
			if errors.Is(err, errOverLimit) {
				return r.overLimit()
			}
			return &FileError{File: file, Err: err}
		}
		if len(line) == 0 && err == io.EOF {
			break
		}
		if blank >= 0 {
			return fileErr(file, fmt.Sprintf("line %d", blank+1), "blank line")
		}
		s := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
		switch {
		case strings.HasPrefix(s, "#version"):
			skipped = append(skipped, lineNo)
		case s == "":
			blank = lineNo
		default:
			a, b, ok := splitMerge(s)
			if !ok {
				return fileErr(file, fmt.Sprintf("line %d", lineNo+1), "%s is not two tokens separated by one space", quote(s))
			}
			if err := sp.addMerge(a, b); err != nil {
				return err
			}
		}
		if err == io.EOF {
			break
		}
	}
	if r.n == 0 {
		return fileErr(file, "", "file is empty")
	}
	return nil
}

func splitMerge(s string) (a, b string, ok bool) {
	a, b, ok = strings.Cut(s, " ")
	if !ok || a == "" || b == "" || strings.Contains(b, " ") {
		return "", "", false
	}
	return a, b, true
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
	AddBosToken    *bool           `json:"add_bos_token"`
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
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

func parseConfig(file string, data []byte) (*tokenizerConfig, error) {
	var cfg tokenizerConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		where, err := jsonWhere(data, err)
		return nil, &FileError{File: file, Where: where, Err: err}
	}
	return &cfg, nil
}

func (sp *spec) applyConfig(file string, data []byte) error {
	cfg, err := parseConfig(file, data)
	if err != nil {
		return err
	}
	if cfg.AddPrefixSpace != nil {
		sp.prefix = *cfg.AddPrefixSpace
		sp.pre[0].prefix = sp.prefix
	}
	keys := make([]string, 0, len(cfg.AddedTokensDecoder))
	for key := range cfg.AddedTokensDecoder {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		at := cfg.AddedTokensDecoder[key]
		where := "added_tokens_decoder[" + quote(key) + "]"
		id, err := strconv.ParseInt(key, 10, 64)
		if err != nil || id < 0 || id >= maxVocabEntries {
			return fileErr(file, where, "key is not a token id in [0, %d)", maxVocabEntries)
		}
		if err := sp.lim.checkID(id); err != nil {
			return &FileError{File: file, Where: where, Err: err}
		}
		if at.Content == "" {
			return fileErr(file, where, "empty content")
		}
		if len(at.Content) > maxEntryBytes {
			return fileErr(file, where, "content is %d bytes, over the %d-byte limit", len(at.Content), maxEntryBytes)
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
	if content, ok := tokenContent(cfg.BosToken); ok && cfg.AddBosToken != nil && *cfg.AddBosToken {
		sp.bos = content
	}
	return nil
}

// readConfigForBOS reads tokenizer_config.json beside tokenizer.json for the
// one thing tokenizer.json may not say: whether a BOS token is prepended.
// transformers' Llama and Gemma tokenizers rebuild their post-processor from
// add_bos_token, so when the config sets it, it wins over the template.
func (sp *spec) readConfigForBOS(fsys fs.FS) error {
	const file = "tokenizer_config.json"
	data, err := readFile(fsys, file, maxConfigJSON)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	cfg, err := parseConfig(file, data)
	if err != nil {
		return err
	}
	if cfg.AddBosToken == nil {
		return nil
	}
	sp.bos, sp.bosFromPP = "", false
	if content, ok := tokenContent(cfg.BosToken); ok && *cfg.AddBosToken {
		sp.bos = content
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
	if id, ok := sp.ids[content]; ok {
		sp.added = append(sp.added, addedSpec{file: file, where: where, content: content, id: int64(id), special: true})
	}
}

// defaultSpecials applies GPT2Tokenizer's defaults: "<|endoftext|>" is the
// unknown, beginning and end token even when no config file says so.
func (sp *spec) defaultSpecials() {
	sp.markSpecial(sp.vocabFile, "GPT-2 default special token", "<|endoftext|>")
}

// abbreviate shortens a value for a message to 60 bytes (used by the token
// list reader; tokenizer files use quote, which also escapes).
func abbreviate(raw []byte) string {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}
