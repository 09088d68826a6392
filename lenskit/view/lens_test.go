package view_test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lenskit.dev/lenskit/forward"
	"lenskit.dev/lenskit/view"
)

// fakeLens is a 3-row lens of a 3-token prompt with known cells; one top
// token is hostile markup.
func fakeLens() (*vocab, *forward.Lens) {
	v := newVocab(" Stolicą", " Polski", " jest", " Warszawa", "<img src=x onerror=alert(1)>")
	ids := []int{0, 1, 2}
	cell := func(top, second int, p float64, rank int) forward.LensCell {
		return forward.LensCell{Top: []forward.TokenProb{{ID: top, P: p}, {ID: second, P: (1 - p) / 2}}, Entropy: 1 - p, KL: 2 * (1 - p), NextRank: rank, NextP: p / float64(rank)}
	}
	l := &forward.Lens{IDs: ids, Rows: []string{"embed", "L0.attn", "L0.mlp"}, Cells: [][]forward.LensCell{
		{cell(0, 4, 0.9, 50), cell(1, 3, 0.8, 7), cell(2, 3, 0.7, 0)},
		{cell(4, 1, 0.3, 9), cell(2, 3, 0.4, 3), cell(3, 0, 0.5, 0)},
		{cell(1, 4, 0.6, 1), cell(2, 0, 0.7, 1), cell(3, 1, 0.8, 0)},
	}}
	for _, r := range l.Cells {
		r[2].NextRank, r[2].NextP = 0, 0 // the last position has no next token
		r[2].KL = r[2].KL * 1
	}
	return v, l
}

func TestLensChartMeasures(t *testing.T) {
	v, l := fakeLens()
	c := view.LogitLens(v, l, "lens", 10).Chart()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	names := []string{view.LensProbability, view.LensEntropy, view.LensRank, view.LensKL}
	if len(c.Metrics) != 4 {
		t.Fatalf("%d measures", len(c.Metrics))
	}
	for i, m := range c.Metrics {
		if m.Name != names[i] {
			t.Errorf("measure %d is %q, want %q", i, m.Name, names[i])
		}
	}
	if got := c.Metrics[0].Values[2][1]; got != 0.7 {
		t.Errorf("probability cell (L0.mlp, 1) = %v", got)
	}
	if got := c.Metrics[2].Values[0][0]; math.Abs(got-math.Log10(50)) > 1e-12 {
		t.Errorf("rank cell = %v, want log10(50)", got)
	}
	if !math.IsNaN(c.Metrics[2].Values[0][2]) {
		t.Error("the last position has a rank cell")
	}
	if !c.Metrics[2].Reverse {
		t.Error("ranks should be dark when small")
	}
	if c.CellText[1][0] != "<img·src=x·onerror=alert(1)>" || c.CellText[0][1] != "·Polski" {
		t.Errorf("cell texts %q", c.CellText)
	}
	if tip := c.Tooltips[0][0]; !strings.Contains(tip, " 1. ·Stolicą  0.9000") || !strings.Contains(tip, "next token ·Polski: rank 50") {
		t.Errorf("tooltip %q", tip)
	}
	h := c.HTML()
	for _, want := range []string{`data-lk-i="3"`, "KL to the final layer", "__lenskitECharts_"} {
		if !strings.Contains(h, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if strings.Contains(h, "<img src=x") {
		t.Error("a token's markup reached the HTML unescaped")
	}
	s := view.LogitLens(v, l, "lens", 10).String()
	for _, want := range []string{"embed", "·Stolicą 90", "rank of the actual next token", "50"} {
		if !strings.Contains(s, want) {
			t.Errorf("text lacks %q:\n%s", want, s)
		}
	}
}

func TestSwitchableValidate(t *testing.T) {
	s := &view.Switchable{}
	s.XLabels, s.YLabels = []string{"a", "b"}, []string{"x"}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "no measures") {
		t.Errorf("no measures: %v", err)
	}
	s.Metrics = []view.Metric{{Name: "m", Values: [][]float64{{1}}}}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), `measure "m"`) {
		t.Errorf("short row: %v", err)
	}
	if h := s.HTML(); !strings.Contains(h, "error") {
		t.Error("an invalid chart's HTML is not an error")
	}
}

func TestAttentionPattern(t *testing.T) {
	v := newVocab(" a", " b", " c")
	pat := []float32{1, 0, 0, 0.25, 0.75, 0, 0.5, 0.25, 0.25}
	h := view.AttentionPattern(v, []int{0, 1, 2}, pat, 1, 2, "")
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if h.Values[1][1] != 0.75 || !math.IsNaN(h.Values[0][1]) || h.Title != "attention of head 1.2" {
		t.Errorf("values %v, title %q", h.Values, h.Title)
	}
	if bad := view.AttentionPattern(v, []int{0, 1}, pat, 0, 0, ""); bad.Validate() == nil {
		t.Error("a pattern of the wrong size is accepted")
	}
	// The overview: one layer, two heads; head 0 attends to itself, head 1
	// to the previous token (position 0 to itself).
	self := []float32{1, 0, 0, 0, 1, 0, 0, 0, 1}
	prev := []float32{1, 0, 0, 1, 0, 0, 0, 1, 0}
	o := view.HeadOverview([][]float32{append(self, prev...)}, 2, 3, "")
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]float64{view.AttnPrevious: {0, 1}, view.AttnFirst: {0, 0.5}, view.AttnSelf: {1, 1.0 / 3}}
	for _, m := range o.Metrics {
		w := want[m.Name]
		if math.Abs(m.Values[0][0]-w[0]) > 1e-9 || math.Abs(m.Values[0][1]-w[1]) > 1e-9 {
			t.Errorf("%s: %v, want %v", m.Name, m.Values[0], w)
		}
	}
	if bad := view.HeadOverview([][]float32{self}, 2, 3, ""); bad.Validate() == nil {
		t.Error("an overview with missing heads is accepted")
	}
}

// TestSwitchableDrawsInChromium: the lens chart draws offline, and a click
// on a measure's button recolours it (the chart records the measure shown).
func TestSwitchableDrawsInChromium(t *testing.T) {
	bin := chromium(t)
	v, l := fakeLens()
	chart := view.LogitLens(v, l, "lens", 10).HTML()
	page := `<!doctype html><html><head><meta charset="utf-8"></head><body>` + chart + `
<script>setTimeout(function(){var b=document.querySelector("[data-lk-i='2']");if(b)b.click();},1500);</script></body></html>`
	file := filepath.Join(t.TempDir(), "lens.html")
	if err := os.WriteFile(file, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := string(runChromium(t, bin, file, "--virtual-time-budget=10000", "--dump-dom"))
	if !strings.Contains(dom, `data-lenskit-drawn="1"`) || strings.Contains(dom, `class="lk-chart-error"`) {
		t.Fatalf("the lens chart did not draw:\n%.2000s", dom)
	}
	if !strings.Contains(dom, `data-lenskit-metric="`+view.LensRank+`"`) {
		i := strings.Index(dom, "data-lenskit-metric")
		t.Errorf("after the click the chart shows another measure: %q", dom[max(0, i):min(len(dom), i+120)])
	}
}
