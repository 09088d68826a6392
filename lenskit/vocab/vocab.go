package vocab

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// A Vocab is a model's vocabulary: every token id with its forms, and the
// tokenizer that turns text into ids. It is immutable after Load and safe for
// concurrent use.
type Vocab struct {
	source string // which files it was read from, for messages
	kind   string
	bos    int32 // the token the post-processor prepends, or -1

	raw     []string
	special []bool // added tokens marked special
	isAdded []bool // added tokens: matched whole, not byte-level encoded
	gap     []bool // placeholders: ids no token has

	addedIDs map[string]int32 // added tokens that are not model entries

	// The forms of every token live in a few arenas indexed by offsets, not
	// in a string or slice per token: a vocabulary costs about a hundred
	// bytes per token plus its text, whatever its size (see LoadOptions).
	byteArena []byte   // Bytes of every token, concatenated
	byteOff   []uint32 // Bytes(id) is byteArena[byteOff[id]:byteOff[id+1]]
	textArena string   // Text of every token, concatenated
	textOff   []uint32
	dispArena string // Display of every token, concatenated
	dispOff   []uint32
	form      []string // substrings of one arena
	formID    []int32  // equal forms share an id, so SameToken is one comparison
	runes     []rune   // the Form of every token as runes, for FuzzyEqual
	runeOff   []uint32
	flags     []uint8

	m    *model
	pool sync.Pool // *encoder

	selMu    sync.Mutex
	sel      map[string][]int32 // Select cache, by filter key
	selOrder []string           // keys in insertion order; the oldest is evicted first
}

// Token properties computed once at load; filters read them.
const (
	flagASCII        = 1 << iota // see ASCII
	flagAlnum                    // see Alnum
	flagBracket                  // Bytes contain one of ()[]{}<>
	flagSeedRawASCII             // see SeedRawASCII
	flagSpecial                  // an added/special token
	flagValidUTF8                // Bytes are valid UTF-8
	flagGap                      // a placeholder: no token has this id
	flagDecodedASCII             // see SeedDecodedASCII
)

// Len is the tokenizer's size: the highest id of its vocabulary and added
// tokens, plus one. Ids run from 0 to Len()-1; ids that no token has (a
// reserved range, rare in real files) are placeholders (see Placeholder).
// A model's embedding may have more rows than Len (padding to a multiple of
// 64 or 128); those rows belong to no token.
func (v *Vocab) Len() int { return len(v.raw) }

// Source says which files the vocabulary was read from ("tokenizer.json" or
// "vocab.json+merges.txt").
func (v *Vocab) Source() string { return v.source }

// Kind says how the vocabulary spells its entries: KindByteLevel
// ("byte-level": GPT-2, GPT-NeoX, Llama 3, Qwen) or KindSentencePiece
// ("sentencepiece": Llama 2, Mistral, Gemma). Forms and filters behave the
// same for both (see Raw, Bytes, Display).
func (v *Vocab) Kind() string { return v.kind }

// BOS returns the token the tokenizer puts before a text when asked to add
// special tokens — the first token of its TemplateProcessing post-processor,
// or bos_token when tokenizer_config.json sets add_bos_token (which wins, as
// in transformers' Llama and Gemma tokenizers) — for callers that add it
// themselves: Encode never adds special tokens. ok is false when the
// tokenizer adds none (GPT-2, Qwen, a Llama 3 tokenizer.json without a
// template).
func (v *Vocab) BOS() (id int, ok bool) {
	if v.bos < 0 {
		return -1, false
	}
	return int(v.bos), true
}

func (v *Vocab) ok(id int) bool { return id >= 0 && id < len(v.raw) }

// real reports whether id is a token: in range and not a placeholder.
func (v *Vocab) real(id int) bool { return v.ok(id) && !v.gap[id] }

// Placeholder reports whether id is in range but no token has it (a gap in
// the files' ids). Placeholders have empty forms, and no filter keeps them.
func (v *Vocab) Placeholder(id int) bool { return v.ok(id) && v.gap[id] }

// Check returns an error naming id when it is not a token id of v (out of
// range, or a placeholder). The accessors below return zero values for such
// ids instead of failing, so code that takes ids from users should Check
// them first.
func (v *Vocab) Check(id int) error {
	if !v.ok(id) {
		return fmt.Errorf("vocab: token id %d out of range [0, %d)", id, len(v.raw))
	}
	if v.gap[id] {
		return fmt.Errorf("vocab: token id %d is a placeholder: the tokenizer files give no token this id", id)
	}
	return nil
}

// ID returns the id of a vocabulary entry or added token in its raw
// spelling ("Ġdom", "▁dom", "<|endoftext|>").
func (v *Vocab) ID(raw string) (int, bool) {
	if id, ok := v.m.ids[raw]; ok {
		return int(id), true
	}
	if id, ok := v.addedIDs[raw]; ok {
		return int(id), true
	}
	return 0, false
}

// Raw returns the vocabulary entry of id exactly as the tokenizer files spell
// it: byte-level characters for ordinary tokens of a byte-level vocabulary
// ("Ġdom", "Ġł"), SentencePiece pieces with "▁" for a space and byte tokens
// ("▁dom", "<0x0A>"), the literal content for added tokens
// ("<|endoftext|>", "<s>"). "" when id is out of range or a placeholder.
func (v *Vocab) Raw(id int) string {
	if !v.ok(id) {
		return ""
	}
	return v.raw[id]
}

// Bytes returns the bytes that id stands for, as the tokenizer's decoder
// produces them: the byte-level decoding of a byte-level entry ("Ġł" →
// " ł"); for a SentencePiece entry its text with "▁" as a space ("▁dom" →
// " dom"), and for a byte token its byte ("<0x0A>" → "\n", "<0xC5>" →
// 0xC5); a special token's content. A token can be a fragment of a UTF-8
// sequence (a Polish letter split across two tokens, or one byte token of
// three), so the bytes need not be valid UTF-8. A byte-level entry
// containing characters outside the byte-level alphabet decodes to its own
// UTF-8 bytes, as in Hugging Face's ByteLevel decoder. The slice must not be
// modified. nil when id is out of range or a placeholder.
func (v *Vocab) Bytes(id int) []byte {
	if !v.real(id) {
		return nil
	}
	return v.bytesOf(id)
}

// bytesOf is Bytes without the range check; the result's capacity ends with
// it, so an append by a caller cannot overwrite the next token.
func (v *Vocab) bytesOf(id int) []byte {
	a, b := v.byteOff[id], v.byteOff[id+1]
	return v.byteArena[a:b:b]
}

// Text returns the decoded UTF-8 text of id: "Ġł" → " ł". When the bytes are
// not valid UTF-8 each invalid byte is written as an escape such as <0xC5>,
// so that every fragment still shows as something stable and distinguishable
// (U+FFFD would make all fragments look alike); a token that is one half of
// "ł" shows as "<0xC5>". Bytes gives the exact bytes. "" when id is out of
// range.
func (v *Vocab) Text(id int) string {
	if !v.ok(id) {
		return ""
	}
	return v.textArena[v.textOff[id]:v.textOff[id+1]]
}

// Display returns the form the seed notebook prints in its tables: the
// decoded text with its leading space removed when it starts a word, and
// prefixed with "#" when it continues one (the seed's
// x[1:] if x[0]=='Ġ' else '#'+x, applied to decoded text so that Polish
// letters show). So " dom" → "dom" and "ów" → "#ów" whether the vocabulary
// spells them "Ġdom"/"Ã³w" (byte-level) or "▁dom"/"ów" (SentencePiece); a
// byte token continues a word ("<0x0A>" → "#\n"). Control characters are
// escaped (\n, \t, \r, others as <0x1B>) so a table row never breaks;
// added tokens show as their content without "#". "" when id is out of
// range or a placeholder.
func (v *Vocab) Display(id int) string {
	if !v.ok(id) {
		return ""
	}
	return v.dispArena[v.dispOff[id]:v.dispOff[id+1]]
}

// Form returns the normalized form used to compare tokens with corpus token
// lists and with each other: strings.ToLower(strings.TrimSpace(Text(id))).
// It is the seed's x.strip('Ġ▁').lower() computed on decoded text, so " Dom"
// and "dom" share the form "dom" and Polish capitals fold ("Ł" → "ł"); unlike
// the seed it trims every kind of surrounding whitespace, so "\n" and " "
// both have the form "". "" when id is out of range.
func (v *Vocab) Form(id int) string {
	if !v.ok(id) {
		return ""
	}
	return v.form[id]
}

// Special reports whether id is a special (added) token, such as
// "<|endoftext|>" or "<s>": matched whole in text, never merged, shown as its
// content.
func (v *Vocab) Special(id int) bool {
	return v.ok(id) && v.special[id]
}

// NormalizeForm is the normalization applied by Form, TokenList and the pair
// filters: lower case, surrounding whitespace removed.
func NormalizeForm(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// appendEscapeInvalid appends b as text, replacing each byte that is not
// part of valid UTF-8 with <0xNN>.
func appendEscapeInvalid(dst, b []byte) []byte {
	if utf8.Valid(b) {
		return append(dst, b...)
	}
	for len(b) > 0 {
		r, w := utf8.DecodeRune(b)
		if r == utf8.RuneError && w == 1 {
			dst = fmt.Appendf(dst, "<0x%02X>", b[0])
		} else {
			dst = append(dst, b[:w]...)
		}
		b = b[w:]
	}
	return dst
}

// appendEscapeControls appends t (valid UTF-8) with control characters made
// visible for one-line displays: \n, \t, \r, others as <0x1B> or <U+0085>.
func appendEscapeControls(dst, t []byte) []byte {
	for len(t) > 0 {
		c := t[0]
		if c >= 0x20 && c < 0x7f {
			dst = append(dst, c)
			t = t[1:]
			continue
		}
		r, w := utf8.DecodeRune(t)
		switch {
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\t':
			dst = append(dst, `\t`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case unicode.IsControl(r):
			if r < 0x100 {
				dst = fmt.Appendf(dst, "<0x%02X>", r)
			} else {
				dst = fmt.Appendf(dst, "<U+%04X>", r)
			}
		default:
			dst = append(dst, t[:w]...)
		}
		t = t[w:]
	}
	return dst
}

// finish computes every derived per-token form and flag into the arenas.
// raw, special, isAdded, gap, byteArena and byteOff must be set. Each form
// is built in one scratch buffer and appended to its arena, so computing
// them costs the arenas and little garbage.
func (v *Vocab) finish() {
	n := len(v.raw)
	v.textOff = make([]uint32, n+1)
	v.dispOff = make([]uint32, n+1)
	v.runeOff = make([]uint32, n+1)
	v.form = make([]string, n)
	v.formID = make([]int32, n)
	v.flags = make([]uint8, n)
	formOff := make([]uint32, n+1)
	var text, disp, form strings.Builder
	text.Grow(len(v.byteArena) + len(v.byteArena)/8)
	disp.Grow(len(v.byteArena) + len(v.byteArena)/8 + n)
	form.Grow(len(v.byteArena))
	var t, d, f []byte
	runes := 0
	for id := 0; id < n; id++ {
		if v.gap[id] {
			v.flags[id] = flagGap
		} else {
			b := v.bytesOf(id)
			t = appendEscapeInvalid(t[:0], b)
			text.Write(t)
			d = d[:0]
			switch {
			case v.isAdded[id]:
				d = appendEscapeControls(d, t)
			case len(t) > 0 && t[0] == ' ':
				d = appendEscapeControls(d, t[1:])
			default:
				d = appendEscapeControls(append(d, '#'), t)
			}
			disp.Write(d)
			f = appendNormalizedForm(f[:0], t)
			form.Write(f)
			runes += utf8.RuneCount(f)
			v.flags[id] = tokenFlags(v.raw[id], b, v.special[id])
		}
		v.textOff[id+1] = uint32(text.Len())
		v.dispOff[id+1] = uint32(disp.Len())
		formOff[id+1] = uint32(form.Len())
	}
	v.textArena, v.dispArena = text.String(), disp.String()
	forms := form.String()
	v.runes = make([]rune, 0, runes)
	formIDs := make(map[string]int32, n)
	for id := 0; id < n; id++ {
		fs := forms[formOff[id]:formOff[id+1]]
		v.form[id] = fs
		for _, r := range fs {
			v.runes = append(v.runes, r)
		}
		v.runeOff[id+1] = uint32(len(v.runes))
		fid, ok := formIDs[fs]
		if !ok {
			fid = int32(len(formIDs))
			formIDs[fs] = fid
		}
		v.formID[id] = fid
	}
}

// appendNormalizedForm appends NormalizeForm(t) without allocating for the
// common case of text that is already lower case ASCII.
func appendNormalizedForm(dst, t []byte) []byte {
	t = bytes.TrimFunc(t, unicode.IsSpace)
	for _, c := range t {
		if c >= 0x80 || 'A' <= c && c <= 'Z' {
			return append(dst, NormalizeForm(string(t))...)
		}
	}
	return append(dst, t...)
}

// fuzzyOf is the Form of id as runes.
func (v *Vocab) fuzzyOf(id int) fuzzyForm {
	return fuzzyForm(v.runes[v.runeOff[id]:v.runeOff[id+1]])
}

func tokenFlags(raw string, b []byte, special bool) uint8 {
	var f uint8
	if special {
		f |= flagSpecial
	}
	bracket := false
	for _, c := range b {
		switch c {
		case '(', ')', '[', ']', '{', '}', '<', '>':
			bracket = true
		}
	}
	if printableASCII(b) {
		f |= flagASCII
	}
	decodedASCII := true
	for _, c := range b {
		if c >= 0x80 {
			decodedASCII = false
			break
		}
	}
	if decodedASCII {
		f |= flagDecodedASCII
	}
	if bracket {
		f |= flagBracket
	}
	if utf8.Valid(b) {
		f |= flagValidUTF8
		s := strings.TrimLeft(string(b), " ")
		alnum := s != ""
		for _, r := range s {
			if !unicode.IsLetter(r) && !unicode.IsMark(r) && !unicode.IsDigit(r) {
				alnum = false
				break
			}
		}
		if alnum {
			f |= flagAlnum
		}
	}
	// Python's raw.strip('Ġ▁').isascii().
	s := strings.Trim(raw, "Ġ▁")
	rawASCII := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			rawASCII = false
			break
		}
	}
	if rawASCII {
		f |= flagSeedRawASCII
	}
	return f
}

// printableASCII is the seed's only_ascii test, raw.strip('Ġ▁').isascii(),
// stated on decoded bytes so that it means the same for every kind of
// vocabulary: with spaces at both ends removed, every byte is printable
// ASCII (0x21–0x7E). For the entries of a byte-level vocabulary this is
// exactly the seed's test, because the byte-level spelling maps every other byte — controls
// such as "\n" and "\t", DEL, a space inside the token, bytes ≥ 0x80 — to a
// character above U+007F, and maps printable ASCII to itself.
func printableASCII(b []byte) bool {
	i, j := 0, len(b)
	for i < j && b[i] == ' ' {
		i++
	}
	for j > i && b[j-1] == ' ' {
		j--
	}
	for _, c := range b[i:j] {
		if c < 0x21 || c > 0x7E {
			return false
		}
	}
	return true
}

func (v *Vocab) getEncoder() *encoder {
	if e, ok := v.pool.Get().(*encoder); ok {
		return e
	}
	return newEncoder(v.m)
}

func (v *Vocab) putEncoder(e *encoder) {
	e.out = e.out[:0]
	e.err = nil
	if cap(e.out) > 1<<20 {
		e.out = nil
	}
	v.pool.Put(e)
}

// Encode tokenizes text as the model's tokenizer does (Hugging Face
// tokenizers' semantics): added tokens are matched first, each stretch
// between them is normalized, pre-tokenized (GPT-2's, Llama 3's or Qwen's
// pattern, Metaspace, ...), and each pre-token is merged with BPE — over
// byte-level symbols, or over characters with byte fallback for a
// SentencePiece vocabulary. No special tokens are added (see BOS).
//
// For a byte-level vocabulary text need not be valid UTF-8: every byte is
// encoded, so Decode(Encode(s)) == s for any s (with a space before each
// stretch of text between added tokens that does not start with one when
// the tokenizer has add_prefix_space, as GPT-2's has not, and s in NFC for
// Qwen's NFC normalizer). For a SentencePiece vocabulary Decode gives the
// normalized text: spaces for "▁" (a literal "▁" in s too), and the "▁" the
// normalizer prepends (Llama 2) as a leading space. The error is a
// *MissingByteError when the vocabulary has no token for a byte or
// character and no unknown token (never for GPT-2, Llama or Gemma, which
// have all 256 byte symbols or byte tokens).
//
// Texts of a megabyte or more are cut at line breaks where the cut cannot
// change the result and encoded on all cores; the ids never depend on the
// number of cores. Tokenizers whose pre-tokens may cross a line break
// (SentencePiece without a pre-tokenizer, a prepended space) are encoded on
// one core.
func (v *Vocab) Encode(text string) ([]int, error) {
	parts := v.cuts(text)
	if len(parts) == 2 {
		e := v.getEncoder()
		defer v.putEncoder(e)
		e.encode(text, 0)
		if e.err != nil {
			return nil, e.err
		}
		ids := make([]int, len(e.out))
		for i, id := range e.out {
			ids[i] = int(id)
		}
		return ids, nil
	}
	outs := make([][]int32, len(parts)-1)
	errs := make([]error, len(parts)-1)
	var wg sync.WaitGroup
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := v.getEncoder()
			defer v.putEncoder(e)
			e.encode(text[parts[i]:parts[i+1]], parts[i])
			outs[i], errs[i] = slices.Clone(e.out), e.err
		}()
	}
	wg.Wait()
	n := 0
	for i, out := range outs {
		if errs[i] != nil {
			return nil, errs[i]
		}
		n += len(out)
	}
	ids := make([]int, 0, n)
	for _, out := range outs {
		for _, id := range out {
			ids = append(ids, int(id))
		}
	}
	return ids, nil
}

// parallelMin is the text length from which Encode uses several goroutines.
// A variable so that tests can exercise the cuts on small texts.
var parallelMin = 1 << 20

// cuts returns the boundaries of the pieces Encode works on: 0, ..., len(s).
// A cut goes right after a "\n" whose neighbours are not whitespace and
// that no added token absorbs (see safeCut): the pre-tokenizer then ends a
// pre-token there whether or not the text goes on, so the pieces encode to
// the same ids as the whole. Cuts are made only for pipelines where that
// holds (see cutSafe), and not when an added token contains a newline or a
// normalized added token strips whitespace.
func (v *Vocab) cuts(s string) []int {
	k := runtime.GOMAXPROCS(0)
	m := v.m
	if len(s) < parallelMin || k < 2 || !m.cutSafe || m.added.newline || m.addedNorm.newline || m.addedNorm.lstrip {
		return []int{0, len(s)}
	}
	out := []int{0}
	for j := 1; j < k; j++ {
		from := max(out[len(out)-1], j*len(s)/k)
		for i := from; i < len(s); {
			n := strings.IndexByte(s[i:], '\n')
			if n < 0 {
				break
			}
			i += n
			if safeCut(s, i) && !m.added.lstripAt(s, i+1) {
				out = append(out, i+1)
				break
			}
			i++
		}
	}
	if out[len(out)-1] != len(s) {
		out = append(out, len(s))
	}
	return out
}

// safeCut reports whether s may be cut after the newline at s[i] as far as
// the pre-tokenizer is concerned; an added token with lstrip right after
// the newline would absorb it in the whole text, so cuts also check that.
func safeCut(s string, i int) bool {
	if i == 0 || i+1 >= len(s) {
		return false
	}
	if c, _ := classAt(s, i+1); c == clsSpace {
		return false
	}
	r, w := utf8.DecodeLastRuneInString(s[:i])
	if w == 1 && r == utf8.RuneError {
		return true // an invalid byte is an "other" rune, not a space
	}
	return !unicode.IsSpace(r)
}

// Decode concatenates the bytes of ids (see Bytes). The result holds exactly
// those bytes, so it may contain invalid UTF-8 when ids end in the middle of
// a character; ids outside [0, Len()) and placeholders decode to U+FFFD.
// Use DecodeBytes to have such ids reported as an error.
func (v *Vocab) Decode(ids []int) string {
	var sb strings.Builder
	for _, id := range ids {
		if !v.real(id) {
			sb.WriteRune(utf8.RuneError)
			continue
		}
		sb.Write(v.bytesOf(id))
	}
	return sb.String()
}

// DecodeBytes is Decode with an error for the first id out of range or
// placeholder.
func (v *Vocab) DecodeBytes(ids []int) ([]byte, error) {
	var out []byte
	for i, id := range ids {
		if !v.ok(id) {
			return nil, fmt.Errorf("vocab: decode: ids[%d] = %d out of range [0, %d)", i, id, len(v.raw))
		}
		if v.gap[id] {
			return nil, fmt.Errorf("vocab: decode: ids[%d] = %d is a placeholder: no token has this id", i, id)
		}
		out = append(out, v.bytesOf(id)...)
	}
	return out, nil
}
