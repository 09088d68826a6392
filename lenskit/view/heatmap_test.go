package view_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"os"
	"regexp"
	"strings"
	"testing"

	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/view"
)

// decodeAfter decodes the JSON value that follows marker in s.
func decodeAfter(t *testing.T, s, marker string, v any) {
	t.Helper()
	i := strings.Index(s, marker)
	if i < 0 {
		t.Fatalf("%q not found in chart HTML", marker)
	}
	if err := json.NewDecoder(strings.NewReader(s[i+len(marker):])).Decode(v); err != nil {
		t.Fatalf("decoding %s: %v", marker, err)
	}
}

type chartOption struct {
	Series []struct {
		Type string `json:"type"`
		Data []struct {
			Value [3]float64 `json:"value"`
		} `json:"data"`
	} `json:"series"`
	XAxis []struct {
		Name string   `json:"name"`
		Data []string `json:"data"`
	} `json:"xAxis"`
	YAxis []struct {
		Name    string   `json:"name"`
		Data    []string `json:"data"`
		Inverse bool     `json:"inverse"`
	} `json:"yAxis"`
	VisualMap struct {
		Min, Max float64
		InRange  struct{ Color []string } `json:"inRange"`
	} `json:"visualMap"`
}

func sample() *view.Heatmap {
	nan, inf := math.NaN(), math.Inf(1)
	return &view.Heatmap{
		Title: "sample", XName: "head", YName: "layer",
		XLabels: []string{"0", "1", "2"}, YLabels: []string{"0", "1"},
		Values:   [][]float64{{1, nan, 3}, {inf, 0, 2}},
		Tooltips: [][]string{{"a", "", "c <b>bold</b>"}, nil},
	}
}

func TestHeatmapHTMLIsOfflineAndInlinesECharts(t *testing.T) {
	h := sample().HTML()
	if regexp.MustCompile(`(?i)<script[^>]*\ssrc\s*=`).MatchString(h) {
		t.Error("chart HTML loads a script by URL")
	}
	if strings.Contains(h, "http://") || strings.Contains(h, "https://") {
		t.Error("chart HTML mentions an http(s) URL")
	}
	if strings.Count(h, "<script>") != 1 || strings.Count(h, "</script>") != 1 {
		t.Errorf("want exactly one script element, got %d/%d", strings.Count(h, "<script>"), strings.Count(h, "</script>"))
	}
	m := regexp.MustCompile(`atob\("([A-Za-z0-9+/=]+)"\)`).FindStringSubmatch(h)
	if m == nil {
		t.Fatal("no inlined library payload")
	}
	gz, err := base64.StdEncoding.DecodeString(m[1])
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	lib, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile("assets/echarts.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(lib, onDisk) {
		t.Errorf("inlined library (%d bytes) differs from assets/echarts.min.js (%d bytes)", len(lib), len(onDisk))
	}
	if !bytes.Contains(lib, []byte(`version="`+view.EChartsVersion+`"`)) {
		t.Errorf("inlined library is not echarts %s", view.EChartsVersion)
	}
	t.Logf("chart HTML: %d bytes (library %d bytes, gzip %d, base64 %d)", len(h), len(lib), len(gz), len(m[1]))
	if len(h) > 600_000 {
		t.Errorf("chart HTML is %d bytes: the library is not compressed", len(h))
	}
}

func TestHeatmapEmptyCellsAndTooltips(t *testing.T) {
	hm := sample()
	h := hm.HTML()
	var opt chartOption
	decodeAfter(t, h, ",opt=", &opt)
	if len(opt.Series) != 1 || opt.Series[0].Type != "heatmap" {
		t.Fatalf("series: %+v", opt.Series)
	}
	got := map[[2]int]float64{}
	for _, d := range opt.Series[0].Data {
		got[[2]int{int(d.Value[0]), int(d.Value[1])}] = d.Value[2]
	}
	want := map[[2]int]float64{{0, 0}: 1, {2, 0}: 3, {1, 1}: 0, {2, 1}: 2} // NaN and +Inf cells left out
	if len(got) != len(want) {
		t.Errorf("cells %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("cell %v = %v, want %v", k, got[k], v)
		}
	}
	if opt.VisualMap.Min != 0 || opt.VisualMap.Max != 3 {
		t.Errorf("scale %v..%v, want 0..3 (a zero bound must survive)", opt.VisualMap.Min, opt.VisualMap.Max)
	}
	if x := opt.XAxis[0]; x.Name != "head" || strings.Join(x.Data, ",") != "0,1,2" {
		t.Errorf("x axis %+v", x)
	}
	if y := opt.YAxis[0]; y.Name != "layer" || !y.Inverse || strings.Join(y.Data, ",") != "0,1" {
		t.Errorf("y axis %+v", y)
	}
	var tips [][]string
	decodeAfter(t, h, ",tips=", &tips)
	if tips[0][0] != "a" || tips[0][2] != "c <b>bold</b>" || tips[0][1] != "0 · 1\nNaN" || tips[1][1] != "1 · 1\n0.000" {
		t.Errorf("tooltips %q", tips)
	}
	if strings.Contains(h, "<b>bold") {
		t.Error("tooltip markup reached the HTML unescaped")
	}

	// The terminal grid: NaN and Inf cells blank, the legend present.
	s := hm.String()
	lines := strings.Split(s, "\n")
	if lines[0] != "sample" || !strings.HasPrefix(lines[3], "0     │▒▒    ██") || !strings.HasPrefix(lines[4], "1     │   ░░ ▓▓") {
		t.Errorf("grid:\n%s", s)
	}
	if !strings.Contains(s, "scale: ░ 0.000–0.750") {
		t.Errorf("legend:\n%s", s)
	}
}

func TestHeatmapDiverging(t *testing.T) {
	h := &view.Heatmap{XLabels: []string{"a", "b", "c", "d"}, YLabels: []string{"r"},
		Values: [][]float64{{-4, -0.1, 1, 4}}, Diverging: true}
	var opt chartOption
	decodeAfter(t, h.HTML(), ",opt=", &opt)
	if opt.VisualMap.Min != -4 || opt.VisualMap.Max != 4 || opt.VisualMap.InRange.Color[0] != "#3b4cc0" {
		t.Errorf("diverging scale %+v", opt.VisualMap)
	}
	if g := strings.Split(h.String(), "\n")[2]; g != "r │## ·· ░░ ██" {
		t.Errorf("diverging grid row %q", g)
	}
}

func TestHeatmapValidate(t *testing.T) {
	for name, h := range map[string]*view.Heatmap{
		"ragged row":    {XLabels: []string{"a", "b"}, YLabels: []string{"r"}, Values: [][]float64{{1}}},
		"missing row":   {XLabels: []string{"a"}, YLabels: []string{"r", "s"}, Values: [][]float64{{1}}},
		"tooltip shape": {XLabels: []string{"a"}, YLabels: []string{"r"}, Values: [][]float64{{1}}, Tooltips: [][]string{{"x", "y"}}},
		"marks shape":   {XLabels: []string{"a"}, YLabels: []string{"r"}, Values: [][]float64{{1}}, Marked: [][]bool{}},
		"negative size": {XLabels: []string{"a"}, YLabels: []string{"r"}, Values: [][]float64{{1}}, Width: -1},
		"too many":      view.LayerHeadMap("huge", 1<<20, 1<<20, nil),
	} {
		err := h.Validate()
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !strings.Contains(h.HTML(), "error:") || !strings.HasPrefix(h.String(), "error: ") {
			t.Errorf("%s: error not rendered", name)
		}
	}
	var nilMap *view.Heatmap
	if nilMap.Validate() == nil {
		t.Error("nil heatmap validated")
	}
	if err := sample().Validate(); err != nil {
		t.Errorf("valid heatmap: %v", err)
	}
}

func TestPairHeatmap(t *testing.T) {
	v := newVocab()
	a, b, c, x, y := v.id(" chcecie"), v.id(" musicie"), v.id("ujecie"), v.id(" waszych"), v.id(" wam")
	top := &project.PairTop{Head: project.HeadID{Layer: 20, Head: 4}, Kind: project.OV, K: 4, Pairs: []project.Pair{
		{Source: a, Target: x, Score: 9}, {Source: b, Target: x, Score: 8}, {Source: a, Target: y, Score: 7}, {Source: c, Target: y, Score: 6},
	}}
	h := view.PairHeatmap(v, top, nil)
	if strings.Join(h.YLabels, ",") != "·chcecie,·musicie,ujecie" || strings.Join(h.XLabels, ",") != "·waszych,·wam" {
		t.Errorf("labels %q × %q", h.YLabels, h.XLabels)
	}
	if h.YName != "source" || h.XName != "target" || h.Diverging || !strings.HasPrefix(h.Title, "20.4 W_OV top 4") {
		t.Errorf("names %q %q %q diverging=%v", h.YName, h.XName, h.Title, h.Diverging)
	}
	if h.Values[0][0] != 9 || h.Values[2][1] != 6 || !math.IsNaN(h.Values[1][1]) || !math.IsNaN(h.Values[2][0]) {
		t.Errorf("values %v", h.Values)
	}
	if tip := h.Tooltips[0][1]; tip != "·chcecie → ·wam\n7.000\ntop #3\nids 0 → 4" {
		t.Errorf("tooltip %q", tip)
	}
	// With the full scores every cell is filled, and a negative one makes
	// the scale diverging.
	full := view.PairHeatmap(v, top, func(s, t int) float32 { return float32(10*s+t) - 25 })
	for r, row := range full.Values {
		for c, val := range row {
			if math.IsNaN(val) {
				t.Errorf("cell %d,%d empty with full scores", r, c)
			}
		}
	}
	if !full.Diverging || full.Values[1][0] != float64(10*b+x)-25 {
		t.Errorf("full scores: diverging=%v values %v", full.Diverging, full.Values)
	}
	// The top pairs are outlined among the full scores, and only they.
	if h.Marked != nil {
		t.Error("top-only map has marks")
	}
	nMarked := 0
	for _, row := range full.Marked {
		for _, m := range row {
			if m {
				nMarked++
			}
		}
	}
	if nMarked != 4 || !full.Marked[0][0] || !full.Marked[2][1] || full.Marked[1][1] {
		t.Errorf("marks %v", full.Marked)
	}
	var opt struct {
		Series []struct {
			Data []struct {
				Value     [3]float64 `json:"value"`
				ItemStyle *struct {
					BorderWidth float64 `json:"borderWidth"`
				} `json:"itemStyle"`
			} `json:"data"`
		} `json:"series"`
	}
	decodeAfter(t, full.HTML(), ",opt=", &opt)
	outlined := 0
	for _, d := range opt.Series[0].Data {
		if d.ItemStyle != nil && d.ItemStyle.BorderWidth > 0 {
			outlined++
			if !full.Marked[int(d.Value[1])][int(d.Value[0])] {
				t.Errorf("cell %v outlined but not marked", d.Value)
			}
		}
	}
	if outlined != 4 || len(opt.Series[0].Data) != 6 {
		t.Errorf("%d of %d cells outlined, want 4 of 6", outlined, len(opt.Series[0].Data))
	}
	// QK names and a bottom result.
	top.Kind, top.Bottom = project.QK, true
	if q := view.PairHeatmap(v, top, nil); q.YName != "query" || q.XName != "key" || !q.Diverging {
		t.Errorf("QK bottom: %q %q diverging=%v", q.YName, q.XName, q.Diverging)
	}
	// Too many distinct tokens: cut at MaxPairHeatmapTokens, and said so.
	big := &project.PairTop{K: 300}
	for i := range 300 {
		big.Pairs = append(big.Pairs, project.Pair{Source: v.id(strings.Repeat("s", i+1)), Target: v.id(strings.Repeat("t", i+1)), Score: 1})
	}
	bh := view.PairHeatmap(v, big, nil)
	if len(bh.YLabels) != view.MaxPairHeatmapTokens || !strings.Contains(bh.Title, "first 200 tokens") || bh.Validate() != nil {
		t.Errorf("cap: %d rows, title %q", len(bh.YLabels), bh.Title)
	}
}

func TestLayerHeadMap(t *testing.T) {
	calls := 0
	m := view.LayerHeadMap("labels", 2, 3, func(l, h int) (float64, string) {
		calls++
		if l == 1 && h == 2 {
			return -1, "<i>suppression</i>"
		}
		return float64(l + h), ""
	})
	if calls != 6 || len(m.Values) != 2 || len(m.Values[0]) != 3 || !m.Diverging {
		t.Fatalf("calls %d, shape %dx%d, diverging %v", calls, len(m.Values), len(m.Values[0]), m.Diverging)
	}
	if m.Tooltips[0][1] != "0.1: 1.000" || m.Tooltips[1][2] != "1.2: -1.000\n<i>suppression</i>" {
		t.Errorf("tooltips %q", m.Tooltips)
	}
	if e := view.LayerHeadMap("none", -3, 4, nil); len(e.Values) != 0 || !strings.Contains(e.String(), "empty heatmap") {
		t.Errorf("negative layers: %+v", e)
	}
}
