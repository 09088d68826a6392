package notes

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"lenskit.dev/lenskit/project"
)

func TestTableEscapes(t *testing.T) {
	f := sampleFile()
	f.Notes[1].Label = `<script>alert("x")</script>`
	tab := f.Table()
	h := tab.HTML()
	if strings.Contains(h, "<script>") || !strings.Contains(h, "&lt;script&gt;") {
		t.Errorf("label not escaped in HTML:\n%s", h)
	}
	if !strings.Contains(h, "&lt;tokens&gt; &amp; more.") {
		t.Errorf("text not escaped in HTML:\n%s", h)
	}
	s := tab.String()
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) != 3+len(f.Notes) { // title, header, rule, rows
		t.Fatalf("text table has %d lines:\n%s", len(lines), s)
	}
	// Columns align: "Label" starts at the same character in every row.
	col := strings.Index(lines[1], "Label")
	for _, l := range lines[3:] {
		if r := []rune(l); len(r) < col || r[col-1] != ' ' || r[col-2] != ' ' {
			t.Errorf("misaligned row %q", l)
		}
	}
	for _, want := range []string{"L2/N345 K", "top-3 K: ubraniu, przebra, ubiera; V: kondu", "top-2: Cezary→Benedykt, lekarz→szpital", "2 tokens: cholera, psiakrew"} {
		if !strings.Contains(s, want) {
			t.Errorf("text table lacks %q:\n%s", want, s)
		}
	}
}

func TestHeadMap(t *testing.T) {
	f := sampleFile()
	f.Notes = append(f.Notes,
		Note{ID: "qk", Component: Head(project.HeadID{Layer: 3, Head: 7}, project.QK), Label: "same word", Author: "bob"},
		Note{ID: "qk2", Component: Head(project.HeadID{Layer: 0, Head: 2}, project.QK), Label: "previous token"},
	)
	g := f.HeadMap()
	if len(g.Values) != 4 || len(g.Values[0]) != 8 || len(g.YLabels) != 4 || len(g.XLabels) != 8 {
		t.Fatalf("grid is %d × %d", len(g.Values), len(g.Values[0]))
	}
	for l := range 4 {
		for h := range 8 {
			want := Unlabelled
			switch {
			case l == 3 && h == 7:
				want = BothLabelled
			case l == 0 && h == 2:
				want = QKLabelled
			}
			if g.Values[l][h] != float64(want) {
				t.Errorf("cell %d.%d = %v, want %v", l, h, g.Values[l][h], want)
			}
		}
	}
	if tip := g.Tooltips[3][7]; tip != "head 3.7 (OV and QK)\nOV: names, medicine (ala)\nQK: same word (bob)" {
		t.Errorf("tooltip = %q", tip)
	}
	text := g.String()
	if !strings.Contains(text, "0 · · Q · · · · ·") || !strings.Contains(text, "3 · · · · · · · B") {
		t.Errorf("text map:\n%s", text)
	}
	h := g.HTML()
	if !strings.Contains(h, `title="head 3.7 (OV and QK)`+"\n"+`OV: names, medicine (ala)`) || !strings.Contains(h, categoryColors[BothLabelled]) {
		t.Errorf("HTML map lacks the tooltip or colour:\n%s", h)
	}
}

func TestNeuronMap(t *testing.T) {
	f := sampleFile()
	f.Notes = append(f.Notes,
		Note{ID: "v", Component: Neuron(project.NeuronID{Layer: 2, Index: 345}, ValuePart), Label: "uniforms"},
		Note{ID: "v2", Component: Neuron(project.NeuronID{Layer: 2, Index: 7}, ValuePart), Label: "numbers"},
		Note{ID: "kv", Component: Neuron(project.NeuronID{Layer: 0, Index: 1}, BothParts), Label: "dates"},
	)
	g := f.NeuronMap()
	want := [][]float64{{0, 0, 1, 1}, {0, 0, 0, 0}, {0, 1, 1, 2}, {0, 0, 0, 0}}
	for l := range want {
		for x := range want[l] {
			if g.Values[l][x] != want[l][x] {
				t.Errorf("layer %d %s = %v, want %v", l, g.XLabels[x], g.Values[l][x], want[l][x])
			}
		}
	}
	if tip := g.Tooltips[2][0]; !strings.HasPrefix(tip, "layer 2: 2 of 1024 neurons labelled\nL2/N345 K: ubrania, mundury (ala)") {
		t.Errorf("tooltip = %q", tip)
	}
	if g.Tooltips[1][0] != "" || math.IsNaN(g.Values[1][0]) {
		t.Errorf("empty layer: %q %v", g.Tooltips[1][0], g.Values[1][0])
	}
	if !strings.Contains(g.HTML(), "rgba(49,130,189,1.00)") {
		t.Error("the largest count is not shaded fully")
	}
}

func TestMarkdown(t *testing.T) {
	md := sampleFile().Markdown()
	for _, want := range []string{
		"# Notes on tiny-pl-gpt2",
		"Model `tiny-pl-gpt2`, revision `main`, weights `sha256:1111`; 4 layers × 8 heads, 1024 neurons per layer. 3 notes.",
		"| 3.7 OV | names, medicine | names | ala | 2026-11-27 | `head1` |",
		"## 3.7 OV — names, medicine",
		"| # | source | target | score |",
		"| 1 | Cezary | Benedykt | 4.5 |",
		"| # | K | V |",
		"| 2 | przebra (3.25) |  |",
		"## set:swear words — przekleństwa",
		"Tokens (2): cholera (7), psiakrew (8)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	f := sampleFile()
	f.Notes[0].Label = "a|b *c* #d"
	if md := f.Markdown(); !strings.Contains(md, `a\|b \*c\* \#d`) {
		t.Errorf("label not escaped:\n%s", md)
	}
}

func TestGridHeatmap(t *testing.T) {
	f := sampleFile()
	h := f.HeadMap().Heatmap()
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if h.Values[3][7] != OVLabelled || !math.IsNaN(h.Values[0][0]) {
		t.Errorf("heatmap values: 3.7 = %v, 0.0 = %v", h.Values[3][7], h.Values[0][0])
	}
	// Categories, each its own colour, so a lone "OV only" head is not
	// drawn white at the bottom of a continuous scale.
	var labels []string
	colors := map[string]bool{}
	for _, c := range h.Categories {
		labels = append(labels, fmt.Sprintf("%g=%s", c.Value, c.Label))
		colors[c.Color] = true
	}
	if got := strings.Join(labels, ", "); got != "1=OV only, 2=QK only, 3=OV and QK" || len(colors) != 3 {
		t.Errorf("categories %q, %d colours", got, len(colors))
	}
	html := h.HTML()
	if !strings.Contains(html, "names, medicine (ala)") {
		t.Errorf("echarts HTML lacks the label in a tooltip:\n%.2000s", html)
	}
	n := f.NeuronMap().Heatmap()
	if err := n.Validate(); err != nil || n.Values[2][3] != 1 || n.Values[0][0] != 0 {
		t.Errorf("neuron heatmap: %v %v", err, n.Values)
	}
}
