package lenskit_test

import (
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"lenskit.dev/lenskit"
	"lenskit.dev/lenskit/catalogue"
	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/view"
)

// TestLensCatalogue scans the embedded model through an alnum lens, and
// checks the facade's views: rows equal single queries through the same
// lens, the head map and neuron table render, the notes join, and a
// second call resumes (keeps every layer).
func TestLensCatalogue(t *testing.T) {
	m, err := lenskit.Load("")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	lens := m.Lens(lenskit.Alnum(), lenskit.ExcludeSame())
	dir := filepath.Join(t.TempDir(), "cat")
	c := lens.Catalogue(dir, lenskit.CatalogueK(5))
	if c.Err() != nil {
		t.Fatal(c.Err())
	}
	a := m.Arch()
	if len(c.Heads) != a.Layers*a.Heads*2 || len(c.Neurons) != a.Layers*a.DFF {
		t.Fatalf("%d head rows, %d neuron rows", len(c.Heads), len(c.Neurons))
	}
	pairs, err := c.Pairs(func(p *catalogue.PairRow) bool {
		return p.Layer == 2 && p.Head == 4 && p.View == "OV" && p.Side == "top"
	})
	if err != nil {
		t.Fatal(err)
	}
	want := lens.OV(2, 4).Top(5)
	if len(pairs) != 5 {
		t.Fatalf("%d pairs of 2.4 OV", len(pairs))
	}
	for i, p := range want.Pairs {
		if int(pairs[i].SourceID) != p.Source || int(pairs[i].TargetID) != p.Target || pairs[i].Score != p.Score {
			t.Errorf("2.4 OV rank %d: catalogue %+v, lens %+v", i+1, pairs[i], p)
		}
	}
	top, err := c.TopNeurons("value_kurtosis", 3)
	if err != nil || len(top) != 3 || top[0].ValueKurtosis < top[2].ValueKurtosis {
		t.Fatalf("TopNeurons: %v %v", top, err)
	}
	for _, n := range c.Neurons {
		if n.ValueKurtosis > top[0].ValueKurtosis {
			t.Fatalf("neuron %+v above the top one", n)
		}
	}
	supp, _ := c.TopNeurons("-value_skew", 1)
	for _, n := range c.Neurons {
		if n.ValueSkew < supp[0].ValueSkew {
			t.Fatalf("neuron %+v below the most negative skew", n)
		}
	}
	nr := lens.Neuron(int(top[0].Layer), int(top[0].Neuron)).Top(5)
	tbl := c.NeuronTable("value_kurtosis", 3)
	if s := tbl.String(); !strings.Contains(s, project.NeuronID{Layer: int(top[0].Layer), Index: int(top[0].Neuron)}.String()) ||
		!strings.Contains(s, view.Visible(m.Vocab.Text(nr.Columns[project.Value][0].ID))) {
		t.Errorf("neuron table lacks the top neuron or its top V token:\n%s", s)
	}
	if h := tbl.HTML(); !strings.Contains(h, "<table>") || !strings.Contains(h, "click to sort") {
		t.Errorf("neuron table HTML: %.300s", h)
	}
	hm := c.HeadMap("OV", "copying_score")
	if h := hm.HTML(); !strings.Contains(h, "lk-heatmap") || !strings.Contains(h, "copying_score") || !strings.Contains(h, "top pairs") {
		t.Errorf("head map HTML: %.300s", h)
	}
	if bad := c.HeadMap("OV", "nonsense"); !strings.Contains(bad.String(), "unknown head statistic") {
		t.Errorf("unknown statistic: %s", bad.String())
	}
	if qk := c.HeadMap("QK", "prev_token_fraction").String(); strings.Contains(qk, "error") {
		t.Errorf("QK map: %s", qk)
	}
	book, err := m.Notes(filepath.Join(t.TempDir(), "notes.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := book.LabelHead(2, 4, project.OV, "relative pronouns", ""); err != nil {
		t.Fatal(err)
	}
	joined := c.WithNotes(book).String()
	row, _ := lenskit.HeadStat(headRow(c, 2, 4), "copying_score")
	if !strings.Contains(joined, "2.4 OV") || !strings.Contains(joined, "relative pronouns") || math.IsNaN(row) {
		t.Errorf("notes join:\n%s", joined)
	}
	again := lens.Catalogue(dir, lenskit.CatalogueK(5))
	if again.Err() != nil || len(again.Report.Skipped) != a.Layers || len(again.Report.Computed) != 0 {
		t.Errorf("second scan: %v %+v", again.Err(), again.Report)
	}
	if other := m.Lens().Catalogue(dir, lenskit.CatalogueK(5)); other.Err() == nil || !strings.Contains(other.String(), "filter") {
		t.Errorf("a scan with other filters into the same directory: %v", other.Err())
	}
	if o := lenskit.OpenCatalogue(filepath.Join(t.TempDir(), "none")); o.Err() == nil {
		t.Error("a missing catalogue opened")
	}
}

// TestFind: the reverse lookup of a Polish word through the facade — its
// forms, the JSON contract, best-first lists of k, links to full views,
// and bad words.
func TestFind(t *testing.T) {
	m, err := lenskit.Load("")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r := m.Find("Warszawa", 7)
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	var texts []string
	for _, f := range r.Forms {
		texts = append(texts, f.Text)
		ids, _ := m.Vocab.Encode(f.Text)
		if ids[0] != f.Token {
			t.Errorf("form %q: token %d, encodes to %v", f.Text, f.Token, ids)
		}
	}
	if !slices.Equal(texts, []string{"Warszawa", " Warszawa", "warszawa", " warszawa"}) {
		t.Errorf("forms %q", texts)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Write []map[string]any `json:"neurons_write"`
		Read  []map[string]any `json:"neurons_read"`
		Heads []map[string]any `json:"heads"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	for name, list := range map[string][]map[string]any{"neurons_write": out.Write, "neurons_read": out.Read, "heads": out.Heads} {
		if len(list) != 7 {
			t.Errorf("%s: %d entries, want 7", name, len(list))
		}
		keys := []string{"layer", "neuron", "score"}
		if name == "heads" {
			keys = []string{"layer", "head", "source_id", "source", "target_id", "target", "score"}
		}
		for i, e := range list {
			for _, k := range keys {
				if _, ok := e[k]; !ok {
					t.Errorf("%s[%d] lacks %q: %v", name, i, k, e)
				}
			}
			if i > 0 && e["score"].(float64) > list[i-1]["score"].(float64) {
				t.Errorf("%s not best first at %d", name, i)
			}
		}
	}
	// The best writer's score is what its own view shows for the token.
	w := r.Write[0]
	view := r.WriterView(0, m.Vocab.Len())
	found := false
	for _, tk := range view.Columns[project.Value] {
		if tk.ID == w.Token {
			found = tk.Score == w.Score
		}
	}
	if !found {
		t.Errorf("writer %v: its view scores the token differently", w)
	}
	if hv := r.HeadView(0, 3); hv.Err() != nil || hv.Head != r.Heads[0].Head {
		t.Errorf("head view: %v", hv.Err())
	}
	if s := r.String(); !strings.Contains(s, "neurons writing") || !strings.Contains(s, "lenskit ov --layer") {
		t.Errorf("text:\n%s", s)
	}
	for _, bad := range []string{"", "   ", "\xff\xfe", strings.Repeat("a", 2000)} {
		if r := m.Find(bad); r.Err() == nil {
			t.Errorf("%q accepted", bad)
		} else if _, err := json.Marshal(r); err == nil {
			t.Errorf("%q: JSON of a failed lookup", bad)
		}
	}
	if r := m.Find(""); !strings.Contains(r.Err().Error(), "encodes to no tokens") {
		t.Errorf("empty word: %v", r.Err())
	}
}

func headRow(c *lenskit.Catalogue, layer, head int) catalogue.HeadRow {
	for _, h := range c.Heads {
		if int(h.Layer) == layer && int(h.Head) == head && h.View == "OV" {
			return h
		}
	}
	return catalogue.HeadRow{}
}

// TestRowsAndDirections: the facade's row and column views and singular
// directions of head 2.4 through a lens: each row a distinct token with
// its best pairs, σ as the view's statistics give them, text and HTML.
func TestRowsAndDirections(t *testing.T) {
	m, err := lenskit.Load("")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	lens := m.Lens(lenskit.Alnum())
	q := lens.OV(2, 4)
	for _, r := range []*lenskit.RowResult{q.Rows(8, 3), q.Columns(8, 3)} {
		if r.Err() != nil {
			t.Fatal(r.Err())
		}
		seen := map[int]bool{}
		for _, e := range r.Rows {
			if seen[e.Token] || len(e.Pairs) != 3 {
				t.Fatalf("row %+v (seen before: %v)", e, seen[e.Token])
			}
			seen[e.Token] = true
			for _, p := range e.Pairs {
				if (r.ByTarget && p.Target != e.Token) || (!r.ByTarget && p.Source != e.Token) {
					t.Fatalf("row of %d holds pair %+v", e.Token, p)
				}
			}
		}
		if len(r.Rows) != 8 || !strings.Contains(r.String(), "ranked by their best entry") || !strings.Contains(r.HTML(), "<table>") {
			t.Errorf("%d rows:\n%s", len(r.Rows), r.String())
		}
	}
	d := q.Directions(3, 5)
	if d.Err() != nil {
		t.Fatal(d.Err())
	}
	v, _ := q.View()
	st, _ := v.Stats(lens.Tokens())
	for i, dir := range d.Directions {
		if math.Abs(dir.Sigma-st.Singular[i]) > 1e-9*st.Sigma1 || len(dir.Sources[0]) != 5 || len(dir.Targets[1]) != 5 {
			t.Errorf("direction %d: σ %v (stats %v), %d/%d tokens", i, dir.Sigma, st.Singular[i], len(dir.Sources[0]), len(dir.Targets[1]))
		}
	}
	if s := d.String(); !strings.Contains(s, "top singular directions") || strings.Count(s, "\n") < 5 {
		t.Errorf("directions text:\n%s", s)
	}
	if bad := m.Lens().OV(9, 0).Rows(3, 3); bad.Err() == nil || !strings.Contains(bad.String(), "error") {
		t.Errorf("layer 9: %v", bad.Err())
	}
}
