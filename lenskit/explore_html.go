package lenskit

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
	"time"

	"lenskit.dev/lenskit/notes"
	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/view"
)

// The explorer's HTML. Live blocks carry data-lkx attributes naming the
// explorer, which its page script (explore_gonb.go) listens on; the static
// state (staticHTML) has none and needs no script but the chart's. Every
// block's root has the class tex2jax_ignore: the classic Notebook runs
// MathJax over a cell's whole output after every update, which would
// otherwise rescan every table on each click and typeset tokens such as
// "$x$" as mathematics.

var esc = html.EscapeString

// attr is an attribute list for a clickable element of explorer id.
func (x *explorer) attr(act string, kv ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `data-lkx="%s" data-lkx-act="%s"`, x.id, act)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, ` data-%s="%s"`, kv[i], esc(kv[i+1]))
	}
	return b.String()
}

const exploreCSS = `<style>
.lkx{font-family:sans-serif;font-size:12px;color:#1a1a1a}
.lkx .lkx-row{margin:3px 0}
.lkx .lkx-dim{color:#666}
.lkx .lkx-err{color:#8e0000;background:#fdecea;border-left:4px solid #c62828;padding:3px 8px;white-space:pre-wrap}
.lkx .lkx-ok{color:#1b5e20;background:#e8f5e9;border-left:4px solid #2e7d32;padding:3px 8px;white-space:pre-wrap}
.lkx .lkx-hit{display:inline-block;margin:1px 4px 1px 0;padding:1px 6px;border:1px solid #ccc;border-radius:8px;cursor:pointer;font-family:monospace;white-space:pre}
.lkx .lkx-hit:hover{background:#eef}
.lkx input[type=text],.lkx textarea{font-family:monospace;font-size:12px}
.lkx .lkx-note{margin:2px 0;padding:2px 6px;border-left:3px solid #6baed6;background:#f7fbff}
.lkx .lkx-bar{display:inline-block;width:160px;height:8px;border:1px solid #999;vertical-align:middle;margin-left:6px}
.lkx .lkx-bar span{display:block;height:100%;background:#6baed6}
.lkx-controls input[type=range]{display:inline-block;width:180px;vertical-align:middle;margin:0 4px}
.lkx-controls select{margin:0 2px}
</style>`

// statusHTML is the line under the controls: the selection and how long it
// took, the background work in progress, the model.
func (x *explorer) statusHTML(st exploreState) string {
	x.mu.Lock()
	took, handled, progress, seq := x.took, x.handled, x.progress, x.seq
	done, total := x.progressDone, x.progressTotal
	x.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, `<div class="lkx tex2jax_ignore lkx-status" data-lkx-status="%s" data-lkx-seq="%d" data-lkx-handled="%.1f">`, x.id, seq, float64(handled.Microseconds())/1000)
	fmt.Fprintf(&b, `<span>%s</span> <span class="lkx-dim">· computed in %s</span>`, esc(x.describe(st)), esc(roundDuration(took)))
	if progress != "" {
		fmt.Fprintf(&b, ` <span class="lkx-dim" data-lkx-progress="1">· %s</span>`, esc(progress))
		if total > 0 {
			fmt.Fprintf(&b, `<span class="lkx-bar"><span style="width:%.0f%%"></span></span> <span class="lkx-dim">(the next selection pauses it)</span>`, 100*float64(done)/float64(total))
		}
	}
	b.WriteString(`</div>`)
	return b.String()
}

func roundDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return "< 1 ms"
	case d < time.Second:
		return strconv.Itoa(int(d.Milliseconds())) + " ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s"
}

// noteCategories are the colours of the notes statistic (as the notes
// file's own HeadMap).
var noteCategories = []view.Category{
	{Value: notes.OVLabelled, Label: "OV noted", Color: "#6baed6"},
	{Value: notes.QKLabelled, Label: "QK noted", Color: "#fd8d3c"},
	{Value: notes.BothLabelled, Label: "OV and QK noted", Color: "#74c476"},
}

// maps returns the head map and the neuron map for st; live maps carry the
// attributes the page script acts on.
func (x *explorer) maps(st exploreState, live bool) (*view.CellMap, *view.CellMap) {
	a := x.m.Arch()
	var file *notes.File
	var fileErr error
	if x.book != nil {
		file, fileErr = x.book.File()
	} else {
		fileErr = x.bookErr
	}
	var grid *notes.Grid
	labelled := map[[2]int][]string{} // neuron → labels
	if file != nil {
		grid = file.HeadMap()
		for _, n := range file.Notes {
			c := n.Component
			if c.Kind == notes.NeuronKind && c.Layer < a.Layers && c.Index < a.DFF {
				labelled[[2]int{c.Layer, c.Index}] = append(labelled[[2]int{c.Layer, c.Index}], c.Part.String()+": "+n.Label)
			}
		}
	}
	l, _ := x.lensFor(st.On)
	lk, proc := "", ""
	if l != nil {
		lk, proc = lensKey(l), l.f.proc.String()
	}

	hm := &view.CellMap{RowName: "layer", ColName: "head"}
	var kind project.Kind
	switch st.Stat {
	case statNotes:
		hm.Title = "heads: notes"
		hm.Categories = noteCategories
	case statOV, statSigmaOV:
		kind = project.OV
	case statQK, statSigmaQK:
		kind = project.QK
	}
	if st.Stat != statNotes {
		hm.Title = "heads: " + statLabel(st.Stat)
		if st.Stat == statOV || st.Stat == statQK {
			hm.Title += " · " + l.Filter()
		}
		if off := x.offsetFor(kind, st); off != 0 {
			hm.Title += fmt.Sprintf(" · δ=%d", off)
		}
	}
	hm.Legend = "● a note on the head"
	if fileErr != nil {
		hm.Legend = "notes file: " + fileErr.Error()
	}
	offset := x.offsetFor(kind, st)
	computed := 0
	x.mu.Lock()
	for layer := range a.Layers {
		hm.Rows = append(hm.Rows, strconv.Itoa(layer))
		var vals []float64
		var tips []string
		var marks []bool
		for head := range a.Heads {
			if layer == 0 {
				hm.Cols = append(hm.Cols, strconv.Itoa(head))
			}
			v := math.NaN()
			cat := notes.Unlabelled
			tip := fmt.Sprintf("head %d.%d", layer, head)
			if grid != nil && layer < len(grid.Values) && head < len(grid.Values[layer]) {
				cat = int(grid.Values[layer][head])
				if t := grid.Tooltips[layer][head]; t != "" {
					tip = t
				}
			}
			switch st.Stat {
			case statNotes:
				if cat != notes.Unlabelled {
					v = float64(cat)
				}
			case statOV, statQK:
				if s, ok := x.top1[statKey{lk, kind, layer, head, offset}]; ok {
					v = s
					computed++
					tip += fmt.Sprintf("\nlargest %s entry: %.4g", kind, s)
				}
			default:
				if s, ok := x.sigma[statKey{proc, kind, layer, head, offset}]; ok {
					v = s
					computed++
					tip += fmt.Sprintf("\nσ₁ of %s: %.4g", kind, s)
				}
			}
			vals = append(vals, v)
			tips = append(tips, tip)
			marks = append(marks, cat != notes.Unlabelled)
		}
		hm.Values = append(hm.Values, vals)
		hm.Tips = append(hm.Tips, tips)
		hm.Marked = append(hm.Marked, marks)
	}
	x.mu.Unlock()
	if st.Stat != statNotes && computed < a.Layers*a.Heads {
		hm.Title += fmt.Sprintf(" (%d of %d heads computed)", computed, a.Layers*a.Heads)
	}
	if st.View != viewNeuron {
		hm.Selected, hm.SelectedOK = [2]int{st.Layer, st.Head}, true
	}
	if live {
		hm.CellAttrs = func(r, c int) string {
			return x.attr("head", "l", strconv.Itoa(r), "i", strconv.Itoa(c), "lkx-key", headCellKey(r, c))
		}
	}

	// The neuron map: one row per layer, neurons in buckets of equal size.
	starts := view.Buckets(a.DFF, neuronStrip)
	size := 1
	if len(starts) > 1 {
		size = starts[1] - starts[0]
	}
	nm := &view.CellMap{RowName: "layer", ColName: "neurons", CellPx: 6}
	numeric := st.Stat != statNotes
	if numeric {
		nm.Title = fmt.Sprintf("neurons: largest score over a neuron's columns · %s (%d per cell, the cell shows the largest)", l.Filter(), size)
	} else {
		nm.Title = fmt.Sprintf("neurons: notes (%d per cell)", size)
		nm.Categories = []view.Category{{Value: 1, Label: "a neuron noted", Color: "#6baed6"}}
	}
	for _, s := range starts {
		nm.Cols = append(nm.Cols, view.RangeLabel(s, min(s+size, a.DFF)))
	}
	best := map[[2]int]int{} // cell → neuron a click selects
	x.mu.Lock()
	layersDone := 0
	for layer := range a.Layers {
		nm.Rows = append(nm.Rows, strconv.Itoa(layer))
		stat, have := x.nstat[layerKey{lk, layer, 0}]
		if have {
			layersDone++
		}
		var vals []float64
		var tips []string
		var marks []bool
		for c, s := range starts {
			e := min(s+size, a.DFF)
			v, arg := math.NaN(), s
			var labels []string
			for i := s; i < e; i++ {
				labels = append(labels, labelsOf(labelled[[2]int{layer, i}], layer, i)...)
				if numeric && have && (math.IsNaN(v) || stat[i] > v) {
					v, arg = stat[i], i
				}
			}
			if !numeric {
				v = math.NaN()
				if len(labels) > 0 {
					v = 1
					for i := s; i < e; i++ {
						if len(labelled[[2]int{layer, i}]) > 0 {
							arg = i
							break
						}
					}
				}
			}
			best[[2]int{layer, c}] = arg
			tip := fmt.Sprintf("layer %d, neurons %s", layer, view.RangeLabel(s, e))
			if numeric && have {
				tip += fmt.Sprintf("\nlargest: L%d/N%d %.4g", layer, arg, v)
			}
			if len(labels) > 0 {
				tip += "\n" + strings.Join(labels[:min(len(labels), 8)], "\n")
				if len(labels) > 8 {
					tip += fmt.Sprintf("\n… %d more", len(labels)-8)
				}
			}
			vals = append(vals, v)
			tips = append(tips, tip)
			marks = append(marks, len(labels) > 0)
		}
		nm.Values = append(nm.Values, vals)
		nm.Tips = append(nm.Tips, tips)
		nm.Marked = append(nm.Marked, marks)
	}
	x.mu.Unlock()
	if numeric && layersDone < a.Layers {
		nm.Title += fmt.Sprintf(" (%d of %d layers computed)", layersDone, a.Layers)
	}
	nm.Legend = "click a cell for its neuron with the largest score (or its first noted neuron); ● a note in the cell"
	if st.View == viewNeuron {
		nm.Selected, nm.SelectedOK = [2]int{st.Layer, st.Neuron / size}, true
	}
	if live {
		nm.CellAttrs = func(r, c int) string {
			return x.attr("neuron", "l", strconv.Itoa(r), "i", strconv.Itoa(best[[2]int{r, c}]), "lkx-key", neuronCellKey(r, starts[c]))
		}
	}
	return hm, nm
}

func labelsOf(ls []string, layer, i int) []string {
	out := make([]string, len(ls))
	for j, l := range ls {
		out[j] = fmt.Sprintf("L%d/N%d %s", layer, i, l)
	}
	return out
}

func (x *explorer) mapHTML(st exploreState) string {
	hm, nm := x.maps(st, true)
	return fmt.Sprintf(`<div class="lkx tex2jax_ignore lkx-map" data-lkx-map="%s" data-lkx-stat="%s">%s%s</div>`, x.id, esc(st.Stat), hm.HTML(), nm.HTML())
}

// resultHTML is the selection's table and, for a head view, the heatmap of
// its first pairs. Its root carries the selection, for the page and tests.
func (x *explorer) resultHTML(st exploreState, r Finding, err error) string {
	return x.resultBlock(st, r, err, true)
}

func (x *explorer) resultBlock(st exploreState, r Finding, err error, live bool) string {
	var b strings.Builder
	rows := 0
	sel := x.component(st).String()
	switch r := r.(type) {
	case *PairResult:
		if err == nil {
			rows = len(r.Pairs)
		}
	case *NeuronResult:
		if err == nil {
			for _, s := range r.Sides() {
				rows = max(rows, len(r.Columns[s]))
			}
		}
	}
	attrs := ""
	if live {
		attrs = fmt.Sprintf(` data-lkx-result="%s"`, x.id)
	}
	x.mu.Lock()
	seq := x.seq
	x.mu.Unlock()
	fmt.Fprintf(&b, `<div class="lkx tex2jax_ignore lkx-res"%s data-lkx-sel="%s" data-lkx-k="%d" data-lkx-rows="%d" data-lkx-seq="%d">`, attrs, esc(sel), st.K, rows, seq)
	if err != nil {
		b.WriteString(view.ErrorHTML(err))
		b.WriteString(`</div>`)
		return b.String()
	}
	switch r := r.(type) {
	case *PairResult:
		b.WriteString(`<div style="display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start"><div>`)
		b.WriteString(r.Table(view.WithMaxHeight(420)).HTML())
		b.WriteString(`</div><div>`)
		b.WriteString(x.heatmapHTML(r, live))
		b.WriteString(`</div></div>`)
	case *NeuronResult:
		b.WriteString(r.Table(view.WithScores(), view.WithMaxHeight(420)).HTML())
	}
	b.WriteString(`</div>`)
	return b.String()
}

// heatmapHTML draws the first exploreHeatmapPairs pairs of r.
func (x *explorer) heatmapHTML(r *PairResult, live bool) string {
	if len(r.Pairs) == 0 {
		return ""
	}
	top := *r.PairTop
	if len(top.Pairs) > exploreHeatmapPairs {
		top.Pairs = top.Pairs[:exploreHeatmapPairs]
		top.K = exploreHeatmapPairs
	}
	d := (&PairResult{PairTop: &top, m: r.m}).Heatmap()
	h, ok := d.Renderable.(*view.Heatmap)
	if !ok {
		return d.HTML()
	}
	if live {
		return h.HTMLWithoutLibrary()
	}
	return h.HTML()
}

// formHTML is the label form for the selected component: its notes as they
// are in the file, the fields (filled from the note being edited), and the
// last message.
func (x *explorer) formHTML(st exploreState) string {
	c := x.component(st)
	list, listErr := x.componentNotes(st)
	x.mu.Lock()
	msg, msgErr, editing := x.msg, x.msgErr, x.editing
	x.mu.Unlock()
	if editing != nil && !sameComponentNote(*editing, c) {
		editing = nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<div class="lkx tex2jax_ignore lkx-form" data-lkx-form="%s" data-lkx-comp="%s">`, x.id, esc(c.String()))
	if msg != "" {
		cls := "lkx-ok"
		if msgErr {
			cls = "lkx-err"
		}
		fmt.Fprintf(&b, `<div class="%s" data-lkx-msg="%s">%s</div>`, cls, map[bool]string{true: "error", false: "ok"}[msgErr], esc(msg))
	}
	what := c.String()
	if c.Kind == notes.NeuronKind {
		what = c.NeuronID().String()
	}
	fmt.Fprintf(&b, `<div class="lkx-row"><b>Notes on %s</b>`, esc(what))
	if x.book != nil {
		fmt.Fprintf(&b, ` <span class="lkx-dim">in %s</span>`, esc(x.book.Path()))
	}
	b.WriteString(`</div>`)
	switch {
	case listErr != nil:
		fmt.Fprintf(&b, `<div class="lkx-err">%s</div>`, esc(listErr.Error()))
	case len(list) == 0:
		b.WriteString(`<div class="lkx-dim">no notes yet</div>`)
	}
	for _, n := range list {
		fmt.Fprintf(&b, `<div class="lkx-note" data-lkx-note="%s"><b>%s</b> <span class="lkx-dim">%s · %s · %s</span> `,
			esc(n.ID), esc(n.Label), esc(n.Component.String()), esc(n.Author), esc(n.Updated.Format("2006-01-02 15:04")))
		fmt.Fprintf(&b, `<button %s>edit</button>`, x.attr("edit", "id", n.ID))
		if n.Text != "" {
			fmt.Fprintf(&b, `<div class="lkx-dim" style="white-space:pre-wrap">%s</div>`, esc(n.Text))
		}
		b.WriteString(`</div>`)
	}
	var id, updated, label, text, tags, part string
	part = "K+V"
	if editing != nil {
		id, updated, label, text, tags = editing.ID, editing.Updated.Format(time.RFC3339), editing.Label, editing.Text, strings.Join(editing.Tags, ", ")
		part = editing.Component.Part.String()
	}
	field := func(name string) string { return fmt.Sprintf(`data-lkx="%s" data-lkx-field="%s"`, x.id, name) }
	heading := "New note on " + c.String()
	if editing != nil {
		heading = "Editing note " + editing.ID + " (saving replaces its label, text, tags and evidence)"
	}
	fmt.Fprintf(&b, `<div class="lkx-row" style="margin-top:6px"><b>%s</b></div>`, esc(heading))
	fmt.Fprintf(&b, `<input type="hidden" %s value="%s"><input type="hidden" %s value="%s">`, field("id"), esc(id), field("updated"), esc(updated))
	fmt.Fprintf(&b, `<div class="lkx-row">label <input type="text" size="48" %s value="%s" placeholder="a short name for the finding"></div>`, field("label"), esc(label))
	fmt.Fprintf(&b, `<div class="lkx-row"><textarea rows="3" cols="72" %s placeholder="what the evidence shows (Markdown)">%s</textarea></div>`, field("text"), esc(text))
	fmt.Fprintf(&b, `<div class="lkx-row">tags <input type="text" size="32" %s value="%s" placeholder="comma-separated">`, field("tags"), esc(tags))
	if c.Kind == notes.NeuronKind {
		fmt.Fprintf(&b, ` side <select %s>`, field("part"))
		for _, p := range []string{"K+V", "K", "V"} {
			sel := ""
			if p == part {
				sel = " selected"
			}
			fmt.Fprintf(&b, `<option value="%s"%s>%s</option>`, p, sel, map[string]string{"K+V": "both (K+V)", "K": "what it reads (K)", "V": "what it writes (V)"}[p])
		}
		b.WriteString(`</select>`)
	}
	b.WriteString(`</div>`)
	fmt.Fprintf(&b, `<div class="lkx-row"><button %s>Save</button> <button %s>New note</button> <span class="lkx-dim">the evidence is the table above as it is when you save (its k, order and filters)</span></div>`,
		x.attr("save"), x.attr("new"))
	b.WriteString(`</div>`)
	return b.String()
}

// sameComponentNote reports whether note n is about the selected component
// (for a neuron, any of its parts).
func sameComponentNote(n notes.Note, c notes.Component) bool {
	if c.Kind == notes.NeuronKind {
		return n.Component.Kind == notes.NeuronKind && n.Component.Layer == c.Layer && n.Component.Index == c.Index
	}
	return n.Component == c
}

// searchHTML is the search box and its hits: head views among those
// computed so far, and (once the layers are projected) every neuron.
func (x *explorer) searchHTML(st exploreState) string {
	l, lerr := x.lensFor(st.On)
	x.mu.Lock()
	q := x.query
	heads := x.headHits(st)
	nh, current := x.nhits, false
	computed := 0
	if lerr == nil {
		current = x.searched == searchKey(q, st, l)
		lk := lensKey(l)
		for key := range x.pairs {
			if key.lens == lk && key.bottom == st.Bottom {
				computed++
			}
		}
	}
	x.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, `<div class="lkx tex2jax_ignore lkx-search" data-lkx-search="%s">`, x.id)
	fmt.Fprintf(&b, `<div class="lkx-row"><b>Search</b> <input type="text" size="24" data-lkx="%s" data-lkx-field="q" value="%s" placeholder="a token or word"> <button %s>find</button> <span class="lkx-dim">heads and neurons whose %s %d contain it</span></div>`,
		x.id, esc(q), x.attr("search"), map[bool]string{true: "bottom", false: "top"}[st.Bottom], st.K)
	if strings.TrimSpace(q) == "" {
		b.WriteString(`</div>`)
		return b.String()
	}
	ids := x.searchTokens(q)
	if len(ids) == 0 {
		fmt.Fprintf(&b, `<div class="lkx-err" data-lkx-hits="0">no token of the vocabulary reads %s (search compares the trimmed, lowercased text of tokens)`, esc(quote(q)))
		if enc, err := x.m.Vocab.Encode(" " + strings.TrimSpace(q)); err == nil && len(enc) > 1 {
			parts := make([]string, len(enc))
			for i, id := range enc {
				parts[i] = view.Visible(x.m.Vocab.Text(id))
			}
			fmt.Fprintf(&b, `; it is tokenized as %s`, esc(strings.Join(parts, " + ")))
		}
		b.WriteString(`</div></div>`)
		return b.String()
	}
	var forms []string
	for _, id := range ids[:min(len(ids), 8)] {
		forms = append(forms, fmt.Sprintf("%s (#%d)", view.Visible(x.m.Vocab.Text(id)), id))
	}
	fmt.Fprintf(&b, `<div class="lkx-dim">tokens: %s</div>`, esc(strings.Join(forms, ", ")))
	v := x.m.Vocab
	fmt.Fprintf(&b, `<div class="lkx-row" data-lkx-hits="%d">heads (among the %d head views computed so far with these filters): `, len(heads), computed)
	if len(heads) == 0 {
		b.WriteString(`<span class="lkx-dim">none</span>`)
	}
	for i, h := range heads {
		if i == maxHits {
			fmt.Fprintf(&b, ` <span class="lkx-dim">… %d more</span>`, len(heads)-maxHits)
			break
		}
		arrow := "→"
		if h.View == "QK" {
			arrow = "↔"
		}
		fmt.Fprintf(&b, `<span class="lkx-hit" %s title="%s">%d.%d %s #%d %s %s %s</span>`,
			x.attr("hit", "v", h.View, "l", strconv.Itoa(h.Layer), "i", strconv.Itoa(h.Index)),
			esc(fmt.Sprintf("score %.4g", h.Score)), h.Layer, h.Index, esc(h.View), h.Rank,
			esc(view.Visible(v.Text(h.Source))), arrow, esc(view.Visible(v.Text(h.Tgt))))
	}
	b.WriteString(`</div>`)
	if !current {
		b.WriteString(`<div class="lkx-dim" data-lkx-nhits="pending">neurons: projecting every layer…</div>`)
	} else {
		fmt.Fprintf(&b, `<div class="lkx-row" data-lkx-nhits="%d">neurons (all, exactly): `, len(nh))
		if len(nh) == 0 {
			b.WriteString(`<span class="lkx-dim">none</span>`)
		}
		for i, h := range nh {
			if i == maxHits {
				fmt.Fprintf(&b, ` <span class="lkx-dim">… %d more</span>`, len(nh)-maxHits)
				break
			}
			fmt.Fprintf(&b, `<span class="lkx-hit" %s title="%s">L%d/N%d %s #%d</span>`,
				x.attr("hit", "v", viewNeuron, "l", strconv.Itoa(h.Layer), "i", strconv.Itoa(h.Index)),
				esc(fmt.Sprintf("%s, score %.4g", view.Visible(v.Text(h.Source)), h.Score)), h.Layer, h.Index, esc(h.View), h.Rank)
		}
		b.WriteString(`</div>`)
	}
	b.WriteString(`</div>`)
	return b.String()
}

// staticHTML is the explorer's last state as it stays in a saved notebook:
// the selection, the maps, the table and heatmap (self-contained), the
// notes on the component, the last search.
func (x *explorer) staticHTML() string {
	x.mu.Lock()
	st := x.st.clone()
	x.mu.Unlock()
	r, err := x.selection(st)
	hm, nm := x.maps(st, false)
	var b strings.Builder
	b.WriteString(exploreCSS)
	fmt.Fprintf(&b, `<div class="lkx tex2jax_ignore lkx-static" data-lkx-static="%s">`, esc(x.describe(st)))
	fmt.Fprintf(&b, `<div class="lkx-row"><b>lenskit explorer</b> · %s · <span class="lkx-dim">static copy of its last state; run the cell to explore</span></div>`, esc(x.m.ID()))
	fmt.Fprintf(&b, `<div class="lkx-row">selection: <b>%s</b></div>`, esc(x.describe(st)))
	b.WriteString(`<div style="display:flex;flex-wrap:wrap;gap:16px">`)
	b.WriteString(hm.HTML())
	b.WriteString(nm.HTML())
	b.WriteString(`</div>`)
	b.WriteString(x.resultBlock(st, r, err, false))
	if list, lerr := x.componentNotes(st); lerr == nil && len(list) > 0 {
		b.WriteString(`<div class="lkx-row"><b>Notes on this component</b></div>`)
		for _, n := range list {
			fmt.Fprintf(&b, `<div class="lkx-note"><b>%s</b> <span class="lkx-dim">%s · %s</span>`, esc(n.Label), esc(n.Component.String()), esc(n.Author))
			if n.Text != "" {
				fmt.Fprintf(&b, `<div class="lkx-dim" style="white-space:pre-wrap">%s</div>`, esc(n.Text))
			}
			b.WriteString(`</div>`)
		}
	}
	x.mu.Lock()
	q := x.query
	x.mu.Unlock()
	if strings.TrimSpace(q) != "" {
		s := x.searchHTML(st)
		// The static copy keeps the hits as text: no page script listens.
		s = strings.ReplaceAll(s, `data-lkx="`+x.id+`"`, "")
		b.WriteString(s)
	}
	b.WriteString(`</div>`)
	return b.String()
}

// staticText is the last state as text, for terminals.
func (x *explorer) staticText() string {
	x.mu.Lock()
	st := x.st.clone()
	x.mu.Unlock()
	r, err := x.selection(st)
	hm, _ := x.maps(st, false)
	var b strings.Builder
	fmt.Fprintf(&b, "lenskit explorer · %s\nselection: %s\n\n", x.m.ID(), x.describe(st))
	b.WriteString(hm.String())
	b.WriteByte('\n')
	switch {
	case err != nil:
		fmt.Fprintf(&b, "error: %v\n", err)
	default:
		if s, ok := r.(fmt.Stringer); ok {
			b.WriteString(s.String())
		}
	}
	if list, lerr := x.componentNotes(st); lerr == nil {
		for _, n := range list {
			fmt.Fprintf(&b, "note %s: %s\n", n.Component, n.Label)
		}
	}
	return b.String()
}
