package view

import (
	"fmt"
	"html"
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"
)

var uidCounter atomic.Uint64

// uniqueID returns an id that no other output on the same notebook page
// has: a per-process random part (every GoNB cell runs as a new process)
// and a per-process counter.
func uniqueID(prefix string) string {
	return fmt.Sprintf("%s-%08x%x", prefix, procNonce, uidCounter.Add(1))
}

var procNonce = rand.Uint32()

// esc HTML-escapes s for element content and quoted attribute values.
func esc(s string) string { return html.EscapeString(s) }

// tableCSS is the style of lenskit tables, scoped under the output's own
// class so outputs never restyle each other.
func tableCSS(cls string, maxHeight int) string {
	r := strings.NewReplacer("$C", "."+cls, "$H", fmt.Sprint(maxHeight))
	return r.Replace(`<style>
$C{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;color:#1a1a1a;margin:4px 0}
$C .lk-title{font-weight:600;margin:2px 0 4px}
$C .lk-title .lk-dim{font-weight:400;color:#666}
$C .lk-badge{display:inline-block;padding:0 6px;margin-left:6px;border-radius:8px;background:#3b4cc0;color:#fff;font-size:11px;font-weight:600}
$C .lk-scroll{max-height:$Hpx;overflow:auto;display:inline-block;border:1px solid #ddd}
$C table{border-collapse:collapse}
$C th{position:sticky;top:0;background:#f3f3f3;text-align:left;padding:3px 10px;border-bottom:1px solid #ccc}
$C td{padding:2px 10px;white-space:pre;border-bottom:1px solid #f0f0f0}
$C td.lk-num,$C th.lk-num{text-align:right}
$C td.lk-arrow{color:#888;padding:2px 2px}
$C .lk-s{color:#999;font-size:10.5px;margin-left:6px}
$C .lk-foot{color:#777;font-size:11px;margin-top:3px}
</style>`)
}

// Shading: a cell's background is white mixed with a base colour, the
// more the larger the score's magnitude within its result. Positive scores
// use a warm red, negative ones a cool blue (the ends of the "coolwarm"
// diverging map), so a bottom-k list reads as the opposite of a top-k one.
var (
	warm = [3]float64{214, 96, 77}
	cool = [3]float64{59, 76, 192}
)

// magnitudeRange is the span of |score| over a result, for shade.
type magnitudeRange struct{ lo, hi float64 }

func newMagnitudeRange(scores []float64) magnitudeRange {
	m := magnitudeRange{lo: math.Inf(1), hi: math.Inf(-1)}
	for _, s := range scores {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			continue
		}
		a := math.Abs(s)
		m.lo = min(m.lo, a)
		m.hi = max(m.hi, a)
	}
	if m.lo > m.hi {
		m = magnitudeRange{0, 0}
	}
	return m
}

// intensity maps |s| to [0.12, 0.85]: the smallest magnitude of the result
// is faint but visible, the largest strong but still readable.
func (m magnitudeRange) intensity(s float64) float64 {
	if math.IsNaN(s) {
		return 0
	}
	a := math.Abs(s)
	t := 1.0
	if m.hi > m.lo {
		t = (a - m.lo) / (m.hi - m.lo)
	}
	t = min(max(t, 0), 1)
	return 0.12 + 0.73*t
}

// shade returns the CSS background and text colours for score s.
func (m magnitudeRange) shade(s float64) (bg, fg string) {
	if math.IsNaN(s) {
		return "#ffffff", "#999999"
	}
	base := warm
	if s < 0 {
		base = cool
	}
	a := m.intensity(s)
	var c [3]int
	for i := range c {
		c[i] = int(math.Round(255*(1-a) + base[i]*a))
	}
	bg = fmt.Sprintf("rgb(%d,%d,%d)", c[0], c[1], c[2])
	// Relative luminance decides between dark and light text.
	lum := 0.2126*float64(c[0]) + 0.7152*float64(c[1]) + 0.0722*float64(c[2])
	fg = "#111111"
	if lum < 140 {
		fg = "#ffffff"
	}
	return bg, fg
}
