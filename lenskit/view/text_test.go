package view_test

import (
	"strings"
	"testing"

	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/view"
)

func TestWidth(t *testing.T) {
	for _, c := range []struct {
		s    string
		want int
	}{
		{"", 0},
		{"dom", 3},
		{"żółć", 4},            // precomposed Polish letters
		{"z\u0307o\u0301ł", 3}, // ż and ó decomposed: base + combining mark
		{"ĄĆĘŁŃÓŚŹŻ", 9},       // capitals
		{"漢字", 4},              // East Asian wide
		{"ｄｏｍ", 6},             // fullwidth Latin
		{"a\u200db", 2},        // zero-width joiner
		{"·dom", 4},            // the visible-space marker is one column
		{"⟨bad id 7⟩", 10},
	} {
		if got := view.Width(c.s); got != c.want {
			t.Errorf("Width(%q) = %d, want %d", c.s, got, c.want)
		}
	}
}

func TestVisible(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{" dom", "·dom"},
		{"dom", "dom"},
		{"  ", "··"},
		{"\n\n", "↵↵"},
		{"\t x", "⇥·x"},
		{"a\r\n", "a␍↵"},
		{"\x15", `\x15`},
		{"\xff\xfe", `\xff\xfe`}, // invalid UTF-8, as a byte-level token can decode to
		{"a·b", `a\u00b7b`},      // a literal middle dot is escaped: no ambiguity with a space
		{"\u2028", `\u2028`},
		{"\u00a0x", `\u00a0x`},       // no-break space
		{"a\u200db", `a\u200db`},     // zero-width joiner
		{"\u202eabc", `\u202eabc`},   // right-to-left override
		{"\u3000", `\u3000`},         // ideographic space
		{"\U000e0001", `\U000e0001`}, // language tag (format, outside the BMP)
		{"", "∅"},
		{" łódź", "·łódź"},
	} {
		if got := view.Visible(c.in); got != c.want {
			t.Errorf("Visible(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// columnStarts returns the display column where each of cells begins in
// line, searching left to right.
func columnStarts(t *testing.T, line string, cells []string) []int {
	t.Helper()
	var starts []int
	pos := 0
	for _, c := range cells {
		if c == "" {
			starts = append(starts, -1)
			continue
		}
		i := strings.Index(line[pos:], c)
		if i < 0 {
			t.Fatalf("cell %q not found in %q after byte %d", c, line, pos)
		}
		starts = append(starts, view.Width(line[:pos+i]))
		pos += i + len(c)
	}
	return starts
}

// Polish tokens, precomposed and decomposed, of different byte lengths but
// equal display widths, must leave every column starting at the same
// display column as its header.
func TestNeuronTextAlignsPolish(t *testing.T) {
	v := newVocab()
	mk := func(texts ...string) []project.Token {
		var ts []project.Token
		for i, s := range texts {
			ts = append(ts, project.Token{ID: v.id(s), Score: float32(10 - i)})
		}
		return ts
	}
	r := &project.NeuronTop{
		Neuron: project.NeuronID{Layer: 2, Index: 345}, K: 4, Filter: "alnum+list(pl.txt)",
		Columns: [project.NumSides][]project.Token{
			mk(" żółć", " zolc", " z\u0307o\u0301łc\u0301", "ąę"),
			mk(" ŁÓDŹ", "lodz", " 東京"),
			mk(" gęś", "ś", " a", " bardzo długi wyraz"),
			mk(" x", " źdźbło", " zdzblo", "ń"),
		},
	}
	for _, opts := range [][]view.Option{nil, {view.WithScores()}} {
		out := view.Neuron(v, r, opts...).String()
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if lines[0] != "L2/N345  top 4  filter: alnum+list(pl.txt)" {
			t.Errorf("title line %q", lines[0])
		}
		hdr := []string{"K", "V", "-K", "-V"}
		if opts != nil {
			hdr = []string{"K", "score", "V", "score", "-K", "score", "-V", "score"}
		}
		want := columnStarts(t, lines[1], hdr)
		if len(lines) != 2+1+4 {
			t.Fatalf("got %d lines, want title, header, dashes and 4 rows:\n%s", len(lines), out)
		}
		for row := 0; row < 4; row++ {
			var cells []string
			for s := range 4 {
				col := r.Columns[s]
				c := ""
				if row < len(col) {
					c = v.Display(col[row].ID)
				}
				cells = append(cells, c)
				if opts != nil {
					cells = append(cells, "") // scores are right-aligned: checked below
				}
			}
			got := columnStarts(t, lines[3+row], cells)
			for i, g := range got {
				if g >= 0 && g != want[i] {
					t.Errorf("row %d cell %q starts at column %d, header at %d:\n%s", row, cells[i], g, want[i], out)
				}
			}
		}
		if opts != nil {
			// Right-aligned scores end where the dashes under "score" end.
			dash := lines[2]
			for row := 3; row < len(lines); row++ {
				if view.Width(lines[row]) > view.Width(dash) {
					t.Errorf("row wider than the dashes: %q", lines[row])
				}
			}
			if !strings.Contains(out, "10.000") || !strings.Contains(out, "7.000") {
				t.Errorf("scores missing:\n%s", out)
			}
		}
	}
}

func TestPairsText(t *testing.T) {
	v := newVocab()
	top := &project.PairTop{
		Head: project.HeadID{Layer: 3, Head: 7}, Kind: project.QK, K: 3, Bottom: true, Filter: "alnum",
		Pairs: []project.Pair{
			{Source: v.id(" kot"), Target: v.id("ł"), Score: -5.25},
			{Source: v.id("\n"), Target: v.id(" pies"), Score: -4},
			{Source: v.id(" kot"), Target: v.id("  "), Score: -0.001},
		},
	}
	out := view.Pairs(v, top).String()
	want := `3.7 W_QK  bottom 3 (lowest first)  filter: alnum
#  query  ↔  key        score
-  -----     -----  ---------
1  ·kot   ↔  ł         -5.250
2  ↵      ↔  ·pies     -4.000
3  ·kot   ↔  ··     -1.00e-03
`
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	top.Kind, top.Bottom = project.OV, false
	out = view.Pairs(v, top, view.WithForm(view.FormRaw)).String()
	if !strings.Contains(out, "3.7 W_OV  top 3  filter: alnum") || !strings.Contains(out, "#  source  →  target") ||
		!strings.Contains(out, "Ġkot") || !strings.Contains(out, "Ċ") {
		t.Errorf("OV raw form:\n%s", out)
	}
}

func TestBadInputsRenderVisibly(t *testing.T) {
	v := newVocab(" a", " b")
	neuron := &project.NeuronTop{Neuron: project.NeuronID{Layer: 1, Index: 2}, K: 2,
		Columns: [project.NumSides][]project.Token{{{ID: 0}, {ID: 99}}, {{ID: -1}}}}
	out := view.Neuron(v, neuron).String()
	if !strings.Contains(out, "⟨bad id 99⟩") || !strings.Contains(out, "⟨bad id -1⟩") || !strings.Contains(out, "filter: none") {
		t.Errorf("bad ids not shown:\n%s", out)
	}
	if !strings.Contains(view.Neuron(v, neuron).HTML(), "⟨bad id 99⟩") {
		t.Error("bad id missing from HTML")
	}
	// Nil Tokens: every id is unknown, nothing panics.
	if out := view.Pairs(nil, &project.PairTop{Pairs: []project.Pair{{Source: 1, Target: 2}}}).String(); !strings.Contains(out, "⟨bad id 1⟩") {
		t.Errorf("nil Tokens:\n%s", out)
	}
	// Nil results and empty results.
	for _, r := range []view.Renderable{view.Neuron(v, nil), view.Pairs(v, nil), view.PairHeatmap(v, nil, nil)} {
		if r.String() == "" || r.HTML() == "" {
			t.Errorf("%T: empty rendering of a nil result", r)
		}
	}
	empty := view.Pairs(v, &project.PairTop{K: 5}).String()
	if !strings.Contains(empty, "no pairs passed the filter") {
		t.Errorf("empty pairs:\n%s", empty)
	}
	if s := view.Neuron(v, &project.NeuronTop{K: 5}).String(); !strings.Contains(s, "no tokens passed the filter") {
		t.Errorf("empty neuron:\n%s", s)
	}
}
