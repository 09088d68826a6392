package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The explorer (issue 11) in the browser: notebooks/00-explore.ipynb opened
// on the server `make notebook` starts, driven through its widgets, map,
// form and search like a researcher would, with every table checked
// against the lenskit command's JSON for the same query, and the time from
// each action to the redrawn table measured in the page.

var exploreShots = flag.String("explorer-screenshots", "", "write the explorer's screenshots (explorer-head.png, explorer-form.png) into this directory (make screenshot: docs/)")

const (
	exploreNotebook = "00-explore.ipynb"
	exploreWait     = 2 * time.Minute // one action until the page shows its result
	exploreLabel    = "e2e: which pronoun follows"
)

func TestExplorer(t *testing.T) {
	require(t, "make", "jupyter", "go")
	chromium := findChromium(t)
	root := repoRoot(t)
	cli := buildCLI(t, root)
	src := filepath.Join(root, "notebooks")
	work := filepath.Join(t.TempDir(), "notebooks")
	if err := copyNotebooks(work, src); err != nil {
		t.Fatal(err)
	}
	notesRel := filepath.Join("notes", "tiny-pl-gpt2.lenskit-notes.json")
	committed, err := os.ReadFile(filepath.Join(src, notesRel))
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, root, work)
	tab := openExplorer(t, chromium, srv)
	corpus := filepath.Join(root, "..", "shared", "corpus", "pl.txt")
	filter := []string{"--alnum", "--corpus", corpus, "--top", "2000"}
	var timings []timing

	// 1. The widgets select layer 2, then head 4: the table is 2.4's.
	timings = append(timings, tab.act(t, "layer 2 (widget)", `select("layer", "2")`, "2.5 OV", 0))
	ms := tab.act(t, "head 4 (widget)", `select("head", "4")`, "2.4 OV", 20)
	timings = append(timings, ms)
	tab.checkPairs(t, cli, "2.4 OV", append([]string{"ov", "--layer", "2", "--head", "4", "--k", "20"}, filter...))
	tab.waitChart(t)

	// 2. A click on the map: head 3.1.
	timings = append(timings, tab.act(t, "map click 3.1", `click('td[data-lkx-key="h:3:1"]')`, "3.1 OV", 20))
	tab.checkPairs(t, cli, "3.1 OV", append([]string{"ov", "--layer", "3", "--head", "1", "--k", "20"}, filter...))
	if !tab.eval(t, `outlined("h:3:1")`, true).(bool) {
		t.Errorf("map cell 3.1 is not outlined after the click")
	}
	tab.widgets(t, "after the map click", map[string]string{"view": "0", "layer": "3", "head": "1"})

	// 3. The k slider: 7 rows.
	timings = append(timings, tab.act(t, "k slider 7", `slide("k", 7)`, "3.1 OV", 7))
	if rows := tab.eval(t, `resultRows()`, 0).(float64); rows != 7 {
		t.Errorf("k = 7: the table has %v rows", rows)
	}
	tab.checkPairs(t, cli, "3.1 OV", append([]string{"ov", "--layer", "3", "--head", "1", "--k", "7"}, filter...))

	// The map coloured by each head's largest OV entry, computed in the
	// background: 2.4's cell holds its top pair's score.
	tab.mapStat(t, "1", "ov")
	var top1 struct {
		Pairs []struct{ Score float32 } `json:"pairs"`
	}
	if err := json.Unmarshal(runCLI(t, cli, append([]string{"ov", "--layer", "2", "--head", "4", "--k", "1"}, filter...)...), &top1); err != nil || len(top1.Pairs) != 1 {
		t.Fatalf("lenskit ov --k 1: %v", err)
	}
	want := fmt.Sprintf("largest OV entry: %.4g", float64(top1.Pairs[0].Score))
	if tip := tab.eval(t, `cellTitle("h:2:4")`, "").(string); !strings.Contains(tip, want) {
		t.Errorf("map cell 2.4 says %q, want %q", tip, want)
	}
	tab.shoot(t, "explorer-head.png")
	tab.mapStat(t, "0", "notes")

	// 4. A neuron: the view selector, then the neuron field.
	timings = append(timings, tab.act(t, "view neuron (widget)", `select("view", "2")`, "L3/N0 K+V", 7))
	timings = append(timings, tab.act(t, "neuron 150 (field)", `neuron(150)`, "L3/N150 K+V", 7))
	tab.checkNeuron(t, cli, append([]string{"neuron", "--layer", "3", "--index", "150", "--k", "7"}, filter...))

	// 5. Bad input: an empty label, a neuron out of range.
	tab.form(t, `save("", "", "")`, "error", "the label is empty")
	tab.form(t, `neuron(5000)`, "error", "neuron index (layer 3) 5000 out of range: want 0..1023")

	// 6. A label on 3.1 OV through the form: in the notes file with its
	// evidence, and the map cell recoloured.
	timings = append(timings, tab.act(t, "map click 3.1 again", `click('td[data-lkx-key="h:3:1"]')`, "3.1 OV", 7))
	tab.widgets(t, "after a map click from the neuron view", map[string]string{"view": "0", "layer": "3", "head": "1"})
	before := tab.eval(t, `cellColor("h:3:1")`, "").(string)
	tab.form(t, fmt.Sprintf(`save(%q, "attends to ale, writes której", "e2e, pronouns")`, exploreLabel), "ok", "saved note")
	after := tab.eval(t, fmt.Sprintf(`colorChange("h:3:1", %q)`, before), "").(string)
	if after == before || after != "rgb(107, 174, 214)" {
		t.Errorf("map cell 3.1: %s before the label, %s after; want the OV-noted colour rgb(107, 174, 214)", before, after)
	}
	checkSavedNote(t, filepath.Join(work, notesRel), cli, append([]string{"ov", "--layer", "3", "--head", "1", "--k", "7"}, filter...))

	// 7. Search a word and click a hit.
	hit := tab.search(t, "którego")
	tab.shoot(t, "explorer-form.png")
	timings = append(timings, tab.act(t, "search hit "+hit, `clickHit(0)`, hit, 7))

	// 8. Done: the explorer leaves its static state, and the cell after it
	// runs and sees the new note.
	tab.done(t)
	out := tab.eval(t, `cellText("after")`, "").(string)
	if !strings.Contains(out, exploreLabel) {
		t.Errorf("the cell after the explorer did not list the new note:\n%s", out)
	}

	// Run again and interrupt the kernel: the explorer ends the same way.
	tab.rerun(t)
	tab.interrupt(t)

	// The label went to the copy only.
	now, err := os.ReadFile(filepath.Join(src, notesRel))
	if err != nil || !bytes.Equal(now, committed) {
		t.Errorf("the checkout's notes file changed during the test (%v)", err)
	}
	logTimings(t, "embedded tiny-pl-gpt2 (alnum + corpus list)", timings)
}

// TestExplorerLlama runs the explorer on the embedded Llama-family model:
// rotary embeddings (the QK offset slider) and gated neurons (six columns).
func TestExplorerLlama(t *testing.T) {
	require(t, "make", "jupyter", "go")
	chromium := findChromium(t)
	root := repoRoot(t)
	cli := buildCLI(t, root)
	work := filepath.Join(t.TempDir(), "notebooks")
	if err := copyNotebooks(work, filepath.Join(root, "notebooks")); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, root, work, "LENSKIT_MODEL=tiny-pl-llama")
	tab := openExplorer(t, chromium, srv)
	model := []string{"--model", "tiny-pl-llama", "--alnum", "--corpus", filepath.Join(root, "..", "shared", "corpus", "pl.txt"), "--top", "2000"}
	var timings []timing
	timings = append(timings, tab.act(t, "view QK (widget)", `select("view", "1")`, "1.5 QK", 20))
	timings = append(timings, tab.act(t, "offset δ=1 (slider)", `slide("offset", 1)`, "1.5 QK", 20))
	tab.checkPairs(t, cli, "1.5 QK δ=1", append([]string{"qk", "--layer", "1", "--head", "5", "--offset", "1", "--k", "20"}, model...))
	if s := tab.eval(t, `statusText()`, "").(string); !strings.Contains(s, "1.5 QK δ=1 top 20") {
		t.Errorf("status %q does not name the offset", s)
	}
	timings = append(timings, tab.act(t, "map click 2.3", `click('td[data-lkx-key="h:2:3"]')`, "2.3 QK", 20))
	tab.checkPairs(t, cli, "2.3 QK δ=1", append([]string{"qk", "--layer", "2", "--head", "3", "--offset", "1", "--k", "20"}, model...))
	timings = append(timings, tab.act(t, "view neuron (widget)", `select("view", "2")`, "L2/N0 K+V", 20))
	timings = append(timings, tab.act(t, "neuron 100 (field)", `neuron(100)`, "L2/N100 K+V", 20))
	tab.checkNeuron(t, cli, append([]string{"neuron", "--layer", "2", "--index", "100", "--k", "20"}, model...))
	if s := tab.eval(t, `result().innerText`, "").(string); !strings.Contains(s, "gate") || !strings.Contains(s, "up") {
		t.Errorf("the gated neuron's table lacks its gate and up columns:\n%.500s", s)
	}
	tab.done(t)
	logTimings(t, "embedded tiny-pl-llama (alnum + corpus list)", timings)
}

// TestExplorerMedium measures the explorer on a GPT-2-medium-shaped
// checkpoint (the benchmark's random one: every head view has a flat
// spectrum, the worst case for the search), with every token taking part.
// It runs when the checkpoint exists: LENSKIT_EXPLORE_MEDIUM=DIR, or the
// one `lenskit bench` writes (internal/benchdata).
func TestExplorerMedium(t *testing.T) {
	dir := os.Getenv("LENSKIT_EXPLORE_MEDIUM")
	if dir == "" {
		base := os.Getenv("LENSKIT_BENCH_DIR")
		if base == "" {
			base = filepath.Join(os.TempDir(), "lenskit-bench")
		}
		dir = filepath.Join(base, "medium-random")
		if _, err := os.Stat(filepath.Join(dir, ".complete")); err != nil {
			t.Skipf("no GPT-2-medium-shaped checkpoint at %s (run `go run ./cmd/lenskit bench -scan=false` once, or set LENSKIT_EXPLORE_MEDIUM)", dir)
		}
	}
	require(t, "make", "jupyter")
	chromium := findChromium(t)
	root := repoRoot(t)
	work := filepath.Join(t.TempDir(), "notebooks")
	if err := copyNotebooks(work, filepath.Join(root, "notebooks")); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, root, work, "LENSKIT_MODEL="+dir)
	tab := openExplorer(t, chromium, srv)
	var timings []timing
	// Every token: both switches off (each recomputes the selection).
	timings = append(timings, tab.act(t, "Alnum off", `toggle("alnum", false)`, "1.5 OV", 20))
	timings = append(timings, tab.act(t, "corpus list off", `toggle("corpus", false)`, "1.5 OV", 20))
	for _, h := range [][2]int{{12, 7}, {3, 9}, {20, 1}, {7, 14}, {23, 0}} {
		key := fmt.Sprintf("h:%d:%d", h[0], h[1])
		timings = append(timings, tab.act(t, "map click "+key[2:], fmt.Sprintf(`click('td[data-lkx-key=%q]')`, key), fmt.Sprintf("%d.%d OV", h[0], h[1]), 20))
	}
	timings = append(timings, tab.act(t, "view QK (widget)", `select("view", "1")`, "23.0 QK", 20))
	timings = append(timings, tab.act(t, "view neuron (widget)", `select("view", "2")`, "L23/N0 K+V", 20))
	timings = append(timings, tab.act(t, "neuron 907 (field)", `neuron(907)`, "L23/N907 K+V", 20))
	tab.done(t)
	logTimings(t, "GPT-2-medium-shaped, random weights, every token", timings)
}

// explorerTab is the notebook page with a running explorer.
type explorerTab struct {
	ctx context.Context
}

type timing struct {
	what string
	ms   float64
}

func logTimings(t *testing.T, model string, ts []timing) {
	t.Helper()
	var b strings.Builder
	var ms []float64
	fmt.Fprintf(&b, "explorer: action → table redrawn, measured in the page, %s:\n", model)
	for _, x := range ts {
		fmt.Fprintf(&b, "  %-28s %7.0f ms\n", x.what, x.ms)
		ms = append(ms, x.ms)
	}
	sort.Float64s(ms)
	if len(ms) > 0 {
		fmt.Fprintf(&b, "  median %.0f ms, max %.0f ms", ms[len(ms)/2], ms[len(ms)-1])
	}
	t.Log(b.String())
}

// buildCLI builds the lenskit command, the reference the tables are
// checked against.
func buildCLI(t *testing.T, root string) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "lenskit")
	cmd := exec.Command("go", "build", "-o", exe, "./cmd/lenskit")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOEXPERIMENT=simd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the lenskit command: %v\n%s", err, out)
	}
	return exe
}

func runCLI(t *testing.T, cli string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(cli, append(args, "--json")...).Output()
	if err != nil {
		t.Fatalf("lenskit %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// openExplorer opens 00-explore in a new browser, runs its cells and waits
// until the explorer answers.
func openExplorer(t *testing.T, chromium string, srv *server) *explorerTab {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("hide-scrollbars", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(viewW, viewH))
	t.Cleanup(cancelAlloc)
	tab, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	// The tab lives as long as the context of its first action: start it
	// without a deadline; later steps get deadlines of their own.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	console := &syncBuffer{}
	messages := chromedp.Console(tab)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			fmt.Fprintf(console, "%s: %.300s\n", m.Type, m.Text)
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			s := console.String()
			t.Logf("browser console (last 6000 bytes):\n%s", s[max(0, len(s)-6000):])
		}
	})
	page := srv.URL + "/notebooks/" + url.PathEscape(exploreNotebook) + "?token=" + url.QueryEscape(srv.Token)
	err := chromedp.Do(withTimeout(t, tab, 2*time.Minute),
		chromedp.EmulateViewport(viewW, viewH),
		chromedp.Navigate(page),
		void(chromedp.Poll[bool](jsKernelReady, chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(0))),
	)
	if err != nil {
		t.Fatalf("opening %s: %v", page, err)
	}
	if _, err := chromedp.Run(withTimeout(t, tab, jsLimit), chromedp.Evaluate[bool](jsRunAll)); err != nil {
		t.Fatal(err)
	}
	x := &explorerTab{ctx: tab}
	start := time.Now()
	// Ready, or ended before a page could drive it ("explorer ended: …"
	// in its output): the latter fails at once, with the reason, rather
	// than after runCells.
	_, err = chromedp.Run(withTimeout(t, tab, runCells),
		chromedp.Poll[bool](`((`+jsExplore+`)() && window.__lkxTest.ready()) || document.body.innerText.includes("explorer ended:")`,
			chromedp.WithPollingInterval(300*time.Millisecond), chromedp.WithPollingTimeout(0)))
	if err == nil {
		if ended, _ := chromedp.Run(withTimeout(t, tab, jsLimit), chromedp.Evaluate[bool](`document.body.innerText.includes("explorer ended:")`)); ended {
			err = errors.New("the explorer ended before the page could drive it")
		}
	}
	if err != nil {
		st, _ := chromedp.Run(withTimeout(t, tab, jsLimit), chromedp.Evaluate[string](`Jupyter.notebook.get_cells().map(c => c.output_area ? c.output_area.element[0].innerText.slice(0, 600) : "").join("\n---\n")`))
		t.Fatalf("the explorer did not come up: %v\n%s", err, st)
	}
	t.Logf("explorer ready %.1f s after Run All", time.Since(start).Seconds())
	return x
}

// eval evaluates expr with the page helpers in scope; zero gives the
// result's type.
func (x *explorerTab) eval(t *testing.T, expr string, zero any) any {
	t.Helper()
	js := `(async () => { (` + jsExplore + `)(); with (window.__lkxTest) { return await (` + expr + `); } })()`
	var err error
	switch zero.(type) {
	case bool:
		var v bool
		v, err = chromedp.Run(withTimeout(t, x.ctx, exploreWait), chromedp.Evaluate[bool](js, chromedp.EvalAwaitPromise))
		if err == nil {
			return v
		}
	case string:
		var v string
		v, err = chromedp.Run(withTimeout(t, x.ctx, exploreWait), chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err == nil {
			return v
		}
	default:
		var v float64
		v, err = chromedp.Run(withTimeout(t, x.ctx, exploreWait), chromedp.Evaluate[float64](js, chromedp.EvalAwaitPromise))
		if err == nil {
			return v
		}
	}
	t.Fatalf("%s: %v", expr, err)
	return nil
}

// act performs an action and returns the time until the result block shows
// sel (and k, unless 0), redrawn after the action.
func (x *explorerTab) act(t *testing.T, what, action, sel string, k int) timing {
	t.Helper()
	ms := x.eval(t, fmt.Sprintf(`act(() => %s, %q, %d)`, action, sel, k), 0).(float64)
	kernel := x.eval(t, `handled()`, "").(string)
	t.Logf("%s: %s shown after %.0f ms in the page (the kernel's side: %s ms)", what, sel, ms, kernel)
	return timing{what, ms}
}

// form performs an action and waits for the form's message of the given
// kind ("ok", "error") containing want.
func (x *explorerTab) form(t *testing.T, action, kind, want string) {
	t.Helper()
	msg := x.eval(t, fmt.Sprintf(`formMessage(() => %s, %q)`, action, kind), "").(string)
	if !strings.Contains(msg, want) {
		t.Errorf("%s: the form says %q, want %q", action, msg, want)
	}
}

var tokenID = regexp.MustCompile(`(?:^|· )id (\d+) `)

// checkPairs compares the shown table's token ids with the command's.
func (x *explorerTab) checkPairs(t *testing.T, cli, sel string, args []string) {
	t.Helper()
	var want struct {
		Pairs []struct {
			SourceID int `json:"source_id"`
			TargetID int `json:"target_id"`
		} `json:"pairs"`
	}
	if err := json.Unmarshal(runCLI(t, cli, args...), &want); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := json.Unmarshal([]byte(x.eval(t, `JSON.stringify(pairTitles())`, "").(string)), &got); err != nil {
		t.Fatal(err)
	}
	var gotIDs, wantIDs []string
	for _, s := range got {
		if m := tokenID.FindStringSubmatch(s); m != nil {
			gotIDs = append(gotIDs, m[1])
		}
	}
	for _, p := range want.Pairs {
		wantIDs = append(wantIDs, fmt.Sprint(p.SourceID), fmt.Sprint(p.TargetID))
	}
	if !slices.Equal(gotIDs, wantIDs) {
		t.Errorf("%s: the table shows token ids %v, `lenskit %s` gives %v", sel, gotIDs, strings.Join(args, " "), wantIDs)
	}
}

// checkNeuron compares the shown neuron columns with the command's.
func (x *explorerTab) checkNeuron(t *testing.T, cli string, args []string) {
	t.Helper()
	var want map[string][]struct {
		ID int `json:"id"`
	}
	if err := json.Unmarshal(runCLI(t, cli, args...), &want); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := json.Unmarshal([]byte(x.eval(t, `JSON.stringify(pairTitles())`, "").(string)), &got); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, s := range got {
		if m := tokenID.FindStringSubmatch(s); m != nil {
			ids[m[1]] = true
		}
	}
	n := 0
	for side, col := range want {
		for _, tok := range col {
			n++
			if !ids[fmt.Sprint(tok.ID)] {
				t.Errorf("neuron column %s: token %d of `lenskit %s` is not shown", side, tok.ID, strings.Join(args, " "))
			}
		}
	}
	if n == 0 {
		t.Errorf("`lenskit %s` returned no tokens", strings.Join(args, " "))
	}
}

// checkSavedNote finds the label in the notes file and checks its evidence
// against the command's pairs.
func checkSavedNote(t *testing.T, path, cli string, args []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Model struct{ Hash string } `json:"model"`
		Notes []struct {
			Component, Label, Text, Weights string
			Tags                            []string
			Evidence                        struct {
				K      int
				Filter string
				Pairs  []struct{ Source, Target int }
			}
		} `json:"notes"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	var want struct {
		Pairs []struct {
			SourceID int `json:"source_id"`
			TargetID int `json:"target_id"`
		} `json:"pairs"`
	}
	if err := json.Unmarshal(runCLI(t, cli, args...), &want); err != nil {
		t.Fatal(err)
	}
	for _, n := range f.Notes {
		if n.Label != exploreLabel {
			continue
		}
		if n.Component != "3.1 OV" || n.Text != "attends to ale, writes której" || !slices.Equal(n.Tags, []string{"e2e", "pronouns"}) || n.Weights != f.Model.Hash {
			t.Errorf("saved note: %+v (file hash %s)", n, f.Model.Hash)
		}
		e := n.Evidence
		if e.K != 7 || e.Filter != "alnum+corpus(pl.txt,top=2000)" || len(e.Pairs) != len(want.Pairs) {
			t.Errorf("saved evidence: k %d, filter %q, %d pairs; want k 7, alnum+corpus(pl.txt,top=2000), %d pairs", e.K, e.Filter, len(e.Pairs), len(want.Pairs))
			return
		}
		for i, p := range want.Pairs {
			if e.Pairs[i].Source != p.SourceID || e.Pairs[i].Target != p.TargetID {
				t.Errorf("evidence pair %d: %d → %d, the command gives %d → %d", i, e.Pairs[i].Source, e.Pairs[i].Target, p.SourceID, p.TargetID)
			}
		}
		return
	}
	t.Errorf("no note labelled %q in %s", exploreLabel, path)
}

// search types a word, waits for the neuron hits and returns the first
// head hit's selection ("2.4 OV").
func (x *explorerTab) search(t *testing.T, word string) string {
	t.Helper()
	var r struct {
		Heads, Neurons int
		First          string
	}
	s := x.eval(t, fmt.Sprintf(`search(%q)`, word), "").(string)
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatalf("search: %v (%s)", err, s)
	}
	t.Logf("search %q: %d head hits, %d neuron hits; first %s", word, r.Heads, r.Neurons, r.First)
	if r.Heads == 0 || r.Neurons == 0 {
		t.Fatalf("search %q found %d heads and %d neurons", word, r.Heads, r.Neurons)
	}
	return r.First
}

// widgets checks the widgets' values (they follow selections made on the
// map and in the search).
func (x *explorerTab) widgets(t *testing.T, when string, want map[string]string) {
	t.Helper()
	for slot, v := range want {
		if got := x.eval(t, fmt.Sprintf(`widgetValue(%q, %q)`, slot, v), "").(string); got != v {
			t.Errorf("%s: the %s widget shows %q, want %q", when, slot, got, v)
		}
	}
}

// mapStat chooses the map's statistic and waits until every head and
// layer of it is computed.
func (x *explorerTab) mapStat(t *testing.T, option, stat string) {
	t.Helper()
	if !x.eval(t, fmt.Sprintf(`mapStat(%q, %q)`, option, stat), true).(bool) {
		t.Fatalf("the map did not show %s", stat)
	}
}

// waitChart waits until the result's heatmap is drawn.
func (x *explorerTab) waitChart(t *testing.T) {
	t.Helper()
	if !x.eval(t, `chartDrawn()`, true).(bool) {
		t.Errorf("the heatmap of the selection was not drawn")
	}
}

// shoot writes a screenshot of the explorer's output.
func (x *explorerTab) shoot(t *testing.T, name string) {
	t.Helper()
	if *exploreShots == "" {
		return
	}
	// A viewport tall enough for the whole cell: the notebook scrolls
	// inside the page, and only what is in the viewport is painted.
	if err := chromedp.Do(withTimeout(t, x.ctx, jsLimit), chromedp.EmulateViewport(viewW, 2400)); err != nil {
		t.Fatal(err)
	}
	x.eval(t, `markShot()`, true)
	png, err := chromedp.Run(withTimeout(t, x.ctx, jsLimit), chromedp.Screenshot("#lkx-shot"))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := chromedp.Do(withTimeout(t, x.ctx, jsLimit), chromedp.EmulateViewport(viewW, viewH)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(*exploreShots, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// done presses Done and waits for the static state and the next cell.
func (x *explorerTab) done(t *testing.T) {
	t.Helper()
	s := x.eval(t, `done()`, "").(string)
	if !strings.Contains(s, "static copy of its last state") {
		t.Errorf("after Done the explorer's cell shows %q, want its static state", s)
	}
}

// rerun runs the explorer's cell again and waits until it answers.
func (x *explorerTab) rerun(t *testing.T) {
	t.Helper()
	if !x.eval(t, `rerun()`, true).(bool) {
		t.Fatal("the explorer did not come up again")
	}
}

// interrupt interrupts the kernel and waits for the static state.
func (x *explorerTab) interrupt(t *testing.T) {
	t.Helper()
	s := x.eval(t, `interrupt()`, "").(string)
	if !strings.Contains(s, "explorer ended: interrupted") || !strings.Contains(s, "static copy of its last state") {
		t.Errorf("after the interrupt the explorer's cell shows %q, want its static state", s)
	}
}

// jsExplore installs window.__lkxTest, the page helpers the test calls.
const jsExplore = `function() {
if (window.__lkxTest) return true;
const sleep = ms => new Promise(r => setTimeout(r, ms));
const cell = tag => Jupyter.notebook.get_cells().find(c => (c.metadata.tags || []).includes(tag));
const out = () => cell("explore").output_area.element[0];
const id = () => { const c = out().querySelector("[data-lkx-controls]"); return c ? c.getAttribute("data-lkx-controls") : ""; };
const q = s => out().querySelector(s);
const result = () => q('[data-lkx-result="' + id() + '"]');
async function until(f, what) {
	for (const t0 = performance.now(); performance.now() - t0 < 100000; await sleep(5)) {
		const v = f(); if (v) return v;
	}
	throw new Error("timed out waiting for " + what);
}
window.__lkxTest = {
	ready: () => !!(id() && q('[data-lkx-slot="done"] button') && q('[data-lkx-slot="k"] input') && result()),
	select: (slot, v) => { const e = q('[data-lkx-slot="' + slot + '"] select'); e.value = v; e.dispatchEvent(new Event("change", {bubbles: true})); },
	slide: (slot, v) => { const e = q('[data-lkx-slot="' + slot + '"] input'); e.value = String(v); e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); },
	click: s => { const e = q('[data-lkx="' + id() + '"]' + s.replace(/^td/, "")) || q(s); e.click(); },
	toggle: (name, on) => { const e = q('[data-lkx-name="' + name + '"]'); e.checked = on; e.dispatchEvent(new Event("change", {bubbles: true})); },
	neuron: i => { const e = q('[data-lkx-act="nindex"]'); e.value = String(i); e.dispatchEvent(new Event("change", {bubbles: true})); },
	field: (f, v) => { q('[data-lkx-field="' + f + '"]').value = v; },
	save: (label, text, tags) => { const s = window.__lkxTest; s.field("label", label); s.field("text", text); s.field("tags", tags); q('[data-lkx-act="save"]').click(); },
	async act(f, sel, k) {
		const before = result(); const seq0 = before ? +before.getAttribute("data-lkx-seq") : -1;
		const t0 = performance.now();
		f();
		await until(() => { const r = result(); return r && +r.getAttribute("data-lkx-seq") > seq0 && r.getAttribute("data-lkx-sel") === sel &&
			(!k || r.getAttribute("data-lkx-k") === String(k)); }, "the result " + sel);
		return performance.now() - t0;
	},
	async formMessage(f, kind) {
		const old = q("[data-lkx-form]");
		f();
		const m = await until(() => { const fm = q("[data-lkx-form]"); return fm && fm !== old && fm.querySelector('[data-lkx-msg="' + kind + '"]'); }, "a form message");
		return m.textContent;
	},
	handled: async () => { await sleep(200); const s = q("[data-lkx-status]"); return s ? s.getAttribute("data-lkx-handled") || "?" : "?"; },
	async widgetValue(slot, want) {
		const e = () => q('[data-lkx-slot="' + slot + '"] select');
		try { await until(() => e() && e().value === want, "the widget"); } catch (err) {}
		return e() ? e().value : "";
	},
	resultRows: () => result().querySelectorAll("table tbody tr").length,
	pairTitles: () => Array.from(result().querySelectorAll("table tbody td[title]")).map(td => td.getAttribute("title")),
	async outlined(key) {
		try { await until(() => { const e = q('[data-lkx="' + id() + '"][data-lkx-key="' + key + '"]'); return !!e && e.classList.contains("lk-sel"); }, "the outline"); return true; } catch (e) { return false; }
	},
	cellColor: key => getComputedStyle(q('[data-lkx="' + id() + '"][data-lkx-key="' + key + '"]')).backgroundColor,
	async colorChange(key, before) {
		try { await until(() => window.__lkxTest.cellColor(key) !== before, "map cell " + key + " to change colour"); } catch (e) {}
		return window.__lkxTest.cellColor(key);
	},
	async chartDrawn() { await until(() => result().querySelector("[data-lenskit-drawn] canvas"), "the heatmap"); return true; },
	async search(word) {
		const old = q("[data-lkx-search]");
		q('[data-lkx-field="q"]').value = word;
		q('[data-lkx-act="search"]').click();
		const s = await until(() => { const s = q("[data-lkx-search]"); const n = s && s.querySelector("[data-lkx-nhits]");
			return s !== old && n && n.getAttribute("data-lkx-nhits") !== "pending" && s; }, "the neuron hits");
		const hits = Array.from(s.querySelectorAll('[data-lkx-act="hit"]'));
		const heads = hits.filter(h => h.dataset.v !== "neuron");
		const first = heads[0];
		return JSON.stringify({Heads: heads.length, Neurons: hits.length - heads.length,
			First: first ? first.dataset.l + "." + first.dataset.i + " " + first.dataset.v : ""});
	},
	clickHit: i => { Array.from(q("[data-lkx-search]").querySelectorAll('[data-lkx-act="hit"]')).filter(h => h.dataset.v !== "neuron")[i].click(); },
	async markShot() { document.querySelectorAll("#lkx-shot").forEach(e => e.removeAttribute("id")); const c = cell("explore").element[0]; c.id = "lkx-shot"; c.scrollIntoView(); await sleep(500); return true; },
	async done() {
		q('[data-lkx-slot="done"] button').click();
		const s = await until(() => out().querySelector("[data-lkx-static]") && !result() && cell("after").input_prompt_number !== "*" &&
			typeof cell("after").input_prompt_number === "number" && out().querySelector("[data-lkx-static]"), "the static state and the next cell");
		return s.innerText;
	},
	async rerun() {
		const c = cell("explore");
		Jupyter.notebook.select(Jupyter.notebook.find_cell_index(c));
		c.execute();
		await until(() => !out().querySelector("[data-lkx-static]") && window.__lkxTest.ready(), "the explorer to come up again");
		return true;
	},
	async interrupt() {
		Jupyter.notebook.kernel.interrupt();
		const s = await until(() => out().querySelector("[data-lkx-static]") && typeof cell("explore").input_prompt_number === "number" && out(), "the static state after the interrupt");
		return s.innerText;
	},
	async mapStat(option, stat) {
		window.__lkxTest.select("stat", option);
		await until(() => { const m = q('[data-lkx-map="' + id() + '"]'); return m && m.getAttribute("data-lkx-stat") === stat && !/computed\)/.test(m.innerText); }, "the map of " + stat);
		return true;
	},
	cellTitle: key => q('[data-lkx="' + id() + '"][data-lkx-key="' + key + '"]').getAttribute("title"),
	statusText: () => { const s = q("[data-lkx-status]"); return s ? s.innerText : ""; },
	result: () => result(),
	async cellText(tag) {
		// The reply that numbers a cell can come before its output.
		const text = () => cell(tag).output_area.element[0].innerText;
		try { await until(() => text().trim() !== "", "the output of " + tag); } catch (e) {}
		return text();
	},
};
return true;
}`
