package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var (
	notebookFlag   = flag.String("notebook", "testdata/heatmap.ipynb", "notebook the browser test opens, runs and photographs")
	screenshotFlag = flag.String("screenshot", "", "also write the screenshot of the drawn heatmap to this PNG file (make screenshot: docs/screenshot.png)")
)

const (
	runCells = 20 * time.Minute // all cells, the first cold build of GoMLX included
	drawWait = 60 * time.Second // from the end of the run until a chart's pixels are there
	viewW    = 1280             // browser viewport, CSS pixels
	viewH    = 1000             //
	minInk   = 0.05             // a drawn chart colours at least this share of its canvas…
	minHues  = 8                // …with at least this many distinct colours (a colour scale)
	jsLimit  = 30 * time.Second // one JavaScript evaluation
)

// TestBrowserHeatmap opens a notebook in headless Chromium on the server
// that `make notebook` starts, runs all its cells the way a researcher
// would (Cell → Run All), and checks that no cell failed and that a heatmap
// canvas in an output holds a drawn chart: in the canvas's own pixels, and
// again in a screenshot of the page, cropped to the canvas.
func TestBrowserHeatmap(t *testing.T) {
	require(t, "make", "jupyter")
	chromium := findChromium(t)
	root := repoRoot(t)
	nbPath, err := filepath.Abs(*notebookFlag)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(nbPath); err != nil {
		t.Fatalf("notebook to run: %v", err)
	}
	srv := startServer(t, root, filepath.Dir(nbPath))

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

	page := srv.URL + "/notebooks/" + url.PathEscape(filepath.Base(nbPath)) + "?token=" + url.QueryEscape(srv.Token)
	start := time.Now()
	err = chromedp.Do(withTimeout(t, browser, 2*time.Minute),
		chromedp.EmulateViewport(viewW, viewH),
		chromedp.Navigate(page),
		void(chromedp.Poll[bool](jsKernelReady, chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(0))),
		// Never save: the server serves the repository's notebook itself.
		void(chromedp.Evaluate[bool](jsRunAll)),
	)
	if err != nil {
		t.Fatalf("opening %s and starting its cells: %v\n%s", page, err, srv.log.String())
	}
	st, err := chromedp.Run(withTimeout(t, browser, runCells),
		chromedp.Poll[runState](jsRunState, chromedp.WithPollingInterval(500*time.Millisecond), chromedp.WithPollingTimeout(0)))
	if err != nil {
		t.Fatalf("waiting for the cells of %s: %v", nbPath, err)
	}
	t.Logf("%s: %d cells ran in %.1f s in the browser", filepath.Base(nbPath), st.Cells, time.Since(start).Seconds())
	for _, e := range st.Errors {
		t.Errorf("cell %d failed in the browser: %s", e.Cell, e.Text)
	}

	canvases, err := chromedp.Run(withTimeout(t, browser, drawWait+10*time.Second),
		chromedp.PollFunction[[]canvasInk](jsDrawnCanvases,
			chromedp.WithPollingInterval(250*time.Millisecond), chromedp.WithPollingTimeout(drawWait),
			chromedp.WithPollingArgs(minInk, minHues)))
	if err != nil {
		all, _ := chromedp.Run(withTimeout(t, browser, jsLimit), chromedp.Evaluate[[]canvasInk](jsAllCanvases))
		t.Fatalf("no drawn heatmap canvas within %v of the run (canvases in outputs: %+v)", drawWait, all)
	}
	c := canvases[0]
	t.Logf("canvas %d×%d: %.0f%% of its pixels coloured, %d distinct colours", c.W, c.H, 100*c.Ink, c.Hues)

	// Photograph the cell with the chart and look at the chart's pixels on
	// the screen, not only in the canvas buffer.
	err = chromedp.Do(withTimeout(t, browser, jsLimit),
		void(chromedp.Evaluate[bool](jsScrollToChart)),
		chromedp.Sleep(300*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	rect, err := chromedp.Run(withTimeout(t, browser, jsLimit), chromedp.Evaluate[canvasInk](jsChartRect))
	if err != nil {
		t.Fatal(err)
	}
	pngBytes, err := chromedp.Run(withTimeout(t, browser, jsLimit), chromedp.CaptureScreenshot())
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

	out := *screenshotFlag
	if out == "" {
		out = filepath.Join(t.TempDir(), "screenshot.png")
	}
	if err := os.WriteFile(out, pngBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", out)
}

func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
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
// global Jupyter.notebook.
const (
	jsKernelReady = `typeof Jupyter !== "undefined" && !!Jupyter.notebook && Jupyter.notebook._fully_loaded &&
		!!Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected()`

	// Outputs saved in the file are cleared first, so that whatever is drawn
	// afterwards comes from this run.
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
				errors.push({cell: Jupyter.notebook.find_cell_index(c) + 1,
					text: (o.ename + ": " + o.evalue + "\n" + (o.traceback || []).join("\n")).replace(/\x1b\[[0-9;]*[A-Za-z]/g, "")});
			}
		}));
		const done = cells.every(c => typeof c.input_prompt_number === "number");
		return (done || errors.length > 0) ? {cells: cells.length, errors: errors} : null;
	})()`

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
	}
	function charts() { return Array.from(document.querySelectorAll("#notebook .output_area canvas")); }`

	jsDrawnCanvases = `(minInk, minHues) => {` + jsInk + `
		const drawn = charts().map(inkOf).filter(m => m.ink >= minInk && m.hues >= minHues);
		return drawn.length > 0 ? drawn : null;
	}`

	jsAllCanvases = `(() => {` + jsInk + `
		return charts().map(inkOf);
	})()`

	// Brings the cell of the first chart to the top of the notebook's
	// scrolling area (the page itself does not scroll in Notebook 6).
	jsScrollToChart = `(() => {
		const c = document.querySelector("#notebook .output_area canvas");
		c.closest(".cell").scrollIntoView({block: "start"});
		return true;
	})()`

	jsChartRect = `(() => {` + jsInk + `
		return inkOf(document.querySelector("#notebook .output_area canvas"));
	})()`
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
