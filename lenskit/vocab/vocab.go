package vocab

import (
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
	kind   Kind
	bos    int32 // the token the post-processor prepends, or -1

	raw     []string
	special []bool // added tokens marked special
	isAdded []bool // added tokens: matched whole, not byte-level encoded
	gap     []bool // placeholders: ids no token has

	addedIDs map[string]int32 // added tokens that are not model entries
	bytes    [][]byte
	text     []string
	display  []string
	form     []string
	formID   []int32 // equal forms share an id, so SameToken is one comparison
	fuzzy    []fuzzyForm
	flags    []uint8

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
func (v *Vocab) Kind() Kind { return v.kind }

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
	if !v.ok(id) {
		return nil
	}
	return v.bytes[id]
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
	return v.text[id]
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
	return v.display[id]
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

// escapeInvalid writes b as text, replacing each byte that is not part of
// valid UTF-8 with <0xNN>.
func escapeInvalid(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, w := utf8.DecodeRune(b)
		if r == utf8.RuneError && w == 1 {
			fmt.Fprintf(&sb, "<0x%02X>", b[0])
		} else {
			sb.Write(b[:w])
		}
		b = b[w:]
	}
	return sb.String()
}

// escapeControls makes control characters visible for one-line displays.
func escapeControls(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var sb strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\t':
			sb.WriteString(`\t`)
		case r == '\r':
			sb.WriteString(`\r`)
		case unicode.IsControl(r):
			if r < 0x100 {
				fmt.Fprintf(&sb, "<0x%02X>", r)
			} else {
				fmt.Fprintf(&sb, "<U+%04X>", r)
			}
		default:
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// finish computes every derived per-token form and flag. raw, special,
// isAdded, gap and bytes must be set.
func (v *Vocab) finish() {
	n := len(v.raw)
	v.text = make([]string, n)
	v.display = make([]string, n)
	v.form = make([]string, n)
	v.formID = make([]int32, n)
	v.fuzzy = make([]fuzzyForm, n)
	v.flags = make([]uint8, n)
	formIDs := make(map[string]int32, n)
	for id := 0; id < n; id++ {
		if v.gap[id] {
			v.flags[id] = flagGap
			fid, ok := formIDs[""]
			if !ok {
				fid = int32(len(formIDs))
				formIDs[""] = fid
			}
			v.formID[id] = fid
			continue
		}
		b := v.bytes[id]
		t := escapeInvalid(b)
		if t == v.raw[id] {
			t = v.raw[id] // share the entry's memory
		}
		v.text[id] = t
		switch {
		case v.isAdded[id]:
			v.display[id] = escapeControls(t)
		case strings.HasPrefix(t, " "):
			v.display[id] = escapeControls(t[1:])
		default:
			v.display[id] = "#" + escapeControls(t)
		}
		f := NormalizeForm(t)
		if f == t {
			f = t
		}
		v.form[id] = f
		fid, ok := formIDs[f]
		if !ok {
			fid = int32(len(formIDs))
			formIDs[f] = fid
		}
		v.formID[id] = fid
		v.fuzzy[id] = newFuzzyForm(f)
		v.flags[id] = tokenFlags(v.raw[id], b, v.special[id])
	}
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
// a character; ids outside [0, Len()) decode to U+FFFD. Use DecodeBytes to
// have such ids reported as an error.
func (v *Vocab) Decode(ids []int) string {
	var sb strings.Builder
	for _, id := range ids {
		if !v.ok(id) {
			sb.WriteRune(utf8.RuneError)
			continue
		}
		sb.Write(v.bytes[id])
	}
	return sb.String()
}

// DecodeBytes is Decode with an error for the first id out of range.
func (v *Vocab) DecodeBytes(ids []int) ([]byte, error) {
	var out []byte
	for i, id := range ids {
		if !v.ok(id) {
			return nil, fmt.Errorf("vocab: decode: ids[%d] = %d out of range [0, %d)", i, id, len(v.raw))
		}
		out = append(out, v.bytes[id]...)
	}
	return out, nil
}
