package lenskit

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"lenskit.dev/lenskit/catalogue"
	"lenskit.dev/lenskit/notes"
	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/view"
)

// Catalogue is a catalogue of a whole model (see package catalogue): every
// head view's top and bottom pairs and statistics, every neuron's top
// tokens and statistics, as Parquet tables in a directory. It renders the
// views a notebook needs: a layer × head map of any head statistic, a
// sortable table of neurons by any statistic, and the notes joined in.
type Catalogue struct {
	*catalogue.Catalogue
	Report *catalogue.Report // what the scan did (nil for OpenCatalogue)
	err    error
}

// CatalogueOption configures Lens.Catalogue.
type CatalogueOption func(*catalogue.Options)

// CatalogueK sets the pairs per head view and side and the tokens per
// neuron column (default 50).
func CatalogueK(k int) CatalogueOption { return func(o *catalogue.Options) { o.K = k } }

// CatalogueShard computes only shard i of n (0-based) of the layers and
// does not merge; see catalogue.Shard.
func CatalogueShard(i, n int) CatalogueOption {
	return func(o *catalogue.Options) { o.Shard = catalogue.Shard{Index: i, Count: n} }
}

// CatalogueHeadsOnly leaves the neurons out: a catalogue of the heads alone.
func CatalogueHeadsOnly() CatalogueOption { return func(o *catalogue.Options) { o.HeadsOnly = true } }

// CatalogueLog writes a line per part kept, recomputed or written.
func CatalogueLog(w io.Writer) CatalogueOption { return func(o *catalogue.Options) { o.Log = w } }

// Catalogue scans the lens's catalogue into dir — resuming a scan that was
// stopped, skipping the layers already there — merges it, and opens it. A
// progress bar with an ETA shows in the notebook or terminal. With
// CatalogueShard only that share of layers is computed, and the result
// carries the Report but no tables until MergeCatalogue.
func (l *Lens) Catalogue(dir string, opts ...CatalogueOption) *Catalogue {
	if l.err != nil {
		return &Catalogue{err: l.err}
	}
	o := catalogue.Options{K: catalogue.DefaultK, Lenskit: notes.Version()}
	for _, f := range opts {
		f(&o)
	}
	p := view.NewProgress("cataloguing "+l.m.Weights.Name(), 0)
	o.Progress = p.Func()
	rep, err := catalogue.Scan(dir, l.source(), o)
	p.Done()
	if err != nil {
		return &Catalogue{err: err}
	}
	if !rep.Merged {
		return &Catalogue{Report: rep, Catalogue: &catalogue.Catalogue{Dir: dir, Manifest: rep.Manifest}}
	}
	c := OpenCatalogue(dir)
	c.Report = rep
	return c
}

// source is the lens as a catalogue source.
func (l *Lens) source() catalogue.Source {
	return catalogue.Source{Space: l.sp, Vocab: l.m.Vocab, Tokens: l.f.ids, Exclude: l.f.exclude, Filter: l.f.desc}
}

// OpenCatalogue opens a merged catalogue; no model is needed. Errors are
// carried (see Err) and shown in place of every view.
func OpenCatalogue(dir string) *Catalogue {
	c, err := catalogue.Open(dir)
	if err != nil {
		return &Catalogue{err: err}
	}
	return &Catalogue{Catalogue: c}
}

// MergeCatalogue joins the parts of a sharded scan and opens the result.
func MergeCatalogue(dir string) *Catalogue {
	if _, err := catalogue.Merge(dir); err != nil {
		return &Catalogue{err: err}
	}
	return OpenCatalogue(dir)
}

// Err reports why the catalogue could not be made or opened.
func (c *Catalogue) Err() error { return c.err }

// HeadStats lists the statistics a head map can show.
var HeadStats = []string{"copying_score", "copy_fraction", "sigma1", "effective_rank", "prev_token_margin", "prev_token_fraction", "top_score", "bottom_score"}

// NeuronStats lists the statistics neurons can be sorted by.
var NeuronStats = []string{"value_kurtosis", "value_skew", "value_std", "value_mean", "key_norm", "value_norm", "cos_key_value", "up_norm", "cos_up_value"}

// HeadStat returns a statistic of a head row (NaN when it does not apply).
func HeadStat(h catalogue.HeadRow, stat string) (float64, error) {
	opt := func(p *float64) float64 {
		if p == nil {
			return math.NaN()
		}
		return *p
	}
	switch stat {
	case "copying_score":
		return opt(h.CopyingScore), nil
	case "copy_fraction":
		return opt(h.CopyFraction), nil
	case "sigma1":
		return h.Sigma1, nil
	case "effective_rank":
		return h.EffectiveRank, nil
	case "prev_token_margin":
		return opt(h.PrevTokenMargin), nil
	case "prev_token_fraction":
		return opt(h.PrevTokenFraction), nil
	case "top_score":
		return float64(h.TopScore), nil
	case "bottom_score":
		return float64(h.BottomScore), nil
	}
	return 0, fmt.Errorf("lenskit: unknown head statistic %q (have %s)", stat, strings.Join(HeadStats, ", "))
}

// NeuronStat returns a statistic of a neuron row (NaN when it does not
// apply).
func NeuronStat(n catalogue.NeuronRow, stat string) (float64, error) {
	opt := func(p *float64) float64 {
		if p == nil {
			return math.NaN()
		}
		return *p
	}
	switch stat {
	case "value_kurtosis":
		return n.ValueKurtosis, nil
	case "value_skew":
		return n.ValueSkew, nil
	case "value_std":
		return n.ValueStd, nil
	case "value_mean":
		return n.ValueMean, nil
	case "key_norm":
		return n.KeyNorm, nil
	case "value_norm":
		return n.ValueNorm, nil
	case "cos_key_value":
		return n.CosKeyValue, nil
	case "up_norm":
		return opt(n.UpNorm), nil
	case "cos_up_value":
		return opt(n.CosUpValue), nil
	}
	return 0, fmt.Errorf("lenskit: unknown neuron statistic %q (have %s)", stat, strings.Join(NeuronStats, ", "))
}

// head returns the row of one head view.
func (c *Catalogue) head(layer, head int, viewName string, offset int) (catalogue.HeadRow, bool) {
	for _, h := range c.Heads {
		if int(h.Layer) == layer && int(h.Head) == head && h.View == viewName && int(h.Offset) == offset {
			return h, true
		}
	}
	return catalogue.HeadRow{}, false
}

// HeadMap draws a head statistic of one view ("OV", "QK"; "QK δ=1" for a
// rotary model's offset 1) as a layer × head map, each cell's tooltip
// holding the view's top pairs.
func (c *Catalogue) HeadMap(viewName, stat string) Display {
	if c.err != nil {
		return Display{errorView{c.err}}
	}
	v, off, err := parseViewName(viewName)
	if err != nil {
		return Display{errorView{err}}
	}
	if _, err := HeadStat(catalogue.HeadRow{}, stat); err != nil {
		return Display{errorView{err}}
	}
	m := c.Manifest
	pairs, err := c.Pairs(func(p *catalogue.PairRow) bool {
		return p.View == v && int(p.Offset) == off && p.Side == "top" && p.Rank <= 5
	})
	if err != nil {
		return Display{errorView{err}}
	}
	tips := map[[2]int32][]string{}
	for _, p := range pairs {
		key := [2]int32{p.Layer, p.Head}
		tips[key] = append(tips[key], fmt.Sprintf("%s → %s  %s", view.Visible(p.SourceText), view.Visible(p.TargetText), strconv.FormatFloat(float64(p.Score), 'g', 3, 32)))
	}
	title := fmt.Sprintf("%s of every head's W_%s (%s, filter %s, k %d)", stat, viewName, m.Model, m.Filter, m.K)
	return Display{view.LayerHeadMap(title, m.Layers, m.Heads, func(l, h int) (float64, string) {
		row, ok := c.head(l, h, v, off)
		if !ok {
			return math.NaN(), ""
		}
		x, _ := HeadStat(row, stat)
		return x, "top pairs:\n" + strings.Join(tips[[2]int32{int32(l), int32(h)}], "\n")
	})}
}

func parseViewName(s string) (string, int, error) {
	name, rest, _ := strings.Cut(strings.TrimSpace(s), " ")
	k, err := project.ParseKind(name)
	if err != nil {
		return "", 0, err
	}
	off := 0
	if rest != "" {
		d, ok := strings.CutPrefix(strings.TrimSpace(rest), "δ=")
		if n, err := strconv.Atoi(d); ok && err == nil {
			off = n
		} else {
			return "", 0, fmt.Errorf("lenskit: bad view %q (want OV, QK or \"QK δ=1\")", s)
		}
	}
	return k.String(), off, nil
}

// TopNeurons returns the n neurons with the largest statistic (smallest
// with a leading "-", e.g. "-value_skew"), NaN values last, ties by layer
// and index, among those every where accepts: the prediction neurons are
// TopNeurons("value_kurtosis", 10, lenskit.PositiveSkew).
func (c *Catalogue) TopNeurons(stat string, n int, where ...func(catalogue.NeuronRow) bool) ([]catalogue.NeuronRow, error) {
	if c.err != nil {
		return nil, c.err
	}
	name, asc := strings.CutPrefix(stat, "-")
	if _, err := NeuronStat(catalogue.NeuronRow{}, name); err != nil {
		return nil, err
	}
	var rows []catalogue.NeuronRow
next:
	for _, r := range c.Neurons {
		for _, w := range where {
			if !w(r) {
				continue next
			}
		}
		rows = append(rows, r)
	}
	key := func(r catalogue.NeuronRow) float64 {
		x, _ := NeuronStat(r, name)
		if asc {
			x = -x
		}
		return x
	}
	slices.SortStableFunc(rows, func(a, b catalogue.NeuronRow) int {
		x, y := key(a), key(b)
		switch {
		case math.IsNaN(x) && !math.IsNaN(y):
			return 1
		case math.IsNaN(y) && !math.IsNaN(x):
			return -1
		case x != y:
			return cmp.Compare(y, x)
		}
		return 0
	})
	return rows[:min(max(n, 0), len(rows))], nil
}

// PositiveSkew and NegativeSkew select prediction-like and
// suppression-like neurons: the value's vocabulary projection has a long
// positive (negative) tail.
func PositiveSkew(r catalogue.NeuronRow) bool { return r.ValueSkew > 0 }
func NegativeSkew(r catalogue.NeuronRow) bool { return r.ValueSkew < 0 }

// NeuronTable shows the n neurons with the largest statistic (see
// TopNeurons) with their statistics and the top tokens their value
// writes (V) and writes against (−V); the HTML table sorts by any column.
func (c *Catalogue) NeuronTable(stat string, n int, where ...func(catalogue.NeuronRow) bool) Display {
	rows, err := c.TopNeurons(stat, n, where...)
	if err != nil {
		return Display{errorView{err}}
	}
	want := map[[2]int32]bool{}
	for _, r := range rows {
		want[[2]int32{r.Layer, r.Neuron}] = true
	}
	toks, err := c.Tokens(func(t *catalogue.TokenRow) bool {
		return t.Rank <= 6 && (t.Column == "V" || t.Column == "-V") && want[[2]int32{t.Layer, t.Neuron}]
	})
	if err != nil {
		return Display{errorView{err}}
	}
	words := map[[2]int32]map[string][]string{}
	for _, t := range toks {
		key := [2]int32{t.Layer, t.Neuron}
		if words[key] == nil {
			words[key] = map[string][]string{}
		}
		words[key][t.Column] = append(words[key][t.Column], view.Visible(t.Text))
	}
	tb := &table{
		title:  fmt.Sprintf("neurons by %s (%s, filter %s)", stat, c.Manifest.Model, c.Manifest.Filter),
		header: []string{"neuron", "kurtosis", "skew", "|k|", "|v|", "cos(k,v)", "V writes", "−V writes against"},
		right:  []bool{false, true, true, true, true, true, false, false},
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', 3, 64) }
	for _, r := range rows {
		w := words[[2]int32{r.Layer, r.Neuron}]
		tb.rows = append(tb.rows, []string{project.NeuronID{Layer: int(r.Layer), Index: int(r.Neuron)}.String(),
			f(r.ValueKurtosis), f(r.ValueSkew), f(r.KeyNorm), f(r.ValueNorm), f(r.CosKeyValue),
			strings.Join(w["V"], " "), strings.Join(w["-V"], " ")})
	}
	return Display{tb}
}

// WithNotes joins a notes file to the catalogue: every note on a head view
// with that view's statistics, and every note on a neuron with the
// neuron's — e.g. which labelled heads are copying heads.
func (c *Catalogue) WithNotes(book *Notes) Display {
	if c.err != nil {
		return Display{errorView{c.err}}
	}
	if book == nil {
		return Display{errorView{fmt.Errorf("lenskit: WithNotes needs a notes file")}}
	}
	list, err := book.List(notes.Query{})
	if err != nil {
		return Display{errorView{err}}
	}
	tb := &table{
		title:  fmt.Sprintf("notes on %s joined with its catalogue", c.Manifest.Model),
		header: []string{"component", "label", "copying", "copy frac", "σ₁", "eff. rank", "prev-token", "kurtosis", "skew"},
		right:  []bool{false, false, true, true, true, true, true, true, true},
	}
	f := func(p *float64) string {
		if p == nil || math.IsNaN(*p) {
			return ""
		}
		return strconv.FormatFloat(*p, 'f', 3, 64)
	}
	num := func(x float64) *float64 { return &x }
	for _, n := range list {
		comp := n.Component
		switch comp.Kind {
		case notes.HeadKind:
			row, ok := c.head(comp.Layer, comp.Index, comp.View.String(), 0)
			if !ok {
				continue
			}
			tb.rows = append(tb.rows, []string{fmt.Sprintf("%d.%d %s", comp.Layer, comp.Index, comp.View), n.Label,
				f(row.CopyingScore), f(row.CopyFraction), f(num(row.Sigma1)), f(num(row.EffectiveRank)), f(row.PrevTokenMargin), "", ""})
		case notes.NeuronKind:
			for _, r := range c.Neurons {
				if int(r.Layer) == comp.Layer && int(r.Neuron) == comp.Index {
					tb.rows = append(tb.rows, []string{project.NeuronID{Layer: comp.Layer, Index: comp.Index}.String(), n.Label,
						"", "", "", "", "", f(num(r.ValueKurtosis)), f(num(r.ValueSkew))})
					break
				}
			}
		}
	}
	// Heads by copying score first, then neurons by kurtosis.
	slices.SortStableFunc(tb.rows, func(a, b []string) int {
		ha, hb := a[2] != "", b[2] != ""
		switch {
		case ha != hb && ha:
			return -1
		case ha != hb:
			return 1
		case !ha:
			return 0
		}
		pa, _ := strconv.ParseFloat(a[2], 64)
		pb, _ := strconv.ParseFloat(b[2], 64)
		return cmp.Compare(pb, pa)
	})
	return Display{tb}
}

// String summarises the catalogue.
func (c *Catalogue) String() string {
	if c.err != nil {
		return "error: " + c.err.Error() + "\n"
	}
	m := c.Manifest
	s := fmt.Sprintf("catalogue of %s in %s: %d layers, %d head views, %d neurons, k %d, filter %s", m.Model, c.Dir, m.Layers, len(c.Heads), len(c.Neurons), m.K, m.Filter)
	if m.Processing != "" {
		s += ", processing " + m.Processing
	}
	if r := c.Report; r != nil {
		s += fmt.Sprintf(" (this run: %d layers computed, %d kept, %d recomputed)", len(r.Computed), len(r.Skipped), len(r.Recomputed))
	}
	return s + "\n"
}
