package vocab

import (
	"encoding/json"
	"fmt"
	"io/fs"
)

// tokenizer.json is read as a stream (see lexer), never as one document:
// the vocabulary and the merges, which are nearly all of a large file, are
// checked and counted entry by entry as they arrive, so that a file that is
// too big for the model is refused at its first entry too many and memory
// stays proportional to what was accepted. Only the small components
// (normalizer, pre_tokenizer, post_processor, one added token at a time)
// are captured and decoded with encoding/json.

// vocabObject reads a {"token": id, ...} object into sp, checking each entry
// as it arrives.
func (l *lexer) vocabObject(sp *spec, field string) error {
	c, ok := l.peek()
	if !ok {
		return l.eofErr(field)
	}
	if c != '{' {
		if c == 'n' {
			return fileErr(l.file, field, "missing")
		}
		return l.fail(field, `%s, not an object {"token": id, ...} (a Unigram or WordPiece vocabulary is not BPE)`, describeStart(c))
	}
	l.pos++
	if sp.ids == nil {
		sp.ids = make(map[string]int32)
	}
	first := true
	for {
		ok, err := l.more(field, &first, '}')
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		kb, err := l.key(field)
		if err != nil {
			return err
		}
		key := string(kb)
		where := func() string { return field + "[" + quote(key) + "]" }
		c, ok := l.peek()
		if !ok {
			return l.eofErr(field)
		}
		if c != '-' && (c < '0' || c > '9') {
			var what string
			if c == '"' {
				s, err := l.str(where())
				if err != nil {
					return err
				}
				what = "the string " + quote(s)
			} else {
				what = describeStart(c)
			}
			return fileErr(l.file, where(), "id is %s, not a number", what)
		}
		num, err := l.number(field)
		if err != nil {
			return err
		}
		id, ok := parseID(num)
		if !ok {
			if len(num) < 20 {
				return fileErr(l.file, where(), "id %s is not an integer", num)
			}
			return fileErr(l.file, where(), "id %s is not an integer in range", quote(string(num)))
		}
		if err := sp.addEntry(key, id, where); err != nil {
			return err
		}
	}
	if len(sp.entries) == 0 {
		return fileErr(l.file, field, "empty vocabulary")
	}
	return nil
}

// mergesArray reads model.merges: ["a b", ...] or [["a", "b"], ...].
func (l *lexer) mergesArray(sp *spec) error {
	const field = "model.merges"
	sp.mergeAt = func(rank int) string { return fmt.Sprintf("%s[%d]", field, rank) }
	c, ok := l.peek()
	if !ok {
		return l.eofErr(field)
	}
	if c == 'n' {
		_, err := l.literal(field)
		return err
	}
	if c != '[' {
		return l.fail(field, "%s, not an array", describeStart(c))
	}
	l.pos++
	first := true
	for n := 0; ; n++ {
		ok, err := l.more(field, &first, ']')
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		where := sp.mergeAt(n)
		c, ok := l.peek()
		if !ok {
			return l.eofErr(where)
		}
		var a, b string
		switch c {
		case '"':
			s, err := l.str(where)
			if err != nil {
				return err
			}
			var ok bool
			a, b, ok = splitMerge(s)
			if !ok {
				return fileErr(l.file, where, "%s is not two tokens separated by one space", quote(s))
			}
		case '[':
			l.pos++
			var parts [2]string
			k := 0
			pfirst := true
			for {
				ok, err := l.more(where, &pfirst, ']')
				if err != nil {
					return err
				}
				if !ok {
					break
				}
				if c, _ := l.peek(); c != '"' || k == 2 {
					return fileErr(l.file, where, "expected exactly two strings")
				}
				if parts[k], err = l.str(where); err != nil {
					return err
				}
				k++
			}
			if k != 2 || parts[0] == "" || parts[1] == "" {
				return fileErr(l.file, where, "expected exactly two non-empty strings")
			}
			a, b = parts[0], parts[1]
		default:
			return fileErr(l.file, where, `%s: expected "a b" or ["a", "b"]`, describeStart(c))
		}
		if err := sp.addMerge(a, b); err != nil {
			return err
		}
	}
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

// component captures one value and decodes it into v with encoding/json.
func (l *lexer) component(field string, v any) error {
	where := l.where()
	var raw []byte
	if err := l.value(field, &raw); err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		if typ, ok := err.(*json.UnmarshalTypeError); ok {
			f := field
			if typ.Field != "" {
				f = field + "." + typ.Field
			}
			return &FileError{File: l.file, Where: joinWhere(f, where), Err: fmt.Errorf("%s value where %s was expected", typ.Value, typ.Type)}
		}
		return &FileError{File: l.file, Where: joinWhere(field, where), Err: err}
	}
	return nil
}

// rawComponent captures one value (null gives nil).
func (l *lexer) rawComponent(field string) (json.RawMessage, error) {
	var raw []byte
	if err := l.value(field, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

func (l *lexer) addedTokens(sp *spec) error {
	const field = "added_tokens"
	c, ok := l.peek()
	if !ok {
		return l.eofErr(field)
	}
	if c == 'n' {
		_, err := l.literal(field)
		return err
	}
	if c != '[' {
		return l.fail(field, "%s, not an array", describeStart(c))
	}
	l.pos++
	first := true
	for i := 0; ; i++ {
		ok, err := l.more(field, &first, ']')
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		where := fmt.Sprintf("%s[%d]", field, i)
		if err := sp.lim.checkCount(i + 1); err != nil {
			return &FileError{File: l.file, Where: field, Err: err}
		}
		if c, _ := l.peek(); c != '{' {
			return l.fail(where, "%s, not an object", describeStart(c))
		}
		var at addedTokenJSON
		if err := l.component(where, &at); err != nil {
			return err
		}
		if at.ID == nil {
			return fileErr(l.file, where, "no id")
		}
		if *at.ID < 0 {
			return fileErr(l.file, where, "id %d is negative", *at.ID)
		}
		if err := sp.lim.checkID(*at.ID); err != nil {
			return &FileError{File: l.file, Where: where, Err: err}
		}
		if at.Content == nil || *at.Content == "" {
			return fileErr(l.file, where, "empty content")
		}
		if len(*at.Content) > maxEntryBytes {
			return fileErr(l.file, where, "content is %d bytes, over the %d-byte limit", len(*at.Content), maxEntryBytes)
		}
		sp.added = append(sp.added, addedSpec{
			file: l.file, where: where, content: *at.Content, id: *at.ID, special: at.Special,
			lstrip: at.Lstrip, rstrip: at.Rstrip, singleWord: at.SingleWord,
			// Hugging Face's default for a token without the flag.
			normalized: at.Normalized == nil && !at.Special || at.Normalized != nil && *at.Normalized,
		})
	}
}

// modelFields are the scalar fields of the BPE model.
type modelFields struct {
	typ                     *string
	unkToken                *string
	continuingSubwordPrefix *string
	endOfWordSuffix         *string
	byteFallback, fuseUnk   bool
	ignoreMerges            bool
	dropout                 *float64
	sawVocab                bool
}

func (l *lexer) model(sp *spec, mf *modelFields) error {
	c, ok := l.peek()
	if !ok {
		return l.eofErr("model")
	}
	if c == 'n' {
		return fileErr(l.file, "model", "missing")
	}
	if c != '{' {
		return l.fail("model", "%s, not an object", describeStart(c))
	}
	l.pos++
	first := true
	for {
		ok, err := l.more("model", &first, '}')
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		kb, err := l.key("model")
		if err != nil {
			return err
		}
		key := string(kb)
		where := "model." + key
		switch key {
		case "type":
			err = l.component(where, &mf.typ)
			if err == nil && mf.typ != nil && *mf.typ != "BPE" {
				return fileErr(l.file, where, "%s is not supported: lenskit reads BPE tokenizers (byte-level like GPT-2, Llama 3 and Qwen, or SentencePiece-style like Llama 2 and Gemma)", quote(*mf.typ))
			}
		case "unk_token":
			err = l.component(where, &mf.unkToken)
		case "continuing_subword_prefix":
			err = l.component(where, &mf.continuingSubwordPrefix)
		case "end_of_word_suffix":
			err = l.component(where, &mf.endOfWordSuffix)
		case "byte_fallback":
			err = l.component(where, &mf.byteFallback)
		case "fuse_unk":
			err = l.component(where, &mf.fuseUnk)
		case "ignore_merges":
			err = l.component(where, &mf.ignoreMerges)
		case "dropout":
			err = l.component(where, &mf.dropout)
		case "vocab":
			if mf.sawVocab {
				return fileErr(l.file, where, "appears twice")
			}
			mf.sawVocab = true
			if err := l.vocabObject(sp, where); err != nil {
				return err
			}
			err = sp.resolvePending()
		case "merges":
			err = l.mergesArray(sp)
		default:
			err = l.value(where, nil)
		}
		if err != nil {
			return err
		}
	}
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
	l := newLexer(r, file)
	sp := &spec{source: file, vocabFile: file, vocabField: "model.vocab", mergeFile: file, lim: lim}
	c, ok := l.peek()
	if !ok {
		return nil, l.eofErr("")
	}
	if c != '{' {
		return nil, l.fail("", "%s, not a JSON object", describeStart(c))
	}
	l.pos++
	var mf modelFields
	var sawModel bool
	var normRaw, preRaw, postRaw json.RawMessage
	first := true
	for {
		ok, err := l.more("", &first, '}')
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		kb, err := l.key("")
		if err != nil {
			return nil, err
		}
		key := string(kb)
		switch key {
		case "added_tokens":
			err = l.addedTokens(sp)
		case "normalizer":
			normRaw, err = l.rawComponent(key)
		case "pre_tokenizer":
			preRaw, err = l.rawComponent(key)
		case "post_processor":
			postRaw, err = l.rawComponent(key)
		case "model":
			if sawModel {
				return nil, fileErr(file, "model", "appears twice")
			}
			sawModel = true
			err = l.model(sp, &mf)
		default:
			err = l.value(key, nil)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := l.end(); err != nil {
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

// parseVocabJSON streams vocab.json into sp.
func parseVocabJSON(fsys fs.FS, sp *spec) error {
	r, err := openFile(fsys, "vocab.json", maxVocabJSON)
	if err != nil {
		return err
	}
	defer r.Close()
	l := newLexer(r, "vocab.json")
	if err := l.vocabObject(sp, "vocab"); err != nil {
		return err
	}
	return l.end()
}
