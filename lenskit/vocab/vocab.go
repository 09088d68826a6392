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

	raw     []string
	special []bool // added tokens marked special
	isAdded []bool // added tokens: matched whole, not byte-level encoded
	bytes   [][]byte
	text    []string
	display []string
	form    []string
	formID  []int32 // equal forms share an id, so SameToken is one comparison
	fuzzy   []fuzzyForm
	flags   []uint8

	m    *model
	pool sync.Pool // *encoder

	selMu    sync.Mutex
	sel      map[string][]int32 // Select cache, by filter key
	selOrder []string           // keys in insertion order; the oldest is evicted first
}

// Token properties computed once at load; filters read them.
const (
	flagASCII        = 1 << iota // Bytes are all < 0x80
	flagAlnum                    // see Alnum
	flagBracket                  // Bytes contain one of ()[]{}<>
	flagSeedRawASCII             // see SeedRawASCII
	flagSpecial                  // an added/special token
	flagValidUTF8                // Bytes are valid UTF-8
)

// Len is the number of token ids: ids run from 0 to Len()-1 without gaps.
func (v *Vocab) Len() int { return len(v.raw) }

// Source says which files the vocabulary was read from ("tokenizer.json" or
// "vocab.json+merges.txt").
func (v *Vocab) Source() string { return v.source }

func (v *Vocab) ok(id int) bool { return id >= 0 && id < len(v.raw) }

// Check returns an error naming id when it is not a token id of v. The
// accessors below return zero values for such ids instead of failing, so
// code that takes ids from users should Check them first.
func (v *Vocab) Check(id int) error {
	if !v.ok(id) {
		return fmt.Errorf("vocab: token id %d out of range [0, %d)", id, len(v.raw))
	}
	return nil
}

// ID returns the id of a vocabulary entry in its raw spelling ("Ġdom",
// "<|endoftext|>").
func (v *Vocab) ID(raw string) (int, bool) {
	id, ok := v.m.ids[raw]
	return int(id), ok
}

// Raw returns the vocabulary entry of id exactly as the tokenizer files spell
// it: byte-level characters for ordinary tokens ("Ġdom", "Ġł"), the literal
// content for special tokens ("<|endoftext|>"). "" when id is out of range.
func (v *Vocab) Raw(id int) string {
	if !v.ok(id) {
		return ""
	}
	return v.raw[id]
}

// Bytes returns the bytes that id stands for: the byte-level decoding of its
// raw entry, or a special token's content. A token can be a fragment of a
// UTF-8 sequence (a Polish letter split across two tokens), so the bytes need
// not be valid UTF-8. An entry containing characters outside the byte-level
// alphabet decodes to its own UTF-8 bytes, as in Hugging Face's ByteLevel
// decoder. The slice must not be modified. nil when id is out of range.
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
// letters show). So " dom" → "dom" and "ów" → "#ów". Control characters are
// escaped (\n, \t, \r, others as <0x1B>) so a table row never breaks;
// special tokens show as their content without "#". "" when id is out of
// range.
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
// "<|endoftext|>": matched whole in text and not byte-level encoded.
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

// finish computes every derived per-token form and flag. raw, special and
// bytes must be set.
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
		b := v.bytes[id]
		t := escapeInvalid(b)
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
	ascii, bracket := true, false
	for _, c := range b {
		if c >= 0x80 {
			ascii = false
		}
		switch c {
		case '(', ')', '[', ']', '{', '}', '<', '>':
			bracket = true
		}
	}
	if ascii {
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

// Encode tokenizes text as the model's tokenizer does: added tokens are
// matched first, the rest is split with GPT-2's pre-tokenization pattern,
// byte-level encoded and merged with BPE. No BOS/EOS tokens are added (GPT-2's
// tokenizer adds none either). Text need not be valid UTF-8: every byte is
// encoded, so Decode(Encode(s)) == s for any s. The error is a
// *MissingByteError when the vocabulary lacks a byte's symbol (never for
// GPT-2 vocabularies, which have all 256). A tokenizer with
// add_prefix_space (not GPT-2's) puts a space before each stretch of text
// between added tokens that does not start with one, and so does the round
// trip.
//
// Texts of a megabyte or more are cut at line breaks where the cut cannot
// change the result and encoded on all cores.
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
// A cut goes right after a "\n" whose neighbours are not whitespace: the
// pre-tokenizer then ends a pre-token there whether or not the text goes
// on, so the pieces encode to the same ids as the whole. Cuts are not made
// when a space is prepended to each segment (add_prefix_space) or when an
// added token contains a newline.
func (v *Vocab) cuts(s string) []int {
	k := runtime.GOMAXPROCS(0)
	if len(s) < parallelMin || k < 2 || v.m.prefixSpace || v.m.added.newline {
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
			if safeCut(s, i) {
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

// safeCut reports whether s may be cut after the newline at s[i].
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
