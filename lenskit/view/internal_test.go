package view

import (
	"bytes"
	"encoding/gob"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/janpfeifer/gonb/gonbui/protocol"
	"lenskit.dev/lenskit/project"
)

func TestEmbeddedAssetMatchesChecksum(t *testing.T) {
	got, want := verifyAsset()
	if got != want {
		t.Fatalf("assets/echarts.min.js sha256 %s, recorded %s: re-run assets/update.sh", got, want)
	}
	if EChartsVersion != "6.1.0" {
		t.Errorf("EChartsVersion %q", EChartsVersion)
	}
}

func TestIntensityMonotone(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	scores := make([]float64, 200)
	for i := range scores {
		scores[i] = r.NormFloat64() * 5
	}
	m := newMagnitudeRange(scores)
	sort.Slice(scores, func(i, j int) bool { return math.Abs(scores[i]) < math.Abs(scores[j]) })
	prev := -1.0
	for _, s := range scores {
		a := m.intensity(s)
		if a < prev || a < 0.12 || a > 0.85 {
			t.Fatalf("intensity(%v) = %v after %v", s, a, prev)
		}
		prev = a
	}
	if m.intensity(scores[0]) != 0.12 || m.intensity(scores[len(scores)-1]) != 0.85 {
		t.Error("extremes do not span the intensity range")
	}
	// One score (or all equal): full intensity, no division by zero.
	if a := newMagnitudeRange([]float64{3, 3}).intensity(3); a != 0.85 {
		t.Errorf("flat range intensity %v", a)
	}
}

// swapOutputs points Show's outputs at buffers for one test.
func swapOutputs(t *testing.T, notebook bool) (out, errb *bytes.Buffer, shown *[]string) {
	out, errb, shown = &bytes.Buffer{}, &bytes.Buffer{}, &[]string{}
	oldOut, oldErr, oldNB, oldDisp := stdout, stderr, inNotebook, displayHTML
	stdout, stderr = out, errb
	inNotebook = func() bool { return notebook }
	displayHTML = func(h string) { *shown = append(*shown, h) }
	t.Cleanup(func() { stdout, stderr, inNotebook, displayHTML = oldOut, oldErr, oldNB, oldDisp })
	return
}

func TestShowInTerminal(t *testing.T) {
	out, errb, shown := swapOutputs(t, false)
	r := &project.PairTop{Head: project.HeadID{Layer: 1, Head: 2}, K: 0}
	Show(Pairs(nil, r))
	Show(nil)
	var nilTable *NeuronTable
	Show(nilTable)
	ShowError(errors.New("file model.safetensors: tensor h.0.attn: bad shape"))
	ShowError(nil)
	if out.String() != Pairs(nil, r).String() {
		t.Errorf("stdout %q", out.String())
	}
	if errb.String() != "error: file model.safetensors: tensor h.0.attn: bad shape\n" {
		t.Errorf("stderr %q", errb.String())
	}
	if len(*shown) != 0 {
		t.Error("HTML displayed outside a notebook")
	}
}

func TestShowInNotebookSwitchesToHTML(t *testing.T) {
	out, errb, shown := swapOutputs(t, true)
	Show(LayerHeadMap("m", 1, 1, func(int, int) (float64, string) { return 1, "" }))
	ShowError(errors.New("x < y"))
	if out.Len() != 0 || errb.Len() != 0 {
		t.Errorf("text written in a notebook: %q %q", out, errb)
	}
	if len(*shown) != 2 || !strings.Contains((*shown)[0], "echarts") || !strings.Contains((*shown)[1], "x &lt; y") {
		t.Errorf("displayed %d outputs", len(*shown))
	}
}

// The real GoNB path: a child test process started with GoNB's pipe
// environment variables (pointing at plain files) sends its displays
// through gonbui, and the parent decodes what GoNB would have received.
func TestShowThroughGoNBPipe(t *testing.T) {
	if os.Getenv("LENSKIT_VIEW_GONB_CHILD") == "1" {
		// No GoNB answers here; a real Sync would wait for its ack forever.
		synced := 0
		syncNotebook = func() { synced++ }
		defer func() {
			if synced != 3 {
				t.Errorf("Sync called %d times, want 3 (Show, ShowError, Progress.Done)", synced)
			}
		}()
		Show(Neuron(nil, &project.NeuronTop{Neuron: project.NeuronID{Layer: 3, Index: 4}, K: 1}))
		ShowError(errors.New("boom"))
		p := NewProgress("scan", 10)
		p.Add(10)
		p.Done()
		return
	}
	dir := t.TempDir()
	w, back := dir+"/gonb_pipe", dir+"/gonb_back"
	for _, f := range []string{w, back} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestShowThroughGoNBPipe$")
	cmd.Env = append(os.Environ(), "LENSKIT_VIEW_GONB_CHILD=1", protocol.GONB_PIPE_ENV+"="+w, protocol.GONB_PIPE_BACK_ENV+"="+back)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	} else if strings.Contains(string(out), "L3/N4") {
		t.Errorf("child printed text instead of sending HTML:\n%s", out)
	}
	f, err := os.Open(w)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := gob.NewDecoder(f)
	var msgs []protocol.DisplayData
	for {
		var d protocol.DisplayData
		if err := dec.Decode(&d); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, d)
	}
	if len(msgs) < 4 {
		t.Fatalf("GoNB received %d messages, want neuron, error and ≥ 2 progress updates", len(msgs))
	}
	html := func(i int) string { s, _ := msgs[i].Data[protocol.MIMETextHTML].(string); return s }
	if !strings.Contains(html(0), "L3/N4") || msgs[0].DisplayID != "" {
		t.Errorf("first message %+v", msgs[0])
	}
	if !strings.Contains(html(1), "boom") || !strings.Contains(html(1), "#c62828") {
		t.Errorf("error message %q", html(1))
	}
	last := msgs[len(msgs)-1]
	if last.DisplayID == "" || last.DisplayID != msgs[2].DisplayID || !strings.Contains(html(len(msgs)-1), "done 10/10") {
		t.Errorf("progress: first id %q, last %+v", msgs[2].DisplayID, last)
	}
}

// fakeClock advances only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestProgressRateLimit(t *testing.T) {
	for _, c := range []struct {
		mode     progressMode
		maxDraws int // over 2 s of work in 1 ms steps, final draw included
	}{
		{modeTerminal, 2000/100 + 2},
		{modeNotebook, 2000/100 + 3}, // plus the bar drawn at creation
		{modePlain, 2000/5000 + 1},
	} {
		clk := &fakeClock{t: time.Unix(1000, 0)}
		var buf bytes.Buffer
		var updates []string
		old := updateHTML
		updateHTML = func(id, h string) { updates = append(updates, id+" "+h) }
		p := newProgress("corpus tokens", 2000, c.mode, &buf, clk.now)
		for range 2000 {
			clk.advance(time.Millisecond)
			p.Add(1)
		}
		p.Done()
		p.Done()
		p.Add(5) // after Done: nothing drawn
		updateHTML = old
		if p.draws > c.maxDraws || p.draws < 2 && c.mode != modePlain {
			t.Errorf("mode %d: %d redraws for 2000 updates in 2 s, want ≤ %d", c.mode, p.draws, c.maxDraws)
		}
		switch c.mode {
		case modeTerminal:
			s := buf.String()
			final := s[strings.LastIndex(s, "\r"):]
			if !strings.HasPrefix(s, "\r") || strings.TrimRight(final, " \n") != "\rcorpus tokens [##############################] done 2000/2000 in 2s" ||
				!strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
				t.Errorf("terminal output %q", s[max(0, len(s)-200):])
			}
			if !strings.Contains(s, "[###############...............]") {
				t.Error("no half-full bar in terminal output")
			}
		case modeNotebook:
			if len(updates) != p.draws || !strings.Contains(updates[len(updates)-1], "done 2000/2000 in 2s") {
				t.Errorf("%d notebook updates, last %q", len(updates), updates[len(updates)-1])
			}
			id := strings.Fields(updates[0])[0]
			for _, u := range updates {
				if !strings.HasPrefix(u, id+" ") {
					t.Errorf("update to a different display id: %.60q", u)
				}
			}
		case modePlain:
			if buf.String() != "corpus tokens: done 2000/2000 in 2s\n" {
				t.Errorf("plain output %q", buf.String())
			}
		}
	}
}

func TestProgressPlainLinesAreSparse(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	var buf bytes.Buffer
	p := newProgress("heads", 0, modePlain, &buf, clk.now)
	for range 60 {
		clk.advance(time.Second)
		p.Add(3)
	}
	p.Done()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 60/5+1 {
		t.Errorf("%d lines for 60 s of work, want one per 5 s and a final one:\n%s", len(lines), buf.String())
	}
	if lines[0] != "heads: 15 · 5s · 3/s" || lines[len(lines)-1] != "heads: done 180 in 1m0s" {
		t.Errorf("lines %q … %q", lines[0], lines[len(lines)-1])
	}
}

func TestProgressConcurrentAdds(t *testing.T) {
	var buf syncBuffer
	p := newProgress("many heads", 8*10000, modeTerminal, &buf, time.Now)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10000 {
				p.Add(1)
			}
		}()
	}
	wg.Wait()
	p.Done()
	if got := p.done.Load(); got != 80000 {
		t.Errorf("count %d after 80000 concurrent Adds", got)
	}
	if s := buf.String(); !strings.Contains(s, "done 80000/80000") {
		t.Errorf("final line missing: %q", s[max(0, len(s)-120):])
	}
}

// Func adapts Progress to callbacks that report an absolute count and a
// total.
func TestProgressFunc(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	var buf bytes.Buffer
	p := newProgress("tokens", 0, modeTerminal, &buf, clk.now)
	f := p.Func()
	f(5, 50)
	clk.advance(time.Second)
	f(25, 0) // an unknown total keeps the last one
	if p.total.Load() != 50 || p.done.Load() != 25 {
		t.Errorf("done/total %d/%d", p.done.Load(), p.total.Load())
	}
	if !strings.Contains(buf.String(), "25/50 (50.0%) · 1s · ETA 1s") {
		t.Errorf("output %q", buf.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// A categorical map gets discrete colours and a legend of the categories'
// labels, not a continuous scale.
func TestHeatmapCategories(t *testing.T) {
	h := &Heatmap{
		Title: "notes", XLabels: []string{"0", "1"}, YLabels: []string{"0"},
		Values:     [][]float64{{1, math.NaN()}},
		Categories: []Category{{1, "OV only", "#6baed6"}, {2, "QK only", "#fd8d3c"}},
	}
	vm, ok := h.option()["visualMap"].(map[string]any)
	if !ok || vm["type"] != "piecewise" {
		t.Fatalf("visualMap %v", h.option()["visualMap"])
	}
	pieces := vm["pieces"].([]map[string]any)
	if len(pieces) != 2 || pieces[0]["label"] != "OV only" || pieces[1]["color"] != "#fd8d3c" || pieces[0]["value"] != 1.0 {
		t.Errorf("pieces %v", pieces)
	}
	if html := h.HTML(); !strings.Contains(html, "OV only") {
		t.Error("the legend label is not in the chart")
	}
}
