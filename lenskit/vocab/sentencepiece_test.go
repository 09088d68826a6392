package vocab

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"unicode/utf8"
)

// spMini is a small SentencePiece-style tokenizer.json in Llama 2's layout:
// <unk> <s> </s>, the 256 byte tokens, then pieces; merges in the order
// given.
type spMini struct {
	pieces     []string
	merges     []string
	normalizer string
	pre        string
	added      string
	model      string // extra model fields, with a leading comma
	post       string
	config     string // tokenizer_config.json, or ""
}

const llama2Normalizer = `{"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}`

func newSPMini() spMini {
	return spMini{
		pieces:     []string{"▁", "a", "b", "c", "d", "▁a", "ab", "▁ab", "cd", "▁c", "▁cd", "▁d"},
		merges:     []string{"▁ a", "a b", "▁a b", "▁ c", "c d", "▁c d", "▁ d"},
		normalizer: llama2Normalizer,
		pre:        "null",
		added: `[{"id": 0, "content": "<unk>", "special": true, "normalized": false},
			{"id": 1, "content": "<s>", "special": true, "normalized": false},
			{"id": 2, "content": "</s>", "special": true, "normalized": false}]`,
		model: `, "byte_fallback": true, "fuse_unk": true`,
		post:  `{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}`,
	}
}

// pieceID is the id of piece number i of newSPMini's list.
func spID(m spMini, piece string) int {
	if i := slices.Index(m.pieces, piece); i >= 0 {
		return 259 + i
	}
	panic("no piece " + piece)
}

func (m spMini) fs() fstest.MapFS {
	var vb strings.Builder
	vb.WriteString(`{"<unk>": 0, "<s>": 1, "</s>": 2`)
	for b := 0; b < 256; b++ {
		fmt.Fprintf(&vb, `, "<0x%02X>": %d`, b, 3+b)
	}
	for i, p := range m.pieces {
		fmt.Fprintf(&vb, ", %s: %d", strconv.Quote(p), 259+i)
	}
	vb.WriteString("}")
	q := make([]string, len(m.merges))
	for i, s := range m.merges {
		q[i] = strconv.Quote(s)
	}
	post := m.post
	if post == "" {
		post = "null"
	}
	js := fmt.Sprintf(`{"version": "1.0", "added_tokens": %s, "normalizer": %s, "pre_tokenizer": %s, "post_processor": %s,
"decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}]},
"model": {"type": "BPE", "dropout": null, "unk_token": "<unk>"%s, "vocab": %s, "merges": [%s]}}`,
		m.added, m.normalizer, m.pre, post, m.model, vb.String(), strings.Join(q, ", "))
	f := fstest.MapFS{"tokenizer.json": {Data: []byte(js)}}
	if m.config != "" {
		f["tokenizer_config.json"] = &fstest.MapFile{Data: []byte(m.config)}
	}
	return f
}

func mustLoadSP(t *testing.T, m spMini) *Vocab {
	t.Helper()
	v, err := Load(m.fs())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func encodeRaw(t *testing.T, v *Vocab, s string) []string {
	t.Helper()
	ids, err := v.Encode(s)
	if err != nil {
		t.Fatalf("Encode(%q): %v", s, err)
	}
	return rawTokens(v, ids)
}

// SentencePiece-style BPE as Hugging Face's BPE model runs it: the
// normalizer prepends "▁" and turns spaces into "▁" for each stretch between
// added tokens; characters without a piece fall back to byte tokens;
// merges apply by rank.
func TestSentencePieceEncode(t *testing.T) {
	v := mustLoadSP(t, newSPMini())
	if v.Kind() != KindSentencePiece || v.Len() != 259+12 {
		t.Fatalf("Kind %q Len %d", v.Kind(), v.Len())
	}
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"ab cd", []string{"▁ab", "▁cd"}},
		{"abab", []string{"▁ab", "ab"}},
		{"a  d", []string{"▁a", "▁", "▁d"}},
		{" ab", []string{"▁", "▁ab"}}, // Prepend adds a second "▁"
		{"ż", []string{"▁", "<0xC5>", "<0xBC>"}},
		{"a\nb", []string{"▁a", "<0x0A>", "b"}},
		{"<s>ab", []string{"<s>", "▁ab"}}, // each stretch gets its "▁"
		{"ab<s>", []string{"▁ab", "<s>"}}, // an empty stretch gets none
		{"ab </s> c", []string{"▁ab", "▁", "</s>", "▁", "▁c"}},
		{"a▁b", []string{"▁a", "▁", "b"}}, // a literal "▁" is a space
		{"", nil},
	} {
		got := encodeRaw(t, v, tc.in)
		if !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if id, ok := v.BOS(); !ok || id != 1 {
		t.Errorf("BOS() = %d, %v", id, ok)
	}
	ids, _ := v.Encode("ab ż")
	if got := v.Decode(ids); got != " ab ż" {
		t.Errorf("Decode = %q", got)
	}

	// Without byte fallback, unknown characters become <unk>, consecutive
	// ones fused; without an unk token either, they are an error.
	m := newSPMini()
	m.model = `, "fuse_unk": true`
	v = mustLoadSP(t, m)
	if got := encodeRaw(t, v, "ab żźx"); !slices.Equal(got, []string{"▁ab", "▁", "<unk>"}) {
		t.Errorf("fuse_unk: %q", got)
	}
	m.model = ``
	v = mustLoadSP(t, m)
	if got := encodeRaw(t, v, "żź"); !slices.Equal(got, []string{"▁", "<unk>", "<unk>"}) {
		t.Errorf("no fuse_unk: %q", got)
	}
	js := strings.Replace(string(m.fs()["tokenizer.json"].Data), `"unk_token": "<unk>"`, `"unk_token": null`, 1)
	v, err := Load(fstest.MapFS{"tokenizer.json": {Data: []byte(js)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Encode("aż"); err == nil || !strings.Contains(err.Error(), "byte 0xC5 at offset 4") {
		t.Errorf("missing character: %v", err)
	}

	// ignore_merges: a whole pre-token in the vocabulary is one token even
	// when the merges would not make it.
	m = newSPMini()
	m.merges = []string{"▁ a"}
	m.model = `, "byte_fallback": true, "ignore_merges": true`
	m.pre = `{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}`
	m.normalizer = "null"
	v = mustLoadSP(t, m)
	if got := encodeRaw(t, v, "ab cd"); !slices.Equal(got, []string{"▁ab", "▁cd"}) {
		t.Errorf("ignore_merges: %q", got)
	}
}

// Metaspace in its three prepend schemes, with and without split.
func TestMetaspace(t *testing.T) {
	for _, tc := range []struct {
		scheme string
		split  bool
		in     string
		want   []string
	}{
		{"always", true, "ab cd", []string{"▁ab", "▁cd"}},
		{"always", true, " ab", []string{"▁ab"}}, // no second "▁": the text starts with one
		{"always", true, "<s>ab", []string{"<s>", "▁ab"}},
		{"first", true, "<s>ab", []string{"<s>", "ab"}}, // not the first stretch
		{"first", true, "ab<s>ab", []string{"▁ab", "<s>", "ab"}},
		{"never", true, "ab cd", []string{"ab", "▁cd"}},
		{"always", false, "ab cd", []string{"▁ab", "▁cd"}},
		{"always", true, "a  b", []string{"▁a", "▁", "▁", "b"}}, // split: "▁a", "▁", "▁b"; "▁b" is no piece
		{"always", false, "a  d", []string{"▁a", "▁", "▁d"}},
	} {
		m := newSPMini()
		m.normalizer = "null"
		m.pre = fmt.Sprintf(`{"type": "Metaspace", "replacement": "▁", "prepend_scheme": %q, "split": %v}`, tc.scheme, tc.split)
		v := mustLoadSP(t, m)
		if got := encodeRaw(t, v, tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("%s split=%v: Encode(%q) = %q, want %q", tc.scheme, tc.split, tc.in, got, tc.want)
		}
	}
	// Files from before prepend_scheme: add_prefix_space false is "never".
	m := newSPMini()
	m.normalizer = "null"
	m.pre = `{"type": "Metaspace", "replacement": "▁", "add_prefix_space": false}`
	if got := encodeRaw(t, mustLoadSP(t, m), "ab"); !slices.Equal(got, []string{"ab"}) {
		t.Errorf("add_prefix_space false: %q", got)
	}
}

// The Split behaviours, on the example of Hugging Face's documentation of
// SplitDelimiterBehavior ("the-final--countdown" split on "-").
func TestSplitBehaviors(t *testing.T) {
	s := "the-final--countdown"
	for _, tc := range []struct {
		b      splitBehavior
		invert bool
		want   []string
	}{
		{splitRemoved, false, []string{"the", "final", "countdown"}},
		{splitIsolated, false, []string{"the", "-", "final", "-", "-", "countdown"}},
		{splitMergedWithPrevious, false, []string{"the-", "final-", "-", "countdown"}},
		{splitMergedWithNext, false, []string{"the", "-final", "-", "-countdown"}},
		{splitContiguous, false, []string{"the", "-", "final", "--", "countdown"}},
		{splitRemoved, true, []string{"-", "-", "-"}},
	} {
		spans := matchSpans(s, nil, func(emit func(a, b int)) { literalMatches(s, "-", emit) })
		var got []string
		for _, p := range splitSpans(piece{s, 0}, spans, tc.b, tc.invert, nil) {
			got = append(got, p.s)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("behavior %d invert %v: %q, want %q", tc.b, tc.invert, got, tc.want)
		}
	}
	// Digits, individual or contiguous.
	for _, tc := range []struct {
		individual bool
		want       []string
	}{{true, []string{"a", "1", "2", "b", "٣"}}, {false, []string{"a", "12", "b", "٣"}}} {
		st := preStep{kind: preDigits, split: tc.individual}
		var got []string
		for _, p := range st.apply(piece{"a12b٣", 0}, nil, &encoder{}) {
			got = append(got, p.s)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Digits(individual %v) = %q, want %q", tc.individual, got, tc.want)
		}
	}
	// Gemma 3's pre-tokenizer: Split on " " merged with the previous piece,
	// after its normalizer has turned every space into "▁" (so a no-op).
	m := newSPMini()
	m.normalizer = `{"type": "Replace", "pattern": {"String": " "}, "content": "▁"}`
	m.pre = `{"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": false}`
	if got := encodeRaw(t, mustLoadSP(t, m), "ab cd"); !slices.Equal(got, []string{"ab", "▁cd"}) {
		t.Errorf("Gemma-style: %q", got)
	}
}

// Added tokens as Hugging Face matches them: leftmost-longest, a rejected
// single_word match still consumed, normalized tokens matched in the
// normalized text in their normalized spelling.
func TestAddedTokenSemantics(t *testing.T) {
	t.Run("single_word consumes", func(t *testing.T) {
		m := newMini()
		m.entries = m.entries[:256]
		m.merges = nil
		m.added = `[{"id": 256, "content": "xyz", "single_word": true}, {"id": 257, "content": "xy"}]`
		v := mustLoad(t, m.fastFS())
		// "xyz" is the longest match at 0 and not a single word there;
		// tokenizers goes on after it, so the shorter "xy" is never tried.
		if ids := encodeIDs(t, v, "xyzw"); !slices.Equal(ids, []int{'x', 'y', 'z', 'w'}) {
			t.Errorf("Encode(xyzw) = %v", ids)
		}
		if ids := encodeIDs(t, v, "xyz w xy"); !slices.Equal(ids, []int{256, ' ', 'w', ' ', 257}) {
			t.Errorf("Encode(xyz w xy) = %v", ids)
		}
	})
	t.Run("normalized", func(t *testing.T) {
		m := newSPMini()
		m.added = `[{"id": 0, "content": "<unk>", "special": true, "normalized": false},
			{"id": 1, "content": "<s>", "special": true, "normalized": false},
			{"id": 2, "content": "</s>", "special": true, "normalized": false},
			{"id": 271, "content": "c d", "normalized": true},
			{"id": 272, "content": "b c", "normalized": false}]`
		v := mustLoadSP(t, m)
		// "c d" normalizes to "▁c▁d" and matches there; "b c" matches the
		// raw text first.
		if got := encodeRaw(t, v, "a c d"); !slices.Equal(got, []string{"▁a", "c d"}) {
			t.Errorf("normalized: %q", got)
		}
		if got := encodeRaw(t, v, "ab cd"); !slices.Equal(got, []string{"▁a", "b c", "▁d"}) {
			t.Errorf("not normalized: %q", got)
		}
	})
	t.Run("lstrip rstrip", func(t *testing.T) {
		m := newSPMini()
		m.added = `[{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true},
			{"id": 2, "content": "</s>", "special": true, "lstrip": true, "rstrip": true}]`
		v := mustLoadSP(t, m)
		if got := encodeRaw(t, v, "ab  </s>\n cd"); !slices.Equal(got, []string{"▁ab", "</s>", "▁cd"}) {
			t.Errorf("lstrip/rstrip: %q", got)
		}
	})
}

func encodeIDs(t *testing.T, v *Vocab, s string) []int {
	t.Helper()
	ids, err := v.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// Ids with gaps load: the holes are placeholders that no filter keeps.
func TestPlaceholders(t *testing.T) {
	m := newMini()
	m.added = `[{"id": 258, "content": "<|endoftext|>", "special": true}, {"id": 262, "content": "<|x|>", "special": true}]`
	v := mustLoad(t, m.fastFS())
	if v.Len() != 263 {
		t.Fatalf("Len = %d, want 263 (highest id + 1)", v.Len())
	}
	for id := 0; id < v.Len(); id++ {
		gap := id >= 259 && id <= 261
		if v.Placeholder(id) != gap {
			t.Errorf("Placeholder(%d) = %v", id, v.Placeholder(id))
		}
		if gap && (v.Raw(id) != "" || v.Bytes(id) != nil || v.Text(id) != "" || v.Display(id) != "" || v.Form(id) != "" || v.Check(id) == nil) {
			t.Errorf("placeholder %d has forms or passes Check", id)
		}
	}
	keepAll := FilterFunc("everything", func(*Vocab, int) bool { return true })
	for _, f := range []Filter{All(), NoBrackets(), Not(ASCII()), Not(Alnum()), keepAll, Or(Not(ASCII()), keepAll), And()} {
		for _, id := range v.Select(f) {
			if v.Placeholder(id) {
				t.Errorf("%s selects placeholder %d", f, id)
			}
		}
		if f.Keep(v, 260) {
			t.Errorf("%s keeps placeholder 260", f)
		}
	}
	if ids := encodeIDs(t, v, "ab<|x|>"); !slices.Equal(ids, []int{256, 262}) {
		t.Errorf("ids %v", ids)
	}
	if v.Decode([]int{260}) != "\uFFFD" {
		t.Errorf("Decode(placeholder) = %q", v.Decode([]int{260}))
	}
	if _, err := v.DecodeBytes([]int{260}); err == nil {
		t.Errorf("DecodeBytes(placeholder) succeeded")
	}
}

// BOS comes from the template, unless tokenizer_config.json says otherwise.
func TestBOS(t *testing.T) {
	m := newSPMini()
	if id, ok := mustLoadSP(t, m).BOS(); !ok || id != 1 {
		t.Errorf("template: %d %v", id, ok)
	}
	m.config = `{"add_bos_token": false, "bos_token": "<s>"}`
	if id, ok := mustLoadSP(t, m).BOS(); ok {
		t.Errorf("add_bos_token false: %d", id)
	}
	m.post = ""
	m.config = `{"add_bos_token": true, "bos_token": {"content": "</s>"}}`
	if id, ok := mustLoadSP(t, m).BOS(); !ok || id != 2 {
		t.Errorf("add_bos_token true: %d %v", id, ok)
	}
	m.config = ""
	if _, ok := mustLoadSP(t, m).BOS(); ok {
		t.Errorf("no template, no config: a BOS")
	}
	// A template inside a Sequence (Llama 3's layout).
	m.post = `{"type": "Sequence", "processors": [{"type": "ByteLevel"}, {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "</s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]}]}`
	if id, ok := mustLoadSP(t, m).BOS(); !ok || id != 2 {
		t.Errorf("sequence: %d %v", id, ok)
	}
	if _, ok := tiny(t).BOS(); ok {
		t.Errorf("GPT-2 adds no BOS")
	}
}

// A SentencePiece model alone is reported with what to do.
func TestTokenizerModelAlone(t *testing.T) {
	_, err := Load(fstest.MapFS{"tokenizer.model": {Data: []byte{0x0a, 0x01}}, "config.json": {Data: []byte("{}")}})
	if err == nil || !strings.Contains(err.Error(), "vocab: tokenizer.model: a SentencePiece model (protobuf) without tokenizer.json") ||
		!strings.Contains(err.Error(), "save_pretrained") {
		t.Fatalf("error %v", err)
	}
}

func tinyLlama(t testing.TB) *Vocab {
	t.Helper()
	v, err := LoadDir(sharedPath(t, "models/tiny-pl-llama"))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Must show 3: the forms of SentencePiece tokens, on the real tiny Llama.
func TestSentencePieceForms(t *testing.T) {
	v := tinyLlama(t)
	for _, tc := range []struct {
		raw, text, display, form string
		bytes                    []byte
		special, ascii, seedRaw  bool
	}{
		{raw: "<0x0A>", text: "\n", display: `#\n`, form: "", bytes: []byte{'\n'}, seedRaw: true},
		{raw: "<0x18>", text: "\x18", display: "#<0x18>", form: "\x18", bytes: []byte{0x18}, seedRaw: true},
		{raw: "<0xC5>", text: "<0xC5>", display: "#<0xC5>", form: "<0xc5>", bytes: []byte{0xC5}, seedRaw: true},
		{raw: "<0x20>", text: " ", display: "", form: "", bytes: []byte{' '}, ascii: true, seedRaw: true},
		{raw: "▁", text: " ", display: "", form: "", bytes: []byte{' '}, ascii: true, seedRaw: true},
		{raw: "▁się", text: " się", display: "się", form: "się", bytes: []byte(" się")},
		{raw: "▁Kliknij", text: " Kliknij", display: "Kliknij", form: "kliknij", bytes: []byte(" Kliknij"), ascii: true, seedRaw: true},
		{raw: "ów", text: "ów", display: "#ów", form: "ów", bytes: []byte("ów")},
		{raw: "<s>", text: "<s>", display: "<s>", form: "<s>", bytes: []byte("<s>"), special: true, ascii: true, seedRaw: true},
		{raw: "<unk>", text: "<unk>", display: "<unk>", form: "<unk>", bytes: []byte("<unk>"), special: true, ascii: true, seedRaw: true},
	} {
		id, ok := v.ID(tc.raw)
		if !ok {
			t.Errorf("no token %q", tc.raw)
			continue
		}
		if v.Raw(id) != tc.raw || v.Text(id) != tc.text || v.Display(id) != tc.display || v.Form(id) != tc.form ||
			!bytes.Equal(v.Bytes(id), tc.bytes) || v.Special(id) != tc.special {
			t.Errorf("%q: Raw %q Text %q Display %q Form %q Bytes %q Special %v", tc.raw, v.Raw(id), v.Text(id), v.Display(id), v.Form(id), v.Bytes(id), v.Special(id))
		}
		if ASCII().Keep(v, id) != tc.ascii || SeedRawASCII().Keep(v, id) != tc.seedRaw {
			t.Errorf("%q: ascii %v seed-raw-ascii %v", tc.raw, ASCII().Keep(v, id), SeedRawASCII().Keep(v, id))
		}
	}
	// Words start with "▁"; pieces inside a word show "#".
	ids := encodeIDs(t, v, "Przyjść do domu")
	var disp []string
	text := ""
	for _, id := range ids {
		disp = append(disp, v.Display(id))
		text += v.Text(id)
	}
	if text != " Przyjść do domu" || strings.HasPrefix(disp[0], "#") || disp[len(disp)-1] != "domu" {
		t.Errorf("displays %q, text %q", disp, text)
	}
	for i, d := range disp[1:] {
		if strings.HasPrefix(v.Raw(ids[i+1]), "▁") == strings.HasPrefix(d, "#") {
			t.Errorf("display %q of %q", d, v.Raw(ids[i+1]))
		}
	}
}

// Must show 3: forms and filters mean the same whichever style spells a
// token. Every token of the tiny Llama whose bytes are also a token of the
// tiny GPT-2 has the same Text, Display, Form and filter results, and pair
// filters agree on pairs of such tokens.
func TestFormsAgreeAcrossKinds(t *testing.T) {
	sp, bl := tinyLlama(t), tiny(t)
	byBytes := map[string]int{}
	for id := 0; id < bl.Len(); id++ {
		if !bl.Special(id) {
			byBytes[string(bl.Bytes(id))] = id
		}
	}
	list := NewTokenList("test", map[string]int{"się": 9, "dom": 5, "w": 3, "<0xc5>": 1})
	filters := []Filter{ASCII(), Alnum(), NoBrackets(), InList(list), All()}
	var pairsSP, pairsBL [][2]int
	n := 0
	for id := 0; id < sp.Len(); id++ {
		if sp.Special(id) {
			continue
		}
		other, ok := byBytes[string(sp.Bytes(id))]
		if !ok {
			continue
		}
		n++
		if sp.Text(id) != bl.Text(other) || sp.Display(id) != bl.Display(other) || sp.Form(id) != bl.Form(other) {
			t.Errorf("%q vs %q: text %q/%q display %q/%q form %q/%q", sp.Raw(id), bl.Raw(other),
				sp.Text(id), bl.Text(other), sp.Display(id), bl.Display(other), sp.Form(id), bl.Form(other))
		}
		for _, f := range filters {
			if f.Keep(sp, id) != f.Keep(bl, other) {
				t.Errorf("%s keeps %q: %v, %q: %v", f, sp.Raw(id), f.Keep(sp, id), bl.Raw(other), f.Keep(bl, other))
			}
		}
		if len(pairsSP) < 3000 {
			pairsSP = append(pairsSP, [2]int{id, 0})
			pairsBL = append(pairsBL, [2]int{other, 0})
		}
	}
	if n < 3000 {
		t.Fatalf("only %d shared tokens", n)
	}
	// Pair filters on every pair among a sample.
	for i := range pairsSP {
		for j := 0; j < len(pairsSP); j += 37 {
			a, b := pairsSP[i][0], pairsSP[j][0]
			c, d := pairsBL[i][0], pairsBL[j][0]
			if SameToken().Exclude(sp, a, b) != SameToken().Exclude(bl, c, d) || FuzzyEqual().Exclude(sp, a, b) != FuzzyEqual().Exclude(bl, c, d) {
				t.Fatalf("pair filters differ on %q,%q vs %q,%q", sp.Raw(a), sp.Raw(b), bl.Raw(c), bl.Raw(d))
			}
		}
	}
	t.Logf("%d tokens spelled by both vocabularies agree", n)
}

// Every token of every real vocabulary has consistent forms.
func TestRealVocabularyForms(t *testing.T) {
	for _, rt := range realTokenizers {
		t.Run(rt.name, func(t *testing.T) {
			v, err := LoadDir(rt.dir(t))
			if err != nil {
				t.Fatal(err)
			}
			byteTokens := 0
			for id := 0; id < v.Len(); id++ {
				if v.Placeholder(id) {
					continue
				}
				if got, ok := v.ID(v.Raw(id)); !ok || got != id {
					t.Fatalf("ID(Raw(%d)) = %d, %v", id, got, ok)
				}
				d := v.Display(id)
				if !utf8.ValidString(d) || strings.ContainsAny(d, "\n\r\t") || !utf8.ValidString(v.Text(id)) {
					t.Fatalf("forms of %q: display %q text %q", v.Raw(id), d, v.Text(id))
				}
				if v.Kind() == KindSentencePiece {
					if b, ok := byteToken(v.Raw(id)); ok {
						byteTokens++
						if !bytes.Equal(v.Bytes(id), []byte{b}) {
							t.Fatalf("byte token %q: Bytes %q", v.Raw(id), v.Bytes(id))
						}
					} else if !v.Special(id) && !bytes.Equal(v.Bytes(id), []byte(strings.ReplaceAll(v.Raw(id), "▁", " "))) {
						t.Fatalf("%q: Bytes %q", v.Raw(id), v.Bytes(id))
					}
				}
				if ASCII().Keep(v, id) && strings.ContainsFunc(strings.Trim(string(v.Bytes(id)), " "), func(r rune) bool { return r < 0x21 || r > 0x7e }) {
					t.Fatalf("%q is ASCII but has %q", v.Raw(id), v.Bytes(id))
				}
			}
			if v.Kind() == KindSentencePiece && byteTokens != 256 {
				t.Errorf("%d byte tokens", byteTokens)
			}
			if v.Kind() == KindByteLevel {
				// For byte-level entries ASCII is the seed's test exactly.
				for id := 0; id < v.Len(); id++ {
					if !v.Placeholder(id) && !v.Special(id) && ASCII().Keep(v, id) != SeedRawASCII().Keep(v, id) {
						t.Fatalf("%q: ascii %v, seed-raw-ascii %v", v.Raw(id), ASCII().Keep(v, id), SeedRawASCII().Keep(v, id))
					}
				}
			}
		})
	}
}
