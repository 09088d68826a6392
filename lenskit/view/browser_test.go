package view_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lenskit.dev/lenskit/view"
)

// chromium finds Debian's headless browser, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	t.Skip("chromium is not installed (apt-get install -y chromium): cannot check that heatmaps draw")
	return ""
}

// runChromium runs headless Chromium offline on file with extra flags and
// returns its stdout.
func runChromium(t *testing.T, bin, file string, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run",
		"--user-data-dir=" + t.TempDir(), "--hide-scrollbars",
	}, extra...)
	args = append(args, "file://"+file)
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", extra, err, errb.String())
	}
	return out.Bytes()
}

// The page holds three charts the three ways notebooks show HTML: two
// written into the page (a static nbconvert export; the second reuses the
// library the first loaded) and one inserted later with innerHTML and its
// scripts re-created (what a live Jupyter front end does with an output).
// A fake RequireJS define() that throws makes sure the library does not
// take the AMD path that exported notebooks would trip over. Once drawn,
// the first chart is asked to show the tooltip of its first cell, whose
// text is hostile markup.
func heatmapPage(t *testing.T) (page string, a, b *view.Heatmap) {
	a = view.LayerHeadMap("head scores", 4, 8, func(l, h int) (float64, string) {
		if l == 3 && h == 7 {
			return math.NaN(), ""
		}
		return float64(l*8+h) + 1, fmt.Sprintf("<b>hostile</b> \"tip\" %d.%d", l, h)
	})
	a.Width, a.Height = 440, 340
	b = &view.Heatmap{
		Title: "diverging </script><script>document.title='pwned'</script>", XName: "target", YName: "source",
		XLabels: []string{"·dom", "·kot", "<img src=x onerror=alert(1)>"}, YLabels: []string{"·pies", "·ł"},
		Values: [][]float64{{3, -2, math.NaN()}, {-4, 1, 2}}, Diverging: true, Width: 440, Height: 340,
	}
	c := view.LayerHeadMap("inserted later", 2, 3, func(l, h int) (float64, string) { return float64(l + h), "" })
	global := "__lenskitECharts_" + strings.ReplaceAll(view.EChartsVersion, ".", "_")
	dyn, err := jsString(c.HTML())
	if err != nil {
		t.Fatal(err)
	}
	page = `<!doctype html><html><head><meta charset="utf-8"><title>lenskit heatmap test</title>
<script>window.define=function(){throw new Error("anonymous define() reached")};window.define.amd={};</script>
<style>body{margin:0;background:#fff}.cell{display:inline-block;vertical-align:top}</style></head><body>
<div class="cell">` + a.HTML() + `</div><div class="cell">` + b.HTML() + `</div>
<div id="dyn"></div>
<script>setTimeout(function(){var d=document.getElementById("dyn");d.innerHTML=` + dyn + `;
d.querySelectorAll("script").forEach(function(old){var s=document.createElement("script");s.text=old.text;old.replaceWith(s);});},100);
setTimeout(function(){window["` + global + `"].then(function(ec){
var c=ec.getInstanceByDom(document.querySelector("[data-lenskit-drawn]"));c.dispatchAction({type:"showTip",seriesIndex:0,dataIndex:0});});},800);</script>
</body></html>`
	return page, a, b
}

// jsString quotes s as a JavaScript string literal safe inside <script>.
func jsString(s string) (string, error) {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteString(`\` + string(r))
		case r == '<' || r == '>' || r == '&' || r < 0x20 || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}

func TestHeatmapDrawsInChromium(t *testing.T) {
	bin := chromium(t)
	page, a, b := heatmapPage(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "heatmap.html")
	if err := os.WriteFile(file, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}

	// 1. The DOM after the scripts ran: all three charts drawn on canvases,
	// the hostile title did not execute.
	dom := string(runChromium(t, bin, file, "--virtual-time-budget=10000", "--dump-dom"))
	if n := strings.Count(dom, `data-lenskit-drawn="1"`); n != 3 {
		t.Errorf("%d charts drawn, want 3 (two static, one inserted); DOM starts:\n%.2000s", n, dom)
	}
	if n := strings.Count(dom, "<canvas"); n < 3 {
		t.Errorf("%d canvases in the DOM, want ≥ 3", n)
	}
	if strings.Contains(dom, "<title>pwned") || strings.Contains(dom, `class="lk-chart-error"`) {
		t.Errorf("hostile label executed or a chart failed:\n%.3000s", dom)
	}
	// The tooltip shows the caller's text, escaped.
	if !strings.Contains(dom, "0.0: 1.000<br>&lt;b&gt;hostile&lt;/b&gt; \"tip\" 0.0") {
		i := strings.Index(dom, "0.0: 1.000")
		t.Errorf("tooltip of cell 0.0 not shown escaped; around it: %q", dom[max(0, i-200):min(len(dom), i+300)])
	}
	if strings.Contains(dom, "<b>hostile</b>") {
		t.Error("tooltip markup was not escaped")
	}

	// 2. The pixels: inside each static chart's area there must be the
	// chart's colours, not just the grey text of the fallback grid.
	shot := filepath.Join(dir, "out.png")
	runChromium(t, bin, file, "--virtual-time-budget=10000", "--screenshot="+shot, "--window-size=900,700")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if keep := os.Getenv("LENSKIT_KEEP_SCREENSHOT"); keep != "" {
		data, _ := os.ReadFile(shot)
		os.WriteFile(keep, data, 0o644)
	}
	areas := []struct {
		name string
		r    image.Rectangle
	}{
		{"sequential " + a.Title, image.Rect(0, 0, a.Width, a.Height)},
		{"diverging", image.Rect(a.Width+4, 0, a.Width+4+b.Width, b.Height)},
	}
	for _, ar := range areas {
		warm, cool := colouredPixels(img, ar.r)
		t.Logf("%s: %d warm and %d cool pixels in %v", ar.name, warm, cool, ar.r)
		if warm < 2000 {
			t.Errorf("%s: only %d warm (red) pixels in the chart area %v: the heatmap did not draw", ar.name, warm, ar.r)
		}
		if ar.name == "diverging" && cool < 1000 {
			t.Errorf("diverging chart: only %d cool (blue) pixels: negative cells not drawn", cool)
		}
	}
}

// colouredPixels counts saturated red-ish and blue-ish pixels: the heatmap
// palette, which neither the page background nor grey text has.
func colouredPixels(img image.Image, r image.Rectangle) (warm, cool int) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			R, G, B := int(cr>>8), int(cg>>8), int(cb>>8)
			switch {
			case R-B > 50 && R-G > 30:
				warm++
			case B-R > 50 && B-G > 20:
				cool++
			}
		}
	}
	return warm, cool
}
