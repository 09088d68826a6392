package view_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/view"
	lkvocab "lenskit.dev/lenskit/vocab"
)

// *vocab.Vocab is what real callers pass as Tokens.
var _ view.Tokens = (*lkvocab.Vocab)(nil)

// With the embedded model's real byte-level BPE vocabulary, tokens with
// Polish letters (multi-byte in UTF-8, several runes in raw byte-level
// form) line up in the neuron table, and the pair table shows them in
// their visible form.
func TestRealVocabularyTables(t *testing.T) {
	v, err := lkvocab.LoadDir("../checkpoint/embedded/tiny-pl-gpt2")
	if err != nil {
		t.Fatalf("loading the embedded model's tokenizer: %v", err)
	}
	// The first tokens (by id) of four or more letters whose text has a
	// Polish letter (word-initial and continuations alike), and ASCII words.
	var polish, ascii []int
	for id := 0; id < v.Len() && (len(polish) < 16 || len(ascii) < 16); id++ {
		txt := v.Text(id)
		switch {
		case strings.ContainsAny(txt, "ąćęłńóśźżĄĆĘŁŃÓŚŹŻ") && utf8.ValidString(txt) && utf8.RuneCountInString(txt) >= 4 && len(polish) < 16:
			polish = append(polish, id)
		case len(txt) >= 5 && txt[0] == ' ' && strings.Trim(txt[1:], "abcdefghijklmnopqrstuvwxyz") == "" && len(ascii) < 16:
			ascii = append(ascii, id)
		}
	}
	if len(polish) < 16 || len(ascii) < 16 {
		t.Fatalf("found %d Polish and %d ASCII tokens", len(polish), len(ascii))
	}
	col := func(ids []int) []project.Token {
		var ts []project.Token
		for i, id := range ids {
			ts = append(ts, project.Token{ID: id, Score: float32(20 - i)})
		}
		return ts
	}
	r := &project.NeuronTop{Neuron: project.NeuronID{Layer: 3, Index: 1000}, K: 8,
		Columns: [project.NumSides][]project.Token{col(polish[:8]), col(ascii[:8]), col(polish[8:]), col(ascii[8:])}}
	out := view.Neuron(v, r).String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := columnStarts(t, lines[1], []string{"K", "V", "-K", "-V"})
	for row := range 8 {
		var cells []string
		for s := range 4 {
			cells = append(cells, v.Display(r.Columns[s][row].ID))
		}
		got := columnStarts(t, lines[3+row], cells)
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("row %d: %q starts at column %d, header at %d:\n%s", row, cells[i], got[i], want[i], out)
			}
		}
	}
	t.Logf("\n%s", out)

	p := &project.PairTop{Head: project.HeadID{Layer: 2, Head: 5}, Kind: project.OV, K: 4}
	for i := range 4 {
		p.Pairs = append(p.Pairs, project.Pair{Source: polish[i], Target: ascii[i], Score: float32(5 - i)})
	}
	pt := view.Pairs(v, p).String()
	for i := range 4 {
		if !strings.Contains(pt, view.Visible(v.Text(polish[i]))) {
			t.Errorf("pair table lacks %q:\n%s", view.Visible(v.Text(polish[i])), pt)
		}
	}
	h := view.Pairs(v, p).HTML()
	if !strings.Contains(h, "raw &#34;"+v.Raw(polish[0])) {
		t.Errorf("tooltip lacks the raw entry %q", v.Raw(polish[0]))
	}
}
