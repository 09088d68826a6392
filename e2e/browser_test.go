package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var (
	notebookFlag = flag.String("notebook", "../notebooks/02-attention-heads.ipynb",
		"notebook whose heatmap is photographed (run too if it is not one of browserRuns)")
	screenshotFlag = flag.String("screenshot", "", "write the screenshot of -notebook's heatmap to this PNG file (make screenshot: docs/screenshot.png)")
)

// browserRuns are the notebooks of the checkout that the browser test runs,
// each with the tagged cell whose heatmap must be drawn and a word of that
// chart's title, so that the test checks the chart the notebook is about
// and not whichever canvas comes first.
var browserRuns = []browserRun{
	// Issue 4: a head's top pairs as a source × target heatmap.
	{Notebook: "02-attention-heads.ipynb", ChartCell: "heatmap", Title: "(source × target)"},
	// Issue 5: the notes map — heads coloured by which views carry a note.
	{Notebook: "03-annotating.ipynb", ChartCell: "map", Title: "Labelled heads of"},
	// Issue 10: the logit lens of a Polish sentence, layer × position.
	{Notebook: "06-on-text.ipynb", ChartCell: "lens", Title: "logit lens of"},
}

type browserRun struct {
	Notebook  string // file name in the served directory
	ChartCell string // Jupyter tag of the cell that draws the chart; "" for any chart
	Title     string // a substring of the chart's title; "" for any
}

const (
	runCells = 20 * time.Minute // all cells of one notebook, the first cold build of GoMLX included
	drawWait = 60 * time.Second // from the end of the run until a chart's pixels are there
	viewW    = 1280             // browser viewport, CSS pixels
	viewH    = 1000             //
	minInk   = 0.05             // a drawn chart colours at least this share of its canvas…
	minHues  = 8                // …with at least this many distinct colours (a colour scale)
	jsLimit  = 30 * time.Second // one JavaScript evaluation
)

// TestBrowserNotebooks opens the real notebooks in headless Chromium on the
// server that `make notebook` starts, runs all their cells the way a
// researcher would (Cell → Run All), and checks that no cell failed and that
// the heatmap each notebook is about holds a drawn chart: in the canvas's
// own pixels, and again in a screenshot of the page, cropped to the canvas.
//
// The server serves a copy of notebooks/ (notes included), never the
// checkout: 03-annotating writes its notes file, and nothing a browser does
// may change the repository. Instead, what the run wrote is compared with the
// checkout's notes — re-running the notebooks must change nothing.
func TestBrowserNotebooks(t *testing.T) {
	require(t, "make", "jupyter")
	chromium := findChromium(t)
	root := repoRoot(t)
	src := filepath.Join(root, "notebooks")
	work := filepath.Join(t.TempDir(), "notebooks")
	if err := copyNotebooks(work, src); err != nil {
		t.Fatalf("copying %s: %v", src, err)
	}
	runs, photographed, err := plan(work, src, *notebookFlag)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, root, work)

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox, // Chromium's sandbox refuses to start as root (CI, Docker)
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(viewW, viewH),
	)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	// Starts the browser; later steps get deadlines of their own.
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}

	for _, run := range runs {
		t.Run(run.Notebook, func(t *testing.T) {
			shot := ""
			if run.Notebook == photographed {
				shot = *screenshotFlag
				if shot == "" {
					shot = filepath.Join(t.TempDir(), "screenshot.png")
				}
			}
			runInBrowser(t, browser, srv, run, shot)
		})
	}

	for _, p := range changedNotes(t, filepath.Join(src, "notes"), filepath.Join(work, "notes")) {
		t.Error(p)
	}
}

// plan lists the runs: browserRuns, and the notebook to photograph when it
// is another one (copied into the served directory). It returns the served
// name of the photographed notebook.
func plan(work, src, photo string) ([]browserRun, string, error) {
	runs := slices.Clone(browserRuns)
	for _, r := range runs {
		if _, err := os.Stat(filepath.Join(work, r.Notebook)); err != nil {
			return nil, "", fmt.Errorf("browser run of %s: %v", r.Notebook, err)
		}
	}
	abs, err := filepath.Abs(photo)
	if err != nil {
		return nil, "", err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, "", fmt.Errorf("notebook to photograph: %v", err)
	}
	name := filepath.Base(abs)
	inRuns := slices.ContainsFunc(runs, func(r browserRun) bool { return r.Notebook == name })
	if sameDir(filepath.Dir(abs), src) && inRuns {
		return runs, name, nil
	}
	if !sameDir(filepath.Dir(abs), src) {
		if _, err := os.Stat(filepath.Join(work, name)); err == nil {
			return nil, "", fmt.Errorf("notebook to photograph %s has the name of a notebook in %s; rename it", abs, src)
		}
		if err := copyFile(filepath.Join(work, name), abs, 0o644); err != nil {
			return nil, "", err
		}
	}
	if !inRuns {
		runs = append(runs, browserRun{Notebook: name})
	}
	return runs, name, nil
}

func sameDir(a, b string) bool {
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

// runInBrowser opens one notebook in a new tab, runs all its cells, checks
// them and its chart, and writes the screenshot of the chart to shot unless
// shot is "".
func runInBrowser(t *testing.T, browser context.Context, srv *server, run browserRun, shot string) {
	tab, cancelTab := chromedp.NewContext(browser)
	defer cancelTab()
	page := srv.URL + "/notebooks/" + url.PathEscape(run.Notebook) + "?token=" + url.QueryEscape(srv.Token)
	tag := jsString(run.ChartCell)

	start := time.Now()
	err := chromedp.Do(withTimeout(t, tab, 2*time.Minute),
		chromedp.EmulateViewport(viewW, viewH),
		chromedp.Navigate(page),
		void(chromedp.Poll[bool](jsKernelReady, chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(0))),
	)
	if err != nil {
		t.Fatalf("opening %s: %v\n%s", page, err, srv.log.String())
	}
	tagged, err := chromedp.Run(withTimeout(t, tab, jsLimit), chromedp.Evaluate[int](`(`+jsCells+`)(`+tag+`).length`))
	if err != nil {
		t.Fatal(err)
	}
	if run.ChartCell != "" && tagged == 0 {
		t.Fatalf("%s has no cell tagged %q to draw its chart", run.Notebook, run.ChartCell)
	}
	// Outputs saved in the file are cleared first, so that whatever is drawn
	// afterwards comes from this run; autosave is off, and nothing saves.
	if _, err := chromedp.Run(withTimeout(t, tab, jsLimit), chromedp.Evaluate[bool](jsRunAll)); err != nil {
		t.Fatalf("starting the cells of %s: %v", run.Notebook, err)
	}
	st, err := chromedp.Run(withTimeout(t, tab, runCells),
		chromedp.Poll[runState](jsRunState, chromedp.WithPollingInterval(500*time.Millisecond), chromedp.WithPollingTimeout(0)))
	if err != nil {
		t.Fatalf("waiting for the cells of %s: %v", run.Notebook, err)
	}
	t.Logf("%s: %d cells ran in %.1f s in the browser", run.Notebook, st.Cells, time.Since(start).Seconds())
	for _, e := range st.Errors {
		t.Errorf("cell %d failed in the browser: %s", e.Cell, e.Text)
	}
	defer func() {
		// Stop the kernel (best effort: the server's end stops it anyway).
		_, _ = chromedp.Run(withTimeout(t, tab, jsLimit), chromedp.Evaluate[bool](jsShutdown))
	}()

	where := "in the outputs"
	if run.ChartCell != "" {
		where = fmt.Sprintf("in the cell tagged %q", run.ChartCell)
	}
	canvases, err := chromedp.Run(withTimeout(t, tab, drawWait+10*time.Second),
		chromedp.PollFunction[[]canvasInk](jsDrawnCanvases,
			chromedp.WithPollingInterval(250*time.Millisecond), chromedp.WithPollingTimeout(drawWait),
			chromedp.WithPollingArgs(run.ChartCell, minInk, minHues)))
	if err != nil {
		all, _ := chromedp.Run(withTimeout(t, tab, jsLimit), chromedp.Evaluate[[]canvasInk](`(`+jsAllCanvases+`)(`+tag+`)`))
		t.Fatalf("no drawn heatmap canvas %s within %v of the run (canvases there: %+v)", where, drawWait, all)
	}
	c := canvases[0]
	t.Logf("chart %s: canvas %d×%d, %.0f%% of its pixels coloured, %d distinct colours", where, c.W, c.H, 100*c.Ink, c.Hues)

	title, err := chromedp.Run(withTimeout(t, tab, jsLimit),
		chromedp.Evaluate[string](`(`+jsChartTitle+`)(`+tag+`)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("reading the chart's title: %v", err)
	}
	t.Logf("chart title: %q", title)
	if !strings.Contains(title, run.Title) {
		t.Errorf("the chart %s is titled %q, want one with %q", where, title, run.Title)
	}

	// Photograph the cell with the chart and look at the chart's pixels on
	// the screen, not only in the canvas buffer.
	err = chromedp.Do(withTimeout(t, tab, jsLimit),
		void(chromedp.Evaluate[bool](`(`+jsScrollToChart+`)(`+tag+`)`)),
		chromedp.Sleep(300*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	rect, err := chromedp.Run(withTimeout(t, tab, jsLimit), chromedp.Evaluate[canvasInk](`(`+jsChartRect+`)(`+tag+`)`))
	if err != nil {
		t.Fatal(err)
	}
	pngBytes, err := chromedp.Run(withTimeout(t, tab, jsLimit), chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	ink, hues, err := screenInk(pngBytes, rect)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot, chart region %.0f×%.0f at (%.0f, %.0f): %.0f%% coloured, %d distinct colours", rect.CSSW, rect.CSSH, rect.X, rect.Y, 100*ink, hues)
	if ink < minInk || hues < minHues {
		t.Errorf("the chart looks blank on screen: %.1f%% coloured, %d colours (want ≥ %.0f%%, ≥ %d)", 100*ink, hues, 100*minInk, minHues)
	}
	if shot != "" {
		if err := os.WriteFile(shot, pngBytes, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", shot)
	}
}

func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// copyNotebooks copies the notebook directory src to dst, without Jupyter's
// checkpoints and lock files of notes being written.
func copyNotebooks(dst, src string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".ipynb_checkpoints" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() || strings.HasSuffix(p, ".lock") {
			return nil
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		return copyFile(filepath.Join(dst, rel), p, 0o644)
	})
}

// changedNotes compares the notes files the notebooks left in the copy
// (got) with the checkout's (want) and describes each difference.
func changedNotes(t *testing.T, want, got string) []string {
	t.Helper()
	var problems []string
	err := filepath.WalkDir(got, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p == got {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".json") {
			return nil
		}
		rel, _ := filepath.Rel(got, p)
		after, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		before, err := os.ReadFile(filepath.Join(want, rel))
		switch {
		case os.IsNotExist(err):
			problems = append(problems, fmt.Sprintf("running the notebooks created notes/%s, which the checkout lacks: run the notebook that writes it and commit the file", rel))
		case err != nil:
			return err
		case !bytes.Equal(before, after):
			problems = append(problems, fmt.Sprintf("running the notebooks changed notes/%s (%s): labelling is not idempotent, or the committed file is stale (re-run the notebook that writes it and commit)",
				rel, firstDifference(before, after)))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return problems
}

// firstDifference quotes the first line where a and b differ.
func firstDifference(a, b []byte) string {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range max(len(la), len(lb)) {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return fmt.Sprintf("line %d: %.120q became %.120q", i+1, strings.TrimSpace(x), strings.TrimSpace(y))
		}
	}
	return "same lines"
}

// findChromium finds Debian's chromium (or another Chrome) on PATH.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	require(t, "chromium")
	return ""
}

// The page is the classic Notebook 6 (Debian's); its JavaScript API is the
// global Jupyter.notebook. Functions below that take a tag select the cells
// carrying that Jupyter tag ("" selects every code cell).
const (
	jsKernelReady = `typeof Jupyter !== "undefined" && !!Jupyter.notebook && Jupyter.notebook._fully_loaded &&
		!!Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected()`

	jsRunAll = `(() => {
		Jupyter.notebook.set_autosave_interval(0);
		Jupyter.notebook.clear_all_output();
		Jupyter.notebook.execute_all_cells();
		return true;
	})()`

	// Done when no code cell waits ("*") and every one has a number, or as
	// soon as one shows an error (the kernel then skips the rest).
	jsRunState = `(() => {
		const cells = Jupyter.notebook.get_cells().filter(c => c.cell_type === "code" && c.get_text().trim() !== "");
		const errors = [];
		cells.forEach((c, i) => c.output_area.outputs.forEach(o => {
			if (o.output_type === "error") {
				// GoNB shows compile errors as HTML beside the error output.
				const shown = c.output_area.element[0].innerText.slice(-2000);
				errors.push({cell: Jupyter.notebook.find_cell_index(c) + 1,
					text: (o.ename + ": " + o.evalue + "\n" + (o.traceback || []).join("\n") + "\n" + shown).replace(/\x1b\[[0-9;]*[A-Za-z]/g, "")});
			}
		}));
		const done = cells.every(c => typeof c.input_prompt_number === "number");
		return (done || errors.length > 0) ? {cells: cells.length, errors: errors} : null;
	})()`

	jsShutdown = `(() => { Jupyter.notebook.session.delete(); return true; })()`

	jsCells = `(tag) => Jupyter.notebook.get_cells().filter(c => c.cell_type === "code" &&
		(tag === "" || (c.metadata.tags || []).includes(tag)))`

	// charts are the canvases of lenskit heatmaps (class lk-heatmap, from
	// package view) in the outputs of the tagged cells.
	jsCharts = `function charts(tag) {
		return (` + jsCells + `)(tag).flatMap(c => Array.from(c.output_area.element[0].querySelectorAll(".lk-heatmap canvas")));
	}`

	// inkOf measures a canvas: the share of its pixels that are neither
	// transparent nor near-white, and how many distinct colours they have.
	jsInk = `function inkOf(c) {
		const r = c.getBoundingClientRect();
		const m = {w: c.width, h: c.height, x: r.x, y: r.y, cssW: r.width, cssH: r.height, dpr: window.devicePixelRatio};
		try {
			const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
			let ink = 0;
			const hues = new Set();
			for (let i = 0; i < d.length; i += 4) {
				if (d[i+3] > 0 && !(d[i] > 245 && d[i+1] > 245 && d[i+2] > 245)) {
					ink++;
					hues.add((d[i] >> 3) << 10 | (d[i+1] >> 3) << 5 | (d[i+2] >> 3));
				}
			}
			m.ink = ink / Math.max(1, c.width * c.height);
			m.hues = hues.size;
		} catch (e) {
			m.error = String(e);
		}
		return m;
	}` + jsCharts

	jsDrawnCanvases = `(tag, minInk, minHues) => {` + jsInk + `
		const drawn = charts(tag).map(inkOf).filter(m => m.ink >= minInk && m.hues >= minHues);
		return drawn.length > 0 ? drawn : null;
	}`

	jsAllCanvases = `(tag) => {` + jsInk + `
		return charts(tag).map(inkOf);
	}`

	// The title ECharts drew: the chart element is the canvas's drawn
	// container, the library the promise package view's loader keeps on
	// window.
	jsChartTitle = `async (tag) => {` + jsCharts + `
		const el = charts(tag)[0].closest("[data-lenskit-drawn]");
		const key = Object.keys(window).find(k => k.startsWith("__lenskitECharts_"));
		if (!el || !key) return "";
		const chart = (await window[key]).getInstanceByDom(el);
		const title = chart ? [].concat(chart.getOption().title || [])[0] : null;
		return title && title.text || "";
	}`

	// Scrolls the notebook (Notebook 6 scrolls #site, not the page) so
	// that the prose above the chart's cell is at the top, or the cell
	// itself when both do not fit.
	jsScrollToChart = `(tag) => {` + jsCharts + `
		const canvas = charts(tag)[0];
		const cell = canvas.closest(".cell");
		cell.scrollIntoView({block: "start"});
		const prev = cell.previousElementSibling;
		const site = document.getElementById("site") || document.scrollingElement;
		if (prev && prev.classList.contains("text_cell") &&
			canvas.getBoundingClientRect().bottom - prev.getBoundingClientRect().top <= site.clientHeight - 8) {
			prev.scrollIntoView({block: "start"});
		}
		return true;
	}`

	jsChartRect = `(tag) => {` + jsInk + `
		return inkOf(charts(tag)[0]);
	}`
)

type runState struct {
	Cells  int `json:"cells"`
	Errors []struct {
		Cell int    `json:"cell"`
		Text string `json:"text"`
	} `json:"errors"`
}

type canvasInk struct {
	W, H  int     // canvas buffer size
	X, Y  float64 // position in the viewport, CSS pixels
	CSSW  float64 `json:"cssW"` // size in the viewport, CSS pixels
	CSSH  float64 `json:"cssH"`
	DPR   float64 `json:"dpr"`
	Ink   float64
	Hues  int
	Error string
}

func (c canvasInk) String() string {
	if c.Error != "" {
		return "unreadable canvas: " + c.Error
	}
	return fmt.Sprintf("%d×%d canvas, %.1f%% coloured, %d colours", c.W, c.H, 100*c.Ink, c.Hues)
}

// screenInk measures, in a PNG screenshot of the viewport, the region the
// canvas covers: the share of pixels that are not near-white and how many
// distinct colours they have, quantised as in the page's own measure.
func screenInk(pngBytes []byte, c canvasInk) (ink float64, hues int, err error) {
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		return 0, 0, fmt.Errorf("decoding the screenshot: %v", err)
	}
	dpr := c.DPR
	if dpr <= 0 {
		dpr = 1
	}
	r := image.Rect(int(c.X*dpr), int(c.Y*dpr), int((c.X+c.CSSW)*dpr), int((c.Y+c.CSSH)*dpr)).Intersect(img.Bounds())
	if r.Empty() {
		return 0, 0, fmt.Errorf("the chart (%s at %.0f,%.0f) is outside the %v screenshot", c, c.X, c.Y, img.Bounds())
	}
	seen := map[uint32]bool{}
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			r8, g8, b8 := cr>>8, cg>>8, cb>>8
			if r8 > 245 && g8 > 245 && b8 > 245 {
				continue
			}
			n++
			seen[(r8>>3)<<10|(g8>>3)<<5|b8>>3] = true
		}
	}
	return float64(n) / float64(r.Dx()*r.Dy()), len(seen), nil
}
