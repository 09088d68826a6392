package vocab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
)

// tokenizer.json is read as a stream of JSON tokens (json.Decoder.Token),
// never as one document: the vocabulary and the merges, which are nearly all
// of a large file, are checked and counted entry by entry as they arrive, so
// that a file that is too big for the model is refused after its first bad
// entry and memory stays proportional to what was accepted. Only the small
// components (normalizer, pre_tokenizer, post_processor, one added token at
// a time) are decoded into structs.

// stream decodes one JSON file token by token and turns decoder errors into
// *FileErrors with a line and column.
type stream struct {
	fsys fs.FS
	r    *limitedReader
	dec  *json.Decoder
}

func newStream(fsys fs.FS, r *limitedReader) *stream {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	return &stream{fsys: fsys, r: r, dec: dec}
}

func (s *stream) file() string { return s.r.name }

// fail turns a decoding error met at field where into a *FileError.
func (s *stream) fail(where string, err error) error {
	if errors.Is(err, errOverLimit) {
		return s.r.overLimit()
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	off := s.dec.InputOffset()
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
	case errors.As(err, &typ):
		err = fmt.Errorf("%s value where %s was expected", typ.Value, typ.Type)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		if s.r.n == 0 {
			return fileErr(s.file(), "", "file is empty")
		}
		err = errors.New("unexpected end of JSON input")
	}
	return &FileError{File: s.file(), Where: joinWhere(where, lineColAt(s.fsys, s.file(), off)), Err: err}
}

func (s *stream) token(where string) (json.Token, error) {
	t, err := s.dec.Token()
	if err != nil {
		return nil, s.fail(where, err)
	}
	return t, nil
}

// decode decodes the next value into v.
func (s *stream) decode(where string, v any) error {
	if err := s.dec.Decode(v); err != nil {
		return s.fail(where, err)
	}
	return nil
}

// delim reads the next token and requires it to open an object or array.
// ok is false (with no error) for null.
func (s *stream) open(where string, want json.Delim, what string) (ok bool, err error) {
	t, err := s.token(where)
	if err != nil {
		return false, err
	}
	if t == nil {
		return false, nil
	}
	if d, isDelim := t.(json.Delim); isDelim && d == want {
		return true, nil
	}
	return false, fileErr(s.file(), where, "%s, not %s", what, describeToken(t))
}

// skip reads and discards one value, without keeping its strings.
func (s *stream) skip(where string) error {
	depth := 0
	for {
		t, err := s.token(where)
		if err != nil {
			return err
		}
		if d, ok := t.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			default:
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

// end checks that nothing follows the top-level value.
func (s *stream) end(where string) error {
	if _, err := s.dec.Token(); err != io.EOF {
		if err == nil {
			return fileErr(s.file(), where, "data after the end of the JSON document")
		}
		return s.fail(where, err)
	}
	return nil
}

func describeToken(t json.Token) string {
	switch x := t.(type) {
	case json.Delim:
		switch x {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return strconv.Quote(string(x))
	case string:
		return "the string " + quote(x)
	case json.Number:
		return "the number " + quote(x.String())
	case bool:
		return fmt.Sprintf("%v", x)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", t)
}

// vocabObject reads a {"token": id, ...} object into sp, checking each entry
// as it arrives.
func (s *stream) vocabObject(sp *spec, field string) error {
	ok, err := s.open(field, '{', `not an object {"token": id, ...} (a Unigram or WordPiece vocabulary is not BPE)`)
	if err != nil {
		return err
	}
	if !ok {
		return fileErr(s.file(), field, "missing")
	}
	if sp.ids == nil {
		sp.ids = make(map[string]int32)
	}
	for s.dec.More() {
		kt, err := s.token(field)
		if err != nil {
			return err
		}
		key, _ := kt.(string)
		where := func() string { return field + "[" + quote(key) + "]" }
		vt, err := s.token(field)
		if err != nil {
			return err
		}
		num, ok := vt.(json.Number)
		if !ok {
			return fileErr(s.file(), where(), "id is %s, not a number", describeToken(vt))
		}
		id, err := strconv.ParseInt(num.String(), 10, 64)
		if err != nil {
			if _, ferr := strconv.ParseFloat(num.String(), 64); ferr == nil && len(num.String()) < 20 {
				return fileErr(s.file(), where(), "id %s is not an integer", num)
			}
			return fileErr(s.file(), where(), "id %s is not an integer in range", quote(num.String()))
		}
		if err := sp.addEntry(key, id, where); err != nil {
			return err
		}
	}
	if _, err := s.token(field); err != nil {
		return err
	}
	if len(sp.entries) == 0 {
		return fileErr(s.file(), field, "empty vocabulary")
	}
	return nil
}

// mergesArray reads model.merges: ["a b", ...] or [["a", "b"], ...].
func (s *stream) mergesArray(sp *spec) error {
	const field = "model.merges"
	sp.mergeAt = func(rank int) string { return fmt.Sprintf("%s[%d]", field, rank) }
	ok, err := s.open(field, '[', "not an array")
	if err != nil || !ok {
		return err
	}
	n := 0
	for ; s.dec.More(); n++ {
		where := sp.mergeAt(n)
		t, err := s.token(where)
		if err != nil {
			return err
		}
		var a, b string
		switch x := t.(type) {
		case string:
			var ok bool
			a, b, ok = splitMerge(x)
			if !ok {
				return fileErr(s.file(), where, "%s is not two tokens separated by one space", quote(x))
			}
		case json.Delim:
			if x != '[' {
				return fileErr(s.file(), where, `expected "a b" or ["a", "b"]`)
			}
			var parts [2]string
			k := 0
			for s.dec.More() {
				p, err := s.token(where)
				if err != nil {
					return err
				}
				str, ok := p.(string)
				if !ok || k == 2 {
					return fileErr(s.file(), where, "expected exactly two strings")
				}
				parts[k] = str
				k++
			}
			if _, err := s.token(where); err != nil {
				return err
			}
			if k != 2 || parts[0] == "" || parts[1] == "" {
				return fileErr(s.file(), where, "expected exactly two non-empty strings")
			}
			a, b = parts[0], parts[1]
		default:
			return fileErr(s.file(), where, `%s: expected "a b" or ["a", "b"]`, describeToken(t))
		}
		if err := sp.addMerge(a, b); err != nil {
			return err
		}
	}
	_, err = s.token(field)
	return err
}

// addedTokenJSON is one entry of added_tokens.
type addedTokenJSON struct {
	ID         *int64  `json:"id"`
	Content    *string `json:"content"`
	SingleWord bool    `json:"single_word"`
	Lstrip     bool    `json:"lstrip"`
	Rstrip     bool    `json:"rstrip"`
	Special    bool    `json:"special"`
	Normalized *bool   `json:"normalized"`
}

func (s *stream) addedTokens(sp *spec) error {
	const field = "added_tokens"
	ok, err := s.open(field, '[', "not an array")
	if err != nil || !ok {
		return err
	}
	for i := 0; s.dec.More(); i++ {
		where := fmt.Sprintf("%s[%d]", field, i)
		if err := sp.lim.checkCount(i + 1); err != nil {
			return &FileError{File: s.file(), Where: field, Err: err}
		}
		var at addedTokenJSON
		if err := s.decode(where, &at); err != nil {
			return err
		}
		if at.ID == nil {
			return fileErr(s.file(), where, "no id")
		}
		if *at.ID < 0 {
			return fileErr(s.file(), where, "id %d is negative", *at.ID)
		}
		if err := sp.lim.checkID(*at.ID); err != nil {
			return &FileError{File: s.file(), Where: where, Err: err}
		}
		if at.Content == nil || *at.Content == "" {
			return fileErr(s.file(), where, "empty content")
		}
		if len(*at.Content) > maxEntryBytes {
			return fileErr(s.file(), where, "content is %d bytes, over the %d-byte limit", len(*at.Content), maxEntryBytes)
		}
		sp.added = append(sp.added, addedSpec{
			file: s.file(), where: where, content: *at.Content, id: *at.ID, special: at.Special,
			lstrip: at.Lstrip, rstrip: at.Rstrip, singleWord: at.SingleWord,
			// Hugging Face's default for a token without the flag.
			normalized: at.Normalized == nil && !at.Special || at.Normalized != nil && *at.Normalized,
		})
	}
	_, err = s.token(field)
	return err
}

// modelFields are the scalar fields of the BPE model.
type modelFields struct {
	typ                     string
	unkToken                *string
	continuingSubwordPrefix *string
	endOfWordSuffix         *string
	byteFallback, fuseUnk   bool
	ignoreMerges            bool
	dropout                 *float64
	sawVocab                bool
}

func (s *stream) model(sp *spec, mf *modelFields) error {
	ok, err := s.open("model", '{', "not an object")
	if err != nil {
		return err
	}
	if !ok {
		return fileErr(s.file(), "model", "missing")
	}
	for s.dec.More() {
		kt, err := s.token("model")
		if err != nil {
			return err
		}
		key, _ := kt.(string)
		where := "model." + key
		switch key {
		case "type":
			err = s.decode(where, &mf.typ)
			if err == nil && mf.typ != "BPE" {
				return fileErr(s.file(), where, "%s is not supported: lenskit reads BPE tokenizers (byte-level like GPT-2, Llama 3 and Qwen, or SentencePiece-style like Llama 2 and Gemma)", quote(mf.typ))
			}
		case "unk_token":
			err = s.decode(where, &mf.unkToken)
		case "continuing_subword_prefix":
			err = s.decode(where, &mf.continuingSubwordPrefix)
		case "end_of_word_suffix":
			err = s.decode(where, &mf.endOfWordSuffix)
		case "byte_fallback":
			err = s.decode(where, &mf.byteFallback)
		case "fuse_unk":
			err = s.decode(where, &mf.fuseUnk)
		case "ignore_merges":
			err = s.decode(where, &mf.ignoreMerges)
		case "dropout":
			err = s.decode(where, &mf.dropout)
		case "vocab":
			if mf.sawVocab {
				return fileErr(s.file(), where, "appears twice")
			}
			mf.sawVocab = true
			if err := s.vocabObject(sp, where); err != nil {
				return err
			}
			err = sp.resolvePending()
		case "merges":
			err = s.mergesArray(sp)
		default:
			err = s.skip(where)
		}
		if err != nil {
			return err
		}
	}
	_, err = s.token("model")
	return err
}

// parseTokenizerJSON streams tokenizer.json into a spec. A missing file is
// an error wrapping fs.ErrNotExist, so that Load falls back to vocab.json.
func parseTokenizerJSON(fsys fs.FS, lim limits) (*spec, error) {
	const file = "tokenizer.json"
	r, err := openFile(fsys, file, maxTokenizerJSON)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	s := newStream(fsys, r)
	sp := &spec{source: file, vocabFile: file, vocabField: "model.vocab", mergeFile: file, lim: lim}
	ok, err := s.open("", '{', "not a JSON object")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fileErr(file, "", "null, not a JSON object")
	}
	var mf modelFields
	var sawModel bool
	var normRaw, preRaw, postRaw json.RawMessage
	for s.dec.More() {
		kt, err := s.token("")
		if err != nil {
			return nil, err
		}
		key, _ := kt.(string)
		switch key {
		case "added_tokens":
			err = s.addedTokens(sp)
		case "normalizer":
			err = s.decode(key, &normRaw)
		case "pre_tokenizer":
			err = s.decode(key, &preRaw)
		case "post_processor":
			err = s.decode(key, &postRaw)
		case "model":
			sawModel = true
			err = s.model(sp, &mf)
		default:
			err = s.skip(key)
		}
		if err != nil {
			return nil, err
		}
	}
	if _, err := s.token(""); err != nil {
		return nil, err
	}
	if err := s.end(""); err != nil {
		return nil, err
	}
	if !sawModel {
		return nil, fileErr(file, "model", "missing")
	}
	if !mf.sawVocab {
		return nil, fileErr(file, "model.vocab", "missing")
	}
	if mf.continuingSubwordPrefix != nil && *mf.continuingSubwordPrefix != "" {
		return nil, fileErr(file, "model.continuing_subword_prefix", "%s is not supported (a WordPiece-style BPE)", quote(*mf.continuingSubwordPrefix))
	}
	if mf.endOfWordSuffix != nil && *mf.endOfWordSuffix != "" {
		return nil, fileErr(file, "model.end_of_word_suffix", "%s is not supported (a CLIP-style BPE)", quote(*mf.endOfWordSuffix))
	}
	if mf.dropout != nil && *mf.dropout != 0 {
		return nil, fileErr(file, "model.dropout", "%v: BPE dropout makes encoding random; lenskit needs it off", *mf.dropout)
	}
	if mf.unkToken != nil {
		sp.unkToken = *mf.unkToken
	}
	sp.fuseUnk, sp.ignore, sp.byteFallback = mf.fuseUnk, mf.ignoreMerges, mf.byteFallback
	if sp.norm, err = parseNormalizer(file, normRaw); err != nil {
		return nil, err
	}
	if sp.pre, err = parsePreTokenizer(file, preRaw); err != nil {
		return nil, err
	}
	if err := sp.decideKind(file); err != nil {
		return nil, err
	}
	sp.bos, sp.bosFromPP = parseBOS(postRaw)
	return sp, nil
}
