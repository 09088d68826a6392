package view

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// Heatmap is a matrix of numbers with labelled rows and columns: a head's
// top pairs (source × target tokens), a layer × head map of any per-head
// number, the notes map of a model. HTML draws it with ECharts (offline,
// see the package documentation); String draws a shaded character grid.
//
// Row 0 (YLabels[0]) is the top row, as in a table.
type Heatmap struct {
	Title         string
	XName, YName  string      // axis names, e.g. "head", "layer"
	XLabels       []string    // columns
	YLabels       []string    // rows
	Values        [][]float64 // [row][col]; math.NaN() = empty cell
	Tooltips      [][]string  // optional, same shape as Values; shown on hover
	Diverging     bool        // symmetric colour scale around 0
	Width, Height int         // pixels; 0 = automatic from the label counts

	// Marked, optional and shaped like Values, outlines cells in the chart
	// (PairHeatmap marks the top pairs among the full scores).
	Marked [][]bool

	// Categories, when set, makes the map categorical: every value is one
	// of the categories' Values, drawn in that category's colour with a
	// legend of labels — the notes map's "OV labelled", "QK labelled", … —
	// instead of on a continuous scale, where the smallest category present
	// would come out white.
	Categories []Category

	err error // set by a constructor that refused its input
}

// MaxHeatmapCells bounds the cells a Heatmap renders: beyond it the HTML
// would run to tens of megabytes and the browser would stall, so Validate
// reports it instead.
const MaxHeatmapCells = 250_000

// Validate reports a heatmap whose shape is inconsistent: Values must have
// one row per YLabel and one column per XLabel, and Tooltips, when given,
// the same shape. HTML and String show the error instead of a chart.
func (h *Heatmap) Validate() error {
	if h == nil {
		return errors.New("view: nil heatmap")
	}
	if h.err != nil {
		return h.err
	}
	rows, cols := len(h.YLabels), len(h.XLabels)
	if rows*cols > MaxHeatmapCells || (cols > 0 && rows > MaxHeatmapCells/cols) {
		return fmt.Errorf("view: heatmap %q has %d × %d cells, more than the %d it can draw", h.Title, rows, cols, MaxHeatmapCells)
	}
	if len(h.Values) != rows {
		return fmt.Errorf("view: heatmap %q has %d rows of values for %d row labels", h.Title, len(h.Values), rows)
	}
	for i, r := range h.Values {
		if len(r) != cols {
			return fmt.Errorf("view: heatmap %q row %d has %d values for %d column labels", h.Title, i, len(r), cols)
		}
	}
	if h.Tooltips != nil {
		if len(h.Tooltips) != rows {
			return fmt.Errorf("view: heatmap %q has %d rows of tooltips for %d rows", h.Title, len(h.Tooltips), rows)
		}
		for i, r := range h.Tooltips {
			if r != nil && len(r) != cols {
				return fmt.Errorf("view: heatmap %q tooltip row %d has %d entries for %d columns", h.Title, i, len(r), cols)
			}
		}
	}
	if h.Marked != nil {
		if len(h.Marked) != rows {
			return fmt.Errorf("view: heatmap %q has %d rows of marks for %d rows", h.Title, len(h.Marked), rows)
		}
		for i, r := range h.Marked {
			if r != nil && len(r) != cols {
				return fmt.Errorf("view: heatmap %q mark row %d has %d entries for %d columns", h.Title, i, len(r), cols)
			}
		}
	}
	if h.Width < 0 || h.Height < 0 || h.Width > 20000 || h.Height > 20000 {
		return fmt.Errorf("view: heatmap %q has size %d × %d px (want 0 for automatic, or up to 20000)", h.Title, h.Width, h.Height)
	}
	return nil
}

// Category is one class of a categorical Heatmap.
type Category struct {
	Value float64
	Label string
	Color string // CSS colour, e.g. "#6baed6"
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// scale is the colour scale's [lo, hi]: the finite values' range, or
// symmetric around zero when Diverging. A flat or empty map gets a unit
// range so it still draws.
func (h *Heatmap) scale() (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, r := range h.Values {
		for _, v := range r {
			if finite(v) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	if lo > hi {
		lo, hi = 0, 0
	}
	if h.Diverging {
		m := max(math.Abs(lo), math.Abs(hi))
		if m == 0 {
			m = 1
		}
		return -m, m
	}
	if lo == hi {
		return lo - 0.5, hi + 0.5
	}
	return lo, hi
}

// axisLabel shortens a label for an axis (the full label stays in the
// tooltip).
func axisLabel(s string) string { return truncate(terminalSafe(s), 24) }

func maxLabelWidth(labels []string) int {
	w := 0
	for _, l := range labels {
		w = max(w, Width(axisLabel(l)))
	}
	return w
}

// chartLayout is the geometry of a chart in pixels.
type chartLayout struct {
	w, h                     int // whole chart
	left, right, top, bottom int // grid margins
	xLabelPx, yLabelPx       int // room the axis labels take
	rotate                   bool
}

// labelPx estimates the pixels an 11 px axis label of w columns takes.
func labelPx(w int) int { return w*7 + 4 }

// layout picks the chart size from the label counts and lengths: cells of
// 24 px for small maps (down to 10 px for large ones), margins that fit the
// axis labels (rotated 45° when column labels are wider than a cell), the
// axis names and the colour scale. Width and Height, when set, win.
func (h *Heatmap) layout() chartLayout {
	rows, cols := len(h.YLabels), len(h.XLabels)
	n := max(rows, cols, 1)
	cell := 24
	if n > 25 {
		cell = max(10, 640/n)
	}
	var l chartLayout
	xw := labelPx(maxLabelWidth(h.XLabels))
	l.yLabelPx = labelPx(maxLabelWidth(h.YLabels))
	l.rotate = xw > cell
	l.xLabelPx = 16
	if l.rotate {
		l.xLabelPx = int(float64(xw)*0.72) + 12
	}
	l.left = l.yLabelPx + 34   // labels, then the rotated y axis name
	l.bottom = l.xLabelPx + 30 // labels, then the x axis name
	l.top = 44                 // title
	lo, hi := h.scale()
	prec := h.precision()
	sw := max(len(strconv.FormatFloat(lo, 'f', prec, 64)), len(strconv.FormatFloat(hi, 'f', prec, 64)))
	l.right = labelPx(sw) + 56 // colour scale: its handle labels, bar and handles
	for _, c := range h.Categories {
		l.right = max(l.right, labelPx(Width(c.Label))+50) // legend: swatch and label
	}
	l.w = min(max(l.left+cols*cell+l.right, 360), 1600)
	l.h = min(max(l.top+rows*cell+l.bottom, 220), 2400)
	if h.Width > 0 {
		l.w = h.Width
	}
	if h.Height > 0 {
		l.h = h.Height
	}
	return l
}

// precision is the number of decimals of the colour scale's labels: none
// when every value is a whole number (counts, labels), one for large
// magnitudes, three otherwise.
func (h *Heatmap) precision() int {
	whole, big := true, false
	for _, r := range h.Values {
		for _, v := range r {
			if finite(v) {
				whole = whole && v == math.Trunc(v)
				big = big || math.Abs(v) >= 100
			}
		}
	}
	switch {
	case whole:
		return 0
	case big:
		return 1
	}
	return 3
}

// sequential and diverging are the colour ramps of the chart: white to red
// for magnitudes, blue–white–red ("coolwarm") around zero; the same hues as
// the shaded tables. Empty (NaN) cells are not drawn and stay white.
var (
	sequentialColors = []string{"#fff5f0", "#fcbba1", "#fb6a4a", "#cb181d", "#67000d"}
	divergingColors  = []string{"#3b4cc0", "#8db0fe", "#f2f2f2", "#f49a7b", "#b40426"}
)

// option builds the ECharts option object with go-echarts. Two parts are
// written by hand: the visualMap, because go-echarts' VisualMap drops a min
// or max of exactly 0 (omitempty) which ECharts then reads as its default
// 0..200; and the x axis data, which go-echarts' HeatMap.Validate (unlike
// other rectangular charts) never copies from SetXAxis.
func (h *Heatmap) option() map[string]any {
	l := h.layout()
	lo, hi := h.scale()
	xl := make([]string, len(h.XLabels))
	for i, s := range h.XLabels {
		xl[i] = axisLabel(s)
	}
	yl := make([]string, len(h.YLabels))
	for i, s := range h.YLabels {
		yl[i] = axisLabel(s)
	}
	var data []opts.HeatMapData
	for y, r := range h.Values {
		for x, v := range r {
			if finite(v) {
				data = append(data, opts.HeatMapData{Value: [3]any{x, y, v}})
			}
		}
	}
	marked := h.Marked != nil
	rot := 0.0
	if l.rotate {
		rot = 45
	}
	px := func(n int) string { return fmt.Sprint(n) }
	c := charts.NewHeatMap()
	c.SetGlobalOptions(
		charts.WithTitleOpts(opts.Title{Title: h.Title, Left: "center", Top: "6",
			TitleStyle: &opts.TextStyle{FontSize: 14, Width: l.w - 20, Overflow: "truncate"}}),
		charts.WithAnimation(false),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "item"}),
		charts.WithGridOpts(opts.Grid{Top: px(l.top), Left: px(l.left), Right: px(l.right), Bottom: px(l.bottom)}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", Name: h.XName, Data: xl,
			NameLocation: "middle", NameGap: l.xLabelPx + 8,
			AxisLabel: &opts.AxisLabel{Interval: "0", Rotate: rot, FontSize: 11}}),
		charts.WithYAxisOpts(opts.YAxis{Type: "category", Name: h.YName, Data: yl,
			NameLocation: "middle", NameGap: l.yLabelPx + 10,
			Inverse:   opts.Bool(true),
			AxisLabel: &opts.AxisLabel{Interval: "0", FontSize: 11}}),
	)
	c.AddSeries(h.Title, data,
		charts.WithItemStyleOpts(opts.ItemStyle{BorderColor: "#ffffff", BorderWidth: 1}),
		charts.WithEmphasisOpts(opts.Emphasis{ItemStyle: &opts.ItemStyle{BorderColor: "#333", BorderWidth: 1}}))
	c.Validate()
	o := c.JSON()
	if xs, ok := o["xAxis"].([]opts.XAxis); ok && len(xs) > 0 {
		xs[0].Data = xl
	}
	if ms, ok := o["series"].(charts.MultiSeries); ok && marked && len(ms) == 1 {
		// go-echarts' HeatMapData has no per-item style: marked cells
		// get an outline through a data item written here.
		items := make([]any, len(data))
		for i, d := range data {
			v := d.Value.([3]any)
			items[i] = d
			if row := h.Marked[v[1].(int)]; row != nil && row[v[0].(int)] {
				items[i] = map[string]any{"value": v, "itemStyle": map[string]any{"borderColor": "#111", "borderWidth": 2}}
			}
		}
		ms[0].Data = items
	}
	colors := sequentialColors
	if h.Diverging {
		colors = divergingColors
	}
	o["visualMap"] = map[string]any{
		"type": "continuous", "min": lo, "max": hi, "calculable": true, "precision": h.precision(),
		"orient": "vertical", "right": 10, "top": "middle", "itemHeight": min(140, max(60, l.h-l.top-l.bottom-40)),
		"inRange": map[string]any{"color": colors},
	}
	if len(h.Categories) > 0 {
		pieces := make([]map[string]any, len(h.Categories))
		for i, c := range h.Categories {
			pieces[i] = map[string]any{"value": c.Value, "label": c.Label, "color": c.Color}
		}
		o["visualMap"] = map[string]any{
			"type": "piecewise", "pieces": pieces, "orient": "vertical", "right": 10, "top": "middle",
		}
	}
	delete(o, "legend")  // one series: a legend would only repeat the title
	delete(o, "toolbox") // empty
	delete(o, "color")   // the series palette; colours come from visualMap
	return o
}

// tooltips returns the hover text of every cell: the caller's Tooltips
// where given, else "row · column" and the value.
func (h *Heatmap) tooltips() [][]string {
	t := make([][]string, len(h.Values))
	for y, r := range h.Values {
		t[y] = make([]string, len(r))
		for x, v := range r {
			if h.Tooltips != nil && h.Tooltips[y] != nil && h.Tooltips[y][x] != "" {
				t[y][x] = h.Tooltips[y][x]
				continue
			}
			t[y][x] = fmt.Sprintf("%s · %s\n%s", h.YLabels[y], h.XLabels[x], formatScore(v))
		}
	}
	return t
}

// chartJS draws the chart into the element with id el once the library is
// loaded. The tooltip formatter escapes the (untrusted) tooltip text,
// because ECharts inserts formatter output as HTML.
const chartJS = `(function(){var id=%s,opt=%s,tips=%s;
function esc(s){return String(s).replace(/[&<>"']/g,function(c){return {"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;","'":"&#39;"}[c];});}
function fail(e){var el=document.getElementById(id);if(el){var d=document.createElement("div");d.className="lk-chart-error";d.style.color="#c62828";d.textContent="lenskit: the chart could not be drawn: "+e;el.insertBefore(d,el.firstChild);}}
function draw(echarts,tries){var el=document.getElementById(id);
if(!el){if(tries<100){setTimeout(function(){draw(echarts,tries+1);},50);}return;}
el.innerHTML="";
opt.tooltip.formatter=function(p){var v=p.value||p.data&&p.data.value;if(!v)return "";var r=tips[v[1]];return esc(r&&r[v[0]]||"").replace(/\n/g,"<br>");};
var c=echarts.init(el,null,{renderer:"canvas"});c.setOption(opt);el.setAttribute("data-lenskit-drawn","1");}
try{window[%s].then(function(e){draw(e,0);},fail);}catch(e){fail(e);}})();`

// HTML returns a self-contained chart: the ECharts library inlined (loaded
// once per page), the chart's options as JSON, and a script that draws into
// an element with a unique id. Until the script runs — or when a notebook
// viewer strips scripts — the element shows String's grid instead.
func (h *Heatmap) HTML() string { return h.html(true) }

// html renders the chart, with the ECharts library inlined when library is
// set (see HTMLWithoutLibrary for outputs that leave it out).
func (h *Heatmap) html(library bool) string {
	if err := h.Validate(); err != nil {
		return ErrorHTML(err)
	}
	l := h.layout()
	optJSON, err := json.Marshal(h.option()) // escapes <, >, & and U+2028/9: safe inside <script>
	if err != nil {
		return ErrorHTML(fmt.Errorf("view: heatmap %q: %w", h.Title, err))
	}
	tipJSON, err := json.Marshal(h.tooltips())
	if err != nil {
		return ErrorHTML(fmt.Errorf("view: heatmap %q tooltips: %w", h.Title, err))
	}
	id := uniqueID("lk-chart")
	idJSON, _ := json.Marshal(id)
	globJSON, _ := json.Marshal(echartsGlobal())
	var b strings.Builder
	fmt.Fprintf(&b, `<div class="lk-heatmap" style="margin:4px 0"><div id="%s" style="width:%dpx;height:%dpx;overflow:auto">`, id, l.w, l.h)
	if len(h.XLabels)*len(h.YLabels) <= 10_000 {
		fmt.Fprintf(&b, `<pre style="font-size:11px;line-height:1.15;color:#333;margin:0">%s</pre>`, esc(h.String()))
	}
	b.WriteString(`</div><script>`)
	if library {
		b.WriteString(loaderJS())
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, chartJS, idJSON, optJSON, tipJSON, globJSON)
	b.WriteString(`</script></div>`)
	return b.String()
}
