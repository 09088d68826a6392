package view

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/go-echarts/go-echarts/v2/opts"
)

// Switchable is a heatmap that can be coloured by one of several measures
// of the same cells — the logit lens by probability, entropy, rank of the
// next token or KL to the final layer; the head overview by attention to
// the previous token, to the first token or to itself. The HTML has one
// button per measure and redraws the colours in place; cell texts
// (CellText) and hover texts stay. String prints the first measure's grid
// (and the others' when AllText is set).
type Switchable struct {
	Heatmap            // labels, title, tooltips, size; Values and Diverging are ignored
	Metrics   []Metric // at least one
	CellText  [][]string
	AllText   bool // String prints every measure, not only the first
	ActiveIdx int  // the measure shown first
}

// Metric is one colouring of a Switchable.
type Metric struct {
	Name      string
	Values    [][]float64 // [row][col]; NaN = empty cell
	Reverse   bool        // dark for small values (ranks: rank 1 is the darkest)
	Diverging bool
}

// Validate checks the shared shape and every measure's.
func (s *Switchable) Validate() error {
	if s == nil {
		return fmt.Errorf("view: nil switchable heatmap")
	}
	if s.err != nil {
		return s.err
	}
	if len(s.Metrics) == 0 {
		return fmt.Errorf("view: heatmap %q has no measures", s.Title)
	}
	if s.ActiveIdx < 0 || s.ActiveIdx >= len(s.Metrics) {
		return fmt.Errorf("view: heatmap %q: measure %d of %d", s.Title, s.ActiveIdx, len(s.Metrics))
	}
	for _, m := range s.Metrics {
		h := s.metric(m)
		if err := h.Validate(); err != nil {
			return fmt.Errorf("%w (measure %q)", err, m.Name)
		}
	}
	if s.CellText != nil {
		if len(s.CellText) != len(s.YLabels) {
			return fmt.Errorf("view: heatmap %q has %d rows of cell texts for %d rows", s.Title, len(s.CellText), len(s.YLabels))
		}
		for i, r := range s.CellText {
			if r != nil && len(r) != len(s.XLabels) {
				return fmt.Errorf("view: heatmap %q cell-text row %d has %d entries for %d columns", s.Title, i, len(r), len(s.XLabels))
			}
		}
	}
	return nil
}

// metric returns the plain heatmap of one measure.
func (s *Switchable) metric(m Metric) *Heatmap {
	h := s.Heatmap
	h.Values, h.Diverging = m.Values, m.Diverging
	if s.Title != "" {
		h.Title = s.Title + " — " + m.Name
	} else {
		h.Title = m.Name
	}
	return &h
}

// Active returns the heatmap of the measure shown first.
func (s *Switchable) Active() *Heatmap { return s.metric(s.Metrics[s.ActiveIdx]) }

// String prints the first measure's grid (every measure's with AllText).
func (s *Switchable) String() string {
	if err := s.Validate(); err != nil {
		return "error: " + err.Error() + "\n"
	}
	if !s.AllText {
		return s.Active().String()
	}
	var b strings.Builder
	for i, m := range s.Metrics {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(s.metric(m).String())
	}
	return b.String()
}

// switchJS draws a Switchable: like chartJS, plus cell labels and one
// button per measure that swaps the series data and the colour scale.
const switchJS = `(function(){var id=%s,opt=%s,tips=%s,labels=%s,metrics=%s,active=%d;
function esc(s){return String(s).replace(/[&<>"']/g,function(c){return {"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;","'":"&#39;"}[c];});}
function fail(e){var el=document.getElementById(id);if(el){var d=document.createElement("div");d.className="lk-chart-error";d.style.color="#c62828";d.textContent="lenskit: the chart could not be drawn: "+e;el.insertBefore(d,el.firstChild);}}
function draw(echarts,tries){var el=document.getElementById(id);
if(!el){if(tries<100){setTimeout(function(){draw(echarts,tries+1);},50);}return;}
el.innerHTML="";
opt.tooltip.formatter=function(p){var v=p.value||p.data&&p.data.value;if(!v)return "";var r=tips[v[1]];return esc(r&&r[v[0]]||"").replace(/\n/g,"<br>");};
if(labels){opt.series[0].label={show:true,fontSize:9,color:"#111",overflow:"truncate",formatter:function(p){var v=p.value||p.data&&p.data.value;if(!v)return "";var r=labels[v[1]];return r&&r[v[0]]||"";}};}
var c=echarts.init(el,null,{renderer:"canvas"});
function use(i){var m=metrics[i];c.setOption({title:{text:m.title},series:[{data:m.data}],visualMap:{min:m.min,max:m.max,precision:m.precision,inRange:{color:m.colors}}});
el.setAttribute("data-lenskit-metric",m.name);var bs=document.querySelectorAll("[data-lk-for='"+id+"']");
for(var j=0;j<bs.length;j++){bs[j].style.fontWeight=(+bs[j].getAttribute("data-lk-i")===i)?"700":"400";}}
c.setOption(opt);use(active);
var bs=document.querySelectorAll("[data-lk-for='"+id+"']");
for(var j=0;j<bs.length;j++){(function(b){b.disabled=false;b.onclick=function(){use(+b.getAttribute("data-lk-i"));};})(bs[j]);}
el.setAttribute("data-lenskit-drawn","1");}
try{window[%s].then(function(e){draw(e,0);},fail);}catch(e){fail(e);}})();`

// metricJSON is one measure as the script reads it.
type metricJSON struct {
	Name      string             `json:"name"`
	Title     string             `json:"title"`
	Data      []opts.HeatMapData `json:"data"`
	Min       float64            `json:"min"`
	Max       float64            `json:"max"`
	Precision int                `json:"precision"`
	Colors    []string           `json:"colors"`
}

// HTML returns the chart with its measure buttons; until the script runs
// (or where a viewer strips scripts) the element shows String's grid.
func (s *Switchable) HTML() string {
	if err := s.Validate(); err != nil {
		return ErrorHTML(err)
	}
	base := s.Active()
	l := base.layout()
	o := base.option()
	var ms []metricJSON
	for _, m := range s.Metrics {
		h := s.metric(m)
		lo, hi := h.scale()
		mj := metricJSON{Name: m.Name, Title: h.Title, Min: lo, Max: hi, Precision: h.precision(), Colors: sequentialColors}
		if m.Diverging {
			mj.Colors = divergingColors
		} else if m.Reverse {
			mj.Colors = reversed(sequentialColors)
		}
		mj.Data = []opts.HeatMapData{}
		for y, r := range m.Values {
			for x, v := range r {
				if finite(v) {
					mj.Data = append(mj.Data, opts.HeatMapData{Value: [3]any{x, y, v}})
				}
			}
		}
		ms = append(ms, mj)
	}
	optJSON, err := json.Marshal(o)
	if err != nil {
		return ErrorHTML(fmt.Errorf("view: heatmap %q: %w", s.Title, err))
	}
	tipJSON, err := json.Marshal(base.tooltips())
	if err != nil {
		return ErrorHTML(fmt.Errorf("view: heatmap %q tooltips: %w", s.Title, err))
	}
	var labels any
	if s.CellText != nil {
		lb := make([][]string, len(s.CellText))
		for i, r := range s.CellText {
			lb[i] = make([]string, len(r))
			for j, c := range r {
				lb[i][j] = truncate(terminalSafe(c), 8)
			}
		}
		labels = lb
	}
	labelJSON, _ := json.Marshal(labels)
	metricsJSON, err := json.Marshal(ms)
	if err != nil {
		return ErrorHTML(fmt.Errorf("view: heatmap %q measures: %w", s.Title, err))
	}
	id := uniqueID("lk-chart")
	idJSON, _ := json.Marshal(id)
	globJSON, _ := json.Marshal(echartsGlobal())
	var b strings.Builder
	b.WriteString(`<div class="lk-heatmap lk-switchable" style="margin:4px 0">`)
	b.WriteString(`<div style="font:12px sans-serif;margin:2px 0 4px">colour by: `)
	for i, m := range s.Metrics {
		w := "400"
		if i == s.ActiveIdx {
			w = "700"
		}
		fmt.Fprintf(&b, `<button type="button" disabled data-lk-for="%s" data-lk-i="%d" style="margin-right:4px;font-weight:%s">%s</button>`, id, i, w, esc(m.Name))
	}
	b.WriteString(`</div>`)
	fmt.Fprintf(&b, `<div id="%s" style="width:%dpx;height:%dpx;overflow:auto">`, id, l.w, l.h)
	if len(s.XLabels)*len(s.YLabels) <= 10_000 {
		fmt.Fprintf(&b, `<pre style="font-size:11px;line-height:1.15;color:#333;margin:0">%s</pre>`, esc(s.String()))
	}
	b.WriteString(`</div><script>`)
	b.WriteString(loaderJS())
	b.WriteString("\n")
	fmt.Fprintf(&b, switchJS, idJSON, optJSON, tipJSON, labelJSON, metricsJSON, s.ActiveIdx, globJSON)
	b.WriteString(`</script></div>`)
	return b.String()
}

func reversed(s []string) []string {
	out := make([]string, len(s))
	for i, c := range s {
		out[len(s)-1-i] = c
	}
	return out
}

// nanGrid returns rows × cols NaNs.
func nanGrid(rows, cols int) [][]float64 {
	g := make([][]float64, rows)
	for i := range g {
		g[i] = make([]float64, cols)
		for j := range g[i] {
			g[i][j] = math.NaN()
		}
	}
	return g
}
