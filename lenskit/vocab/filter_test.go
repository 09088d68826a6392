package vocab

import (
	"slices"
	"strings"
	"testing"
)

// vocabWith loads the mini tokenizer plus one entry per text (byte-level
// spelled), returning the vocabulary and the id of each text.
func vocabWith(t testing.TB, texts ...string) (*Vocab, map[string]int) {
	t.Helper()
	m := newMini()
	ids := map[string]int{}
	next := int64(len(m.entries))
	for _, s := range texts {
		raw := encodeByteLevel([]byte(s))
		found := false
		for _, e := range m.entries {
			if e.token == raw {
				ids[s] = int(e.id)
				found = true
			}
		}
		if !found {
			m.entries = append(m.entries, entry{raw, next})
			ids[s] = int(next)
			next++
		}
	}
	v, err := Load(m.fastFS())
	if err != nil {
		t.Fatal(err)
	}
	ids["<|endoftext|>"] = 258
	return v, ids
}

func TestFilters(t *testing.T) {
	type keep struct{ ascii, alnum, noBrackets, seedRaw bool }
	cases := []struct {
		text string
		want keep
	}{
		{" dom", keep{ascii: true, alnum: true, noBrackets: true, seedRaw: true}},
		{"dom", keep{ascii: true, alnum: true, noBrackets: true, seedRaw: true}},
		{" zażółć", keep{alnum: true, noBrackets: true}},
		{"ów", keep{alnum: true, noBrackets: true}},
		{" Привет", keep{alnum: true, noBrackets: true}},
		{"café", keep{alnum: true, noBrackets: true}},
		{"e\u0301", keep{alnum: true, noBrackets: true}}, // combining acute: a mark
		{" 42", keep{ascii: true, alnum: true, noBrackets: true, seedRaw: true}},
		{" ½", keep{noBrackets: true}}, // a number, not a decimal digit
		{" C++", keep{ascii: true, noBrackets: true, seedRaw: true}},
		{"-", keep{ascii: true, noBrackets: true, seedRaw: true}},
		{"(", keep{ascii: true, seedRaw: true}},
		{" [x]", keep{ascii: true, seedRaw: true}},
		{"{}", keep{ascii: true, seedRaw: true}},
		{" <b>", keep{ascii: true, seedRaw: true}},
		{"\xc5", keep{noBrackets: true}},  // half of "ł": not valid UTF-8
		{" \xc5", keep{noBrackets: true}}, // the same after a space
		// Controls are not printable ASCII (the seed: Ċ, ĉ, Ę are not ASCII).
		{"\n", keep{noBrackets: true}},
		{"x\ty", keep{noBrackets: true}},
		{"\x18", keep{noBrackets: true}},
		{"\x7f", keep{noBrackets: true}},
		{" x y", keep{noBrackets: true}}, // a space inside: "ĠxĠy" strips to "xĠy"
		{"x ", keep{ascii: true, noBrackets: true, seedRaw: true}},
		{" ", keep{ascii: true, noBrackets: true, seedRaw: true}}, // "Ġ" strips to ""
		{"  ", keep{ascii: true, noBrackets: true, seedRaw: true}},
		{"<|endoftext|>", keep{ascii: true, seedRaw: true}},
	}
	texts := make([]string, len(cases))
	for i, c := range cases {
		texts[i] = c.text
	}
	v, ids := vocabWith(t, texts...)
	for _, c := range cases {
		id := ids[c.text]
		got := keep{ASCII().Keep(v, id), Alnum().Keep(v, id), NoBrackets().Keep(v, id), SeedRawASCII().Keep(v, id)}
		if got != c.want {
			t.Errorf("%q (raw %q): ascii/alnum/no-brackets/seed-raw-ascii = %+v, want %+v", c.text, v.Raw(id), got, c.want)
		}
		if !All().Keep(v, id) {
			t.Errorf("All drops %q", c.text)
		}
		if Not(Alnum()).Keep(v, id) == c.want.alnum {
			t.Errorf("Not(Alnum) on %q", c.text)
		}
	}
	// The seed's head tables test decoded text: controls pass, fragments
	// and non-ASCII letters do not.
	for text, want := range map[string]bool{"\n": true, "x\ty": true, "\x7f": true, " dom": true, "<|endoftext|>": true, "\xc5": false, " zażółć": false} {
		if got := SeedDecodedASCII().Keep(v, ids[text]); got != want {
			t.Errorf("SeedDecodedASCII keeps %q: %v", text, got)
		}
	}
	for _, f := range []Filter{All(), ASCII(), Alnum(), NoBrackets(), SeedRawASCII(), SeedDecodedASCII(), Not(ASCII()), And(), Or(ASCII())} {
		if f.Keep(v, -1) || f.Keep(v, v.Len()) {
			t.Errorf("%s keeps an id out of range", f)
		}
	}
}

func TestFilterComposition(t *testing.T) {
	v, ids := vocabWith(t, " dom", " zażółć", " C++", "(", " Привет")
	l := NewTokenList("pl.txt", map[string]int{"zażółć": 3, "Dom": 1})
	l.topN = 5000
	polish := And(Alnum(), InList(l))
	if got := polish.String(); got != "alnum+list(pl.txt,top=5000)" {
		t.Errorf("String = %q", got)
	}
	for text, want := range map[string]bool{" dom": true, " zażółć": true, " C++": false, "(": false, " Привет": false} {
		if got := polish.Keep(v, ids[text]); got != want {
			t.Errorf("%s keeps %q: %v", polish, text, got)
		}
	}
	nonASCIIWords := And(Alnum(), Not(ASCII()))
	if got := v.Select(nonASCIIWords); !slices.Equal(got, []int{ids[" zażółć"], ids[" Привет"]}) {
		t.Errorf("Select(%s) = %v", nonASCIIWords, got)
	}
	either := Or(InList(l), NoBrackets())
	if either.Keep(v, ids["("]) || !either.Keep(v, ids[" C++"]) {
		t.Errorf("%s wrong", either)
	}
	for f, want := range map[Filter]string{
		And(Alnum(), NoBrackets()): "alnum+no-brackets",
		Or(ASCII(), Alnum()):       "(ascii|alnum)",
		Not(ASCII()):               "not(ascii)",
		And():                      "all",
		Or():                       "none",
		And(nil, Alnum()):          "alnum",
		SeedRawASCII():             "seed-raw-ascii",
		FilterFunc("short", nil):   "short",
	} {
		if f.String() != want {
			t.Errorf("String() = %q, want %q", f.String(), want)
		}
	}
	if InList(nil).Keep(v, ids[" dom"]) || InList(nil).String() != "list(nil)" || len(v.Select(InList(nil))) != 0 {
		t.Error("InList(nil)")
	}
	if len(v.Select(Or())) != 0 || len(v.Select(And())) != v.Len() || len(v.Select(nil)) != v.Len() {
		t.Error("empty compositions")
	}
}

func TestSelectCache(t *testing.T) {
	v := tiny(t)
	a := v.Select(Alnum())
	if len(a) == 0 || !slices.IsSorted(a) {
		t.Fatalf("Select(alnum): %d ids", len(a))
	}
	a[0] = -1 // the caller's own copy
	b := v.Select(Alnum())
	if b[0] == -1 {
		t.Fatal("Select returned the cached slice")
	}
	// Two researcher filters with one name must not share a cache entry.
	short := v.Select(FilterFunc("f", func(v *Vocab, id int) bool { return len(v.Text(id)) <= 2 }))
	long := v.Select(FilterFunc("f", func(v *Vocab, id int) bool { return len(v.Text(id)) > 2 }))
	if len(short)+len(long) != v.Len() {
		t.Errorf("FilterFunc results were cached by name: %d + %d", len(short), len(long))
	}
	// Two lists with one name but different forms must not either.
	l1 := NewTokenList("x", map[string]int{"się": 1})
	l2 := NewTokenList("x", map[string]int{"które": 1})
	s1, s2 := v.Select(InList(l1)), v.Select(InList(l2))
	if slices.Equal(s1, s2) || len(s1) == 0 || len(s2) == 0 {
		t.Errorf("lists with one name share a cache entry: %v %v", s1, s2)
	}
	// The tiny model: Polish words are alnum but not ASCII.
	sie, _ := v.ID("ĠsiÄĻ")
	if !slices.Contains(a[1:], sie) || slices.Contains(v.Select(ASCII()), sie) {
		t.Errorf("się: alnum %v ascii %v", slices.Contains(b, sie), slices.Contains(v.Select(ASCII()), sie))
	}
	if n := len(v.Select(All())); n != v.Len() {
		t.Errorf("All: %d", n)
	}
	// Many distinct filters do not grow the cache without bound.
	for i := 0; i < 3*maxSelectCache; i++ {
		l := NewTokenList(strings.Repeat("n", i), map[string]int{"się": i})
		v.Select(InList(l))
	}
	v.selMu.Lock()
	n := len(v.sel)
	v.selMu.Unlock()
	if n > maxSelectCache {
		t.Errorf("cache holds %d entries", n)
	}
}

func TestPairFilters(t *testing.T) {
	words := []string{" dom", "dom", " Dom", "domu", " domy", " do", "kot", " kod", " kota", "munduru", " mundury",
		" color", "colour", " dymy", " Łódź", "łodź", " kasa", " kasza", " przy", "przyjść", " ", "\n", "ab"}
	v, ids := vocabWith(t, words...)
	cases := []struct {
		a, b        string
		same, fuzzy bool
	}{
		{" dom", " dom", true, true},
		{" dom", "dom", true, true},
		{" Dom", "dom", true, true},
		{" dom", "domu", false, true},  // prefix, 3 runes
		{"domu", " domy", false, true}, // one substitution
		{" do", " dom", false, false},  // prefix of 2 runes: too short
		{"kot", " kod", false, false},  // one edit, but 3 runes
		{"kot", " kota", false, true},  // prefix
		{"munduru", " mundury", false, true},
		{" color", "colour", false, true}, // one insertion
		{"domu", " dymy", false, false},   // two edits
		{" Łódź", "łodź", false, true},    // lowercased, then one substitution
		{" kasa", " kasza", false, true},
		{" przy", "przyjść", false, true}, // documented cost of rule 2
		{" ", "\n", true, true},           // both forms are ""
		{" ", "ab", false, false},
	}
	any := AnyPair(SameToken(), FuzzyEqual())
	for _, c := range cases {
		a, b := ids[c.a], ids[c.b]
		for _, pair := range [][2]int{{a, b}, {b, a}} {
			if got := SameToken().Exclude(v, pair[0], pair[1]); got != c.same {
				t.Errorf("SameToken(%q, %q) = %v", v.Text(pair[0]), v.Text(pair[1]), got)
			}
			if got := FuzzyEqual().Exclude(v, pair[0], pair[1]); got != c.fuzzy {
				t.Errorf("FuzzyEqual(%q, %q) = %v", v.Text(pair[0]), v.Text(pair[1]), got)
			}
			if got := any.Exclude(v, pair[0], pair[1]); got != c.fuzzy {
				t.Errorf("AnyPair(%q, %q) = %v", v.Text(pair[0]), v.Text(pair[1]), got)
			}
		}
	}
	if SameToken().Exclude(v, -1, -1) || FuzzyEqual().Exclude(v, 0, v.Len()) {
		t.Error("ids out of range excluded")
	}
	if AnyPair().Exclude(v, 1, 1) || AnyPair(nil).String() != "exclude-none" {
		t.Error("empty AnyPair")
	}
	if s := any.String(); s != "exclude-same+exclude-fuzzy" {
		t.Errorf("String = %q", s)
	}
}

// withinOneEdit agrees with a full Levenshtein distance on random strings.
func TestWithinOneEdit(t *testing.T) {
	lev := func(a, b []rune) int {
		d := make([]int, len(b)+1)
		for j := range d {
			d[j] = j
		}
		for i := 1; i <= len(a); i++ {
			prev := d[0]
			d[0] = i
			for j := 1; j <= len(b); j++ {
				cur := d[j]
				cost := 1
				if a[i-1] == b[j-1] {
					cost = 0
				}
				d[j] = min(d[j]+1, d[j-1]+1, prev+cost)
				prev = cur
			}
		}
		return d[len(b)]
	}
	alpha := []rune("abł")
	var gen func(n int) [][]rune
	gen = func(n int) [][]rune {
		if n == 0 {
			return [][]rune{{}}
		}
		var out [][]rune
		for _, s := range gen(n - 1) {
			for _, r := range alpha {
				out = append(out, append(slices.Clone(s), r))
			}
		}
		return out
	}
	var all [][]rune
	for n := 0; n <= 4; n++ {
		all = append(all, gen(n)...)
	}
	for _, x := range all {
		for _, y := range all {
			a, b := x, y
			if len(a) > len(b) {
				a, b = b, a
			}
			if got, want := withinOneEdit(a, b), lev(x, y) <= 1; got != want {
				t.Fatalf("withinOneEdit(%q, %q) = %v, Levenshtein %d", string(x), string(y), got, lev(x, y))
			}
		}
	}
}
