package view_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/view"
)

var hostile = []string{
	"<script>alert(1)</script>",
	`" onmouseover="alert(1)`,
	"&amp; & AT&T",
	"it's",
	"</style><b>",
	" </td></tr></table>",
}

var (
	tagRE       = regexp.MustCompile(`<[^>]*>`)
	wellFormed  = regexp.MustCompile(`^</?([a-z]+)((?:\s+[a-z-]+="[^"<>]*")*)\s*>$`)
	allowedTags = map[string]bool{"style": true, "div": true, "span": true, "table": true, "thead": true,
		"tbody": true, "tr": true, "th": true, "td": true, "b": true, "i": true}
)

// checkMarkup fails if html has a tag that is not one of the few the
// tables use, or a tag that is not well formed (an attribute broken out of
// its quotes).
func checkMarkup(t *testing.T, html string) {
	t.Helper()
	for _, tag := range tagRE.FindAllString(html, -1) {
		m := wellFormed.FindStringSubmatch(tag)
		if m == nil {
			t.Errorf("malformed tag %q", tag)
			continue
		}
		if !allowedTags[m[1]] {
			t.Errorf("unexpected tag %q", tag)
		}
	}
	for _, bad := range []string{"<script", "onmouseover=\"alert", "</style><b>"} {
		if strings.Contains(html, bad) {
			t.Errorf("unescaped %q in HTML", bad)
		}
	}
}

func TestHTMLEscapesHostileTokens(t *testing.T) {
	v := newVocab(hostile...)
	var col []project.Token
	var pairs []project.Pair
	for i := range hostile {
		col = append(col, project.Token{ID: i, Score: float32(len(hostile) - i)})
		pairs = append(pairs, project.Pair{Source: i, Target: len(hostile) - 1 - i, Score: float32(len(hostile) - i)})
	}
	n := &project.NeuronTop{Neuron: project.NeuronID{Layer: 1, Index: 2}, K: len(col), Filter: "<i>list</i>",
		Columns: [project.NumSides][]project.Token{col, col, col, col}}
	p := &project.PairTop{Head: project.HeadID{Layer: 1, Head: 2}, K: len(pairs), Pairs: pairs, Filter: `"x"`,
		Stats: project.Stats{Engine: "<b>dense</b>"}}
	for name, r := range map[string]view.Renderable{
		"neuron":        view.Neuron(v, n),
		"neuron scores": view.Neuron(v, n, view.WithScores()),
		"pairs":         view.Pairs(v, p),
		"pairs raw":     view.Pairs(v, p, view.WithForm(view.FormRaw)),
	} {
		t.Run(name, func(t *testing.T) {
			h := r.HTML()
			checkMarkup(t, h)
			for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&amp;amp;", "&#39;", "&lt;/style&gt;&lt;b&gt;"} {
				if !strings.Contains(h, want) && !strings.Contains(h, strings.ReplaceAll(want, " ", "·")) {
					t.Errorf("escaped form %q missing", want)
				}
			}
		})
	}
	// ShowError's box escapes the message too.
	checkMarkup(t, view.ErrorHTML(errString("<script>x</script> & more")))
}

type errString string

func (e errString) Error() string { return string(e) }

var bgRE = regexp.MustCompile(`background:rgb\((\d+),(\d+),(\d+)\)`)

func backgrounds(t *testing.T, html string) [][3]int {
	t.Helper()
	var out [][3]int
	for _, m := range bgRE.FindAllStringSubmatch(html, -1) {
		var c [3]int
		for i := range c {
			c[i], _ = strconv.Atoi(m[i+1])
		}
		out = append(out, c)
	}
	return out
}

// Shading grows with the score's magnitude within a result: down a top-k
// list (scores falling) the red fades, down a bottom-k list (scores rising
// towards zero) the blue fades, and signs get different hues.
func TestPairShadingMonotone(t *testing.T) {
	v := newVocab(" a", " b", " c")
	mk := func(bottom bool, scores ...float32) *project.PairTop {
		r := &project.PairTop{K: len(scores), Bottom: bottom}
		for i, s := range scores {
			r.Pairs = append(r.Pairs, project.Pair{Source: i % 3, Target: (i + 1) % 3, Score: s})
		}
		return r
	}
	top := backgrounds(t, view.Pairs(v, mk(false, 12.5, 12.4, 11, 9.75, 9.7, 3, 0.5)).HTML())
	if len(top) != 7 {
		t.Fatalf("%d shaded cells, want 7", len(top))
	}
	for i := 1; i < len(top); i++ {
		// Mixing white with red (214,96,77): less red = larger G and B.
		if top[i][1] < top[i-1][1] || top[i][2] < top[i-1][2] {
			t.Errorf("top-k: cell %d %v is redder than cell %d %v", i, top[i], i-1, top[i-1])
		}
		if top[i][0] <= top[i][2] {
			t.Errorf("positive score shaded blue: %v", top[i])
		}
	}
	if top[0] == top[len(top)-1] {
		t.Error("top-k: first and last cell shaded alike")
	}
	bottom := backgrounds(t, view.Pairs(v, mk(true, -8, -7.5, -7.5, -2, -0.1)).HTML())
	for i := 1; i < len(bottom); i++ {
		// Mixing white with blue (59,76,192): less blue = larger R and G.
		if bottom[i][0] < bottom[i-1][0] || bottom[i][1] < bottom[i-1][1] {
			t.Errorf("bottom-k: cell %d %v is bluer than cell %d %v", i, bottom[i], i-1, bottom[i-1])
		}
		if bottom[i][2] <= bottom[i][0] {
			t.Errorf("negative score shaded red: %v", bottom[i])
		}
	}
	if bottom[1] != bottom[2] {
		t.Errorf("equal scores shaded differently: %v %v", bottom[1], bottom[2])
	}
	if !strings.Contains(view.Pairs(v, mk(true, -1)).HTML(), "bottom-k") {
		t.Error("bottom-k result has no bottom-k badge")
	}
}

// Each output scopes its CSS under its own class, so two outputs on a page
// cannot restyle each other.
func TestHTMLScopedStyles(t *testing.T) {
	v := newVocab(" a")
	r := &project.NeuronTop{K: 1, Columns: [project.NumSides][]project.Token{{{ID: 0}}}}
	a, b := view.Neuron(v, r).HTML(), view.Neuron(v, r).HTML()
	cls := regexp.MustCompile(`<div class="(lk-[0-9a-f]+)">`)
	ca, cb := cls.FindStringSubmatch(a), cls.FindStringSubmatch(b)
	if ca == nil || cb == nil || ca[1] == cb[1] {
		t.Fatalf("outputs do not have distinct root classes: %v %v", ca, cb)
	}
	rules := regexp.MustCompile(`(?m)^([^{<\n]+)\{`).FindAllStringSubmatch(a, -1)
	if len(rules) < 5 {
		t.Fatalf("found %d CSS rules, want the table style", len(rules))
	}
	for _, rule := range rules {
		if !strings.HasPrefix(strings.TrimSpace(rule[1]), "."+ca[1]) {
			t.Errorf("CSS rule %q is not scoped under .%s", rule[1], ca[1])
		}
	}
	if !strings.Contains(a, `class="lk-scroll"`) || !strings.Contains(a, "max-height:480px") {
		t.Error("table is not in a scrolling container")
	}
	if !strings.Contains(view.Neuron(v, r, view.WithMaxHeight(200)).HTML(), "max-height:200px") {
		t.Error("WithMaxHeight ignored")
	}
}
