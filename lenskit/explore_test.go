package lenskit

import (
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"lenskit.dev/lenskit/checkpoint/synth"
	"lenskit.dev/lenskit/notes"
	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/view"
)

// These tests drive the explorer's core the way the page does — through
// events — with a recording front end in place of GoNB, and check what it
// draws against results computed independently through the facade.

// recFront records the explorer's blocks and selection messages.
type recFront struct {
	mu      sync.Mutex
	blocks  map[string]string
	syncs   []exploreSync
	updates map[string]int
}

func newRecFront() *recFront {
	return &recFront{blocks: map[string]string{}, updates: map[string]int{}}
}

func (f *recFront) update(block, html string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocks[block] = html
	f.updates[block]++
}

func (f *recFront) sync(s exploreSync) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncs = append(f.syncs, s)
}

func (f *recFront) block(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blocks[name]
}

func (f *recFront) lastSync() exploreSync {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.syncs[len(f.syncs)-1]
}

var (
	tinyOnce sync.Once
	tiny     *Model
	tinyErr  error
)

// tinyModel is the embedded model, loaded once for the package's tests.
func tinyModel(t *testing.T) *Model {
	t.Helper()
	tinyOnce.Do(func() { tiny, tinyErr = Load("") })
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tiny
}

// newTestExplorer makes an explorer of m with a notes file of its own in a
// temporary directory, and draws its first state.
func newTestExplorer(t *testing.T, m *Model, opts ...ExploreOption) (*explorer, *recFront, *Notes) {
	t.Helper()
	book, err := m.Notes(filepath.Join(t.TempDir(), "notes", "m.lenskit-notes.json"))
	if err != nil {
		t.Fatal(err)
	}
	book.Author = "test"
	x, err := newExplorer(m, nil, append([]ExploreOption{ExploreNotes(book)}, opts...))
	if err != nil {
		t.Fatal(err)
	}
	f := newRecFront()
	x.front = f
	x.handle()
	t.Cleanup(func() { x.stopJob(); x.waitJob() })
	return x, f, book
}

func widget(name string, v int) exploreEvent {
	return exploreEvent{Ev: "widget", Name: name, Value: strconv.Itoa(v)}
}

var (
	pairRow   = regexp.MustCompile(`<tr><td class="lk-num">(\d+)</td><td title="[^"]*">([^<]*)</td><td class="lk-arrow">[^<]*</td><td title="[^"]*">([^<]*)</td>`)
	resultSel = regexp.MustCompile(`data-lkx-sel="([^"]*)" data-lkx-k="(\d+)" data-lkx-rows="(\d+)"`)
)

// shownPairs reads the (source, target) texts of the pair table in a
// result block.
func shownPairs(block string) [][2]string {
	var out [][2]string
	for _, m := range pairRow.FindAllStringSubmatch(block, -1) {
		out = append(out, [2]string{html.UnescapeString(m[2]), html.UnescapeString(m[3])})
	}
	return out
}

// wantPairs is what a pair table of r must show.
func wantPairs(m *Model, r *PairResult) [][2]string {
	var out [][2]string
	for _, p := range r.Pairs {
		out = append(out, [2]string{view.Visible(m.Vocab.Text(p.Source)), view.Visible(m.Vocab.Text(p.Target))})
	}
	return out
}

func checkShows(t *testing.T, f *recFront, sel string, k int) {
	t.Helper()
	m := resultSel.FindStringSubmatch(f.block(blockResult))
	if m == nil {
		t.Fatalf("the result block has no selection attributes:\n%.500s", f.block(blockResult))
	}
	if m[1] != sel || m[2] != strconv.Itoa(k) {
		t.Errorf("the result block shows %s with k %s, want %s with k %d", m[1], m[2], sel, k)
	}
}

func TestExploreHeadSelection(t *testing.T) {
	m := tinyModel(t)
	x, f, _ := newTestExplorer(t, m, ExploreFilters(Alnum()), ExploreHead(project.OV, 0, 0))
	lens := m.Lens(Alnum())

	// The widgets select layer 2, then head 4: the table is 2.4's.
	x.handle(widget("layer", 2))
	x.handle(widget("head", 4))
	checkShows(t, f, "2.4 OV", 20)
	want := wantPairs(m, lens.OV(2, 4).Top(20))
	if got := shownPairs(f.block(blockResult)); !slices.Equal(got, want) {
		t.Errorf("2.4 OV shows\n%q\nwant\n%q", got, want)
	}
	if !strings.Contains(f.block(blockResult), "2.4 W_OV top 30 (source × target)") && !strings.Contains(f.block(blockResult), "2.4 W_OV top 20 (source × target)") {
		t.Errorf("the result block has no heatmap of 2.4's pairs")
	}
	if strings.Contains(f.block(blockResult), "DecompressionStream") {
		t.Errorf("a live heatmap inlines the chart library again")
	}

	// A click on the map selects another head.
	x.handle(exploreEvent{Ev: "head", Layer: "1", Index: "5"})
	checkShows(t, f, "1.5 OV", 20)
	if got, want := shownPairs(f.block(blockResult)), wantPairs(m, lens.OV(1, 5).Top(20)); !slices.Equal(got, want) {
		t.Errorf("1.5 OV shows %q, want %q", got, want)
	}
	s := f.lastSync()
	if s.Head != "h:1:5" || s.Widgets["layer"] != 1 || s.Widgets["head"] != 5 {
		t.Errorf("after a map click the page is told %+v, want head h:1:5 and widgets layer 1, head 5", s)
	}

	// The k slider: 7 rows.
	x.handle(widget("k", 7))
	checkShows(t, f, "1.5 OV", 7)
	if got := shownPairs(f.block(blockResult)); len(got) != 7 {
		t.Errorf("k = 7 shows %d rows", len(got))
	}

	// QK, bottom: the table is the bottom 7 of 1.5's QK view.
	x.handle(widget("view", 1), widget("order", 1))
	checkShows(t, f, "1.5 QK", 7)
	if got, want := shownPairs(f.block(blockResult)), wantPairs(m, lens.QK(1, 5).Bottom(7)); !slices.Equal(got, want) {
		t.Errorf("1.5 QK bottom 7 shows %q, want %q", got, want)
	}

	// Switching Alnum off and exclude-same on.
	x.handle(widget("order", 0), widget("view", 0),
		exploreEvent{Ev: "toggle", Name: "alnum", On: false}, exploreEvent{Ev: "toggle", Name: "same", On: true})
	ref := m.Lens(ExcludeSame()).OV(1, 5).Top(7)
	if got, want := shownPairs(f.block(blockResult)), wantPairs(m, ref); !slices.Equal(got, want) {
		t.Errorf("exclude-same shows %q, want %q", got, want)
	}
	if !strings.Contains(f.block(blockStatus), "1.5 OV top 7 · exclude-same") {
		t.Errorf("status: %s", f.block(blockStatus))
	}
}

func TestExploreNeuron(t *testing.T) {
	m := tinyModel(t)
	x, f, _ := newTestExplorer(t, m, ExploreFilters(Alnum()), ExploreHead(project.OV, 2, 4), ExploreK(12))
	x.handle(widget("view", 2))
	checkShows(t, f, "L2/N0 K+V", 12)
	x.handle(exploreEvent{Ev: "neuron", Index: "150"})
	checkShows(t, f, "L2/N150 K+V", 12)
	want := m.Lens(Alnum()).Neuron(2, 150).Top(12)
	for _, side := range want.Sides() {
		for _, tok := range want.Columns[side] {
			if !strings.Contains(f.block(blockResult), html.EscapeString(m.Vocab.Display(tok.ID))) {
				t.Errorf("column %v token %q not shown", side, m.Vocab.Display(tok.ID))
			}
		}
	}
	if s := f.lastSync(); s.Neuron != neuronCellKey(2, bucketOf(150, m.Arch().DFF)) || s.Index != 150 {
		t.Errorf("page told %+v", s)
	}
	// A click on a neuron cell of the map.
	x.handle(exploreEvent{Ev: "neuron", Layer: "3", Index: "12"})
	checkShows(t, f, "L3/N12 K+V", 12)
	// The form offers the neuron's sides.
	if !strings.Contains(f.block(blockForm), `data-lkx-field="part"`) {
		t.Errorf("the neuron form has no side selector")
	}
}

// TestExploreBadInput: every bad entry gets a message in the form, and the
// explorer keeps answering.
func TestExploreBadInput(t *testing.T) {
	m := tinyModel(t)
	x, f, book := newTestExplorer(t, m, ExploreHead(project.OV, 2, 4))
	msg := regexp.MustCompile(`data-lkx-msg="error">([^<]*)<`)
	long := strings.Repeat("ż", 50_000) // 100 kB
	for _, tc := range []struct {
		name string
		ev   exploreEvent
		want string
	}{
		{"empty label", exploreEvent{Ev: "save", Label: "  "}, "the label is empty"},
		{"100 kB label", exploreEvent{Ev: "save", Label: long}, "the label is 50000 characters, more than 200"},
		{"invalid UTF-8 text", exploreEvent{Ev: "save", Label: "ok", Text: "abc\xff\xfedef"}, "the text is not valid UTF-8 (byte 3"},
		{"invalid UTF-8 label", exploreEvent{Ev: "save", Label: "a\xc3"}, "the label is not valid UTF-8"},
		{"two-line label", exploreEvent{Ev: "save", Label: "one\ntwo"}, "a label is one line"},
		{"long tag", exploreEvent{Ev: "save", Label: "ok", Tags: strings.Repeat("t", 65)}, "more than 64"},
		{"neuron out of range", exploreEvent{Ev: "neuron", Index: "99999"}, "neuron index (layer 2) 99999 out of range: want 0..1023"},
		{"neuron not a number", exploreEvent{Ev: "neuron", Index: "12a"}, `neuron index (layer 2) "12a" is not a whole number`},
		{"layer out of range", exploreEvent{Ev: "head", Layer: "9", Index: "0"}, "layer 9 out of range: want 0..3"},
		{"negative head", exploreEvent{Ev: "head", Layer: "1", Index: "-1"}, "head -1 out of range"},
		{"widget out of range", widget("k", 1000), "k: value 1000 out of range (1..100)"},
		{"unknown switch", exploreEvent{Ev: "toggle", Name: "<script>"}, `unknown filter switch "<script>"`},
		{"unknown event", exploreEvent{Ev: "rm -rf"}, `unknown event "rm -rf"`},
		{"unknown part", exploreEvent{Ev: "save", Label: "ok", Part: "Q"}, ""}, // heads have no part: saved
	} {
		t.Run(tc.name, func(t *testing.T) {
			x.handle(tc.ev)
			got := msg.FindStringSubmatch(f.block(blockForm))
			if tc.want == "" {
				if got != nil {
					t.Errorf("message %q, want none", got[1])
				}
				return
			}
			if got == nil {
				t.Fatalf("no error message in the form:\n%.800s", f.block(blockForm))
			}
			if text := html.UnescapeString(got[1]); !strings.Contains(text, tc.want) {
				t.Errorf("message %q, want it to contain %q", text, tc.want)
			} else if len(text) > 600 {
				t.Errorf("message of %d bytes quotes too much of the entry", len(text))
			}
			// The explorer still answers, on the same selection.
			checkShows(t, f, "2.4 OV", 20)
		})
	}
	// Only the last case saved a note; nothing else reached the file.
	list, err := book.List(notes.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Label != "ok" {
		t.Errorf("notes file holds %d notes (%v), want the one valid save", len(list), list)
	}
	x.handle(exploreEvent{Ev: "head", Layer: "3", Index: "1"})
	checkShows(t, f, "3.1 OV", 20)
}

// TestExploreLabel: the form records the note exactly as Notes.Label
// would, shows it, recolours the map, edits it, and refuses to overwrite
// an edit made elsewhere in the meantime.
func TestExploreLabel(t *testing.T) {
	m := tinyModel(t)
	x, f, book := newTestExplorer(t, m, ExploreFilters(Alnum()), ExploreHead(project.OV, 3, 1), ExploreK(9))
	cell := regexp.MustCompile(`<td class="lk-cell( lk-sel)?" style="background:([^;]*);[^"]*" title="[^"]*" [^>]*data-lkx-key="h:3:1">([^<]*)</td>`)
	before := cell.FindStringSubmatch(f.block(blockMap))
	if before == nil || before[3] != "" {
		t.Fatalf("map cell 3.1 before labelling: %q", before)
	}

	x.handle(exploreEvent{Ev: "save", Label: "  test label ", Text: "what it shows", Tags: "a, b,, a"})
	if !strings.Contains(f.block(blockForm), `data-lkx-msg="ok"`) || !strings.Contains(f.block(blockForm), "saved note") {
		t.Fatalf("no confirmation in the form:\n%.1000s", f.block(blockForm))
	}
	list, err := book.List(notes.Query{Component: "3.1 OV"})
	if err != nil || len(list) != 1 {
		t.Fatalf("notes on 3.1 OV: %v, %v", list, err)
	}
	got := list[0]

	// The reference: Notes.Label on the same result, in another file.
	ref, err := m.Notes(filepath.Join(t.TempDir(), "ref.json"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.Label(m.Lens(Alnum()).OV(3, 1).Top(9), "test label", "what it shows", "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	if got.Component != want.Component || got.Label != want.Label || got.Text != want.Text || !slices.Equal(got.Tags, want.Tags) ||
		got.Weights != want.Weights || !sameNote(got, want) {
		t.Errorf("the form recorded\n%+v\n%+v\nNotes.Label records\n%+v\n%+v", got, *got.Evidence, want, *want.Evidence)
	}
	after := cell.FindStringSubmatch(f.block(blockMap))
	if after == nil || after[2] != "#6baed6" || after[3] != "●" {
		t.Errorf("map cell 3.1 after labelling: %q, want the OV-noted colour and a mark", after)
	}
	if !strings.Contains(f.block(blockForm), "test label") || !strings.Contains(f.block(blockForm), `data-lkx-note="`+got.ID+`"`) {
		t.Errorf("the form does not show the note")
	}

	// Saving the same label again is idempotent (Notes.Label's rule).
	x.handle(exploreEvent{Ev: "new"}, exploreEvent{Ev: "save", Label: "test label", Text: "what it shows", Tags: "b,a"})
	if l, _ := book.List(notes.Query{}); len(l) != 1 || !l[0].Updated.Equal(got.Updated) {
		t.Errorf("saving the same note again changed the file: %v", l)
	}

	// Edit: load, change the text, save; the note keeps its id.
	x.handle(exploreEvent{Ev: "edit", ID: got.ID})
	if !strings.Contains(f.block(blockForm), "Editing note "+got.ID) {
		t.Fatalf("edit did not load the note:\n%.800s", f.block(blockForm))
	}
	updated := got.Updated.Format("2006-01-02T15:04:05Z07:00")
	x.handle(exploreEvent{Ev: "save", ID: got.ID, Updated: updated, Label: "test label", Text: "edited"})
	n, err := book.Get(got.ID)
	if err != nil || n.Text != "edited" {
		t.Errorf("after the edit: %+v, %v", n, err)
	}

	// Another kernel edits the note; an edit loaded before that is refused
	// and the note shown as it is now.
	other, err := notes.OpenFile(book.Path())
	if err != nil {
		t.Fatal(err)
	}
	other.Author = "colleague"
	// The store's clock has whole seconds: make the other edit's time differ.
	theirs, err := other.Update(got.ID, func(n *notes.Note) error { n.Text = "their edit"; return nil })
	if err != nil {
		t.Fatal(err)
	}
	stale := n.Updated.Format("2006-01-02T15:04:05Z07:00")
	if theirs.Updated.Equal(n.Updated) {
		stale = n.Updated.Add(-1e9).Format("2006-01-02T15:04:05Z07:00")
	}
	x.handle(exploreEvent{Ev: "save", ID: got.ID, Updated: stale, Label: "test label", Text: "mine"})
	if !strings.Contains(html.UnescapeString(f.block(blockForm)), "was changed elsewhere") {
		t.Errorf("a stale edit was not refused:\n%.800s", f.block(blockForm))
	}
	if n, _ := book.Get(got.ID); n.Text != "their edit" {
		t.Errorf("the other kernel's edit was lost: %q", n.Text)
	}
	if !strings.Contains(f.block(blockForm), "their edit") {
		t.Errorf("the form does not show the note as it is now")
	}
}

// TestExploreMapStatistic: the map's largest-entry statistic equals each
// head's top pair, computed in the background; a new selection cancels
// the work and it resumes from what is cached.
func TestExploreMapStatistic(t *testing.T) {
	m := tinyModel(t)
	a := m.Arch()
	x, f, _ := newTestExplorer(t, m, ExploreFilters(Alnum()))
	x.handle(widget("stat", 1)) // largest OV entry
	x.stopJob()
	x.waitJob()
	x.mu.Lock()
	partial := len(x.top1)
	x.mu.Unlock()
	if partial == a.Layers*a.Heads {
		t.Logf("the job finished before it was cancelled")
	}
	x.handle(exploreEvent{Ev: "head", Layer: "2", Index: "4"})
	x.waitJob()
	x.refresh()
	lens := m.Lens(Alnum())
	lk := lensKey(lens)
	x.mu.Lock()
	defer x.mu.Unlock()
	for l := range a.Layers {
		for h := range a.Heads {
			got, ok := x.top1[statKey{lk, project.OV, l, h, 0}]
			want := lens.OV(l, h).Top(1).Pairs[0].Score
			if !ok || float32(got) != want {
				t.Errorf("head %d.%d: map value %v (%v), want %v", l, h, got, ok, want)
			}
		}
		if best := x.nstat[layerKey{lk, l, 0}]; len(best) != a.DFF {
			t.Errorf("layer %d: %d neuron values, want %d", l, len(best), a.DFF)
		} else {
			r := lens.Neuron(l, 7).Top(1)
			if want := neuronMax(r); best[7] != want {
				t.Errorf("L%d/N7: map value %v, want %v", l, best[7], want)
			}
		}
	}
	if !strings.Contains(f.block(blockMap), "heads: largest OV entry · alnum") || strings.Contains(f.block(blockMap), "heads computed") {
		t.Errorf("map title: %.300s", f.block(blockMap))
	}
}

func TestExploreSigma(t *testing.T) {
	m := tinyModel(t)
	x, _, _ := newTestExplorer(t, m)
	x.handle(widget("stat", 4)) // σ₁ of QK
	x.waitJob()
	v, err := m.Lens().QK(1, 2).View()
	if err != nil {
		t.Fatal(err)
	}
	x.mu.Lock()
	got := x.sigma[statKey{"", project.QK, 1, 2, 0}]
	x.mu.Unlock()
	if want := v.Singular()[0]; got != want {
		t.Errorf("σ₁ of 1.2 QK: %v, want %v", got, want)
	}
}

// TestExploreSearch: a word finds the head views computed so far whose top
// k contain it, and every neuron column whose top k contain it.
func TestExploreSearch(t *testing.T) {
	m := tinyModel(t)
	x, f, _ := newTestExplorer(t, m, ExploreFilters(Alnum()), ExploreK(20))
	for _, h := range [][2]int{{2, 4}, {1, 5}, {0, 0}} {
		x.handle(exploreEvent{Ev: "head", Layer: strconv.Itoa(h[0]), Index: strconv.Itoa(h[1])})
	}
	x.handle(exploreEvent{Ev: "search", Q: " Którego "})
	x.waitJob()
	x.refresh()
	lens := m.Lens(Alnum())
	ids := x.searchTokens("którego")
	if len(ids) == 0 {
		t.Fatal("no token for którego")
	}
	for _, id := range ids {
		if m.Vocab.Form(id) != "którego" {
			t.Errorf("token %d %q matched", id, m.Vocab.Text(id))
		}
	}
	block := html.UnescapeString(f.block(blockSearch))
	for _, h := range [][2]int{{2, 4}, {1, 5}, {0, 0}} {
		r := lens.OV(h[0], h[1]).Top(20)
		has := slices.ContainsFunc(r.Pairs, func(p project.Pair) bool { return slices.Contains(ids, p.Source) || slices.Contains(ids, p.Target) })
		if got := strings.Contains(block, fmt.Sprintf("%d.%d OV #", h[0], h[1])); got != has {
			t.Errorf("head %d.%d listed %v, its top 20 contain którego: %v", h[0], h[1], got, has)
		}
	}
	// Neurons, exactly: layer 2's hits against one query per neuron.
	x.mu.Lock()
	hits := slices.Clone(x.nhits)
	x.mu.Unlock()
	got := map[string]bool{}
	for _, h := range hits {
		if h.Layer == 2 {
			got[fmt.Sprintf("%d %s", h.Index, h.View)] = true
		}
	}
	want := map[string]bool{}
	for i := range m.Arch().DFF {
		r := lens.Neuron(2, i).Top(20)
		for _, s := range r.Sides() {
			if slices.ContainsFunc(r.Columns[s], func(t project.Token) bool { return slices.Contains(ids, t.ID) }) {
				want[fmt.Sprintf("%d %s", i, s)] = true
			}
		}
	}
	if len(want) == 0 {
		t.Fatal("no neuron of layer 2 has którego in its top 20: the check would be empty")
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("neuron hits in layer 2: %v, want %v", got, want)
	}
	if !strings.Contains(block, `data-lkx-nhits="`) || strings.Contains(block, "pending") {
		t.Errorf("search block: %.400s", block)
	}
	// A hit is clickable: it selects the component.
	h := hits[0]
	x.handle(exploreEvent{Ev: "hit", View: viewNeuron, Layer: strconv.Itoa(h.Layer), Index: strconv.Itoa(h.Index)})
	checkShows(t, f, fmt.Sprintf("L%d/N%d K+V", h.Layer, h.Index), 20)

	// A word that is no token says so.
	x.handle(exploreEvent{Ev: "search", Q: "nieistniejącesłowo"})
	if !strings.Contains(html.UnescapeString(f.block(blockSearch)), "no token of the vocabulary reads") {
		t.Errorf("search for a non-token: %.300s", f.block(blockSearch))
	}
}

// TestExploreStatic: the static state (what the saved notebook keeps) has
// the selection, maps, table and a self-contained heatmap, and nothing a
// page script would act on.
func TestExploreStatic(t *testing.T) {
	m := tinyModel(t)
	x, _, book := newTestExplorer(t, m, ExploreFilters(Alnum()), ExploreHead(project.OV, 2, 4))
	if _, err := book.Label(m.Lens(Alnum()).OV(2, 4).Top(20), "pronouns", "text"); err != nil {
		t.Fatal(err)
	}
	s := x.staticHTML()
	for _, want := range []string{`data-lkx-static="2.4 OV top 20 · alnum"`, "2.4 W_OV", "DecompressionStream", "pronouns", "heads: notes"} {
		if !strings.Contains(s, want) {
			t.Errorf("static state lacks %q", want)
		}
	}
	if strings.Contains(s, "data-lkx-act") || strings.Contains(s, `data-lkx="`) {
		t.Errorf("static state carries live attributes")
	}
	if got, want := shownPairs(s), wantPairs(m, m.Lens(Alnum()).OV(2, 4).Top(20)); !slices.Equal(got, want) {
		t.Errorf("static table %q, want %q", got, want)
	}
	txt := x.staticText()
	if !strings.Contains(txt, "selection: 2.4 OV top 20 · alnum") || !strings.Contains(txt, "note 2.4 OV: pronouns") {
		t.Errorf("text state:\n%s", txt)
	}
}

// TestExploreTerminal: outside a notebook Explore prints the static state
// and returns.
func TestExploreTerminal(t *testing.T) {
	m := tinyModel(t)
	x, err := newExplorer(m, nil, []ExploreOption{ExploreHead(project.QK, 1, 1), ExploreK(5),
		ExploreNotes(must(m.Notes(filepath.Join(t.TempDir(), "n.json"))))})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	runExplorer(x, &b)
	if !strings.Contains(b.String(), "selection: 1.1 QK top 5 · all") || !strings.Contains(b.String(), "1.1 W_QK  top 5") {
		t.Errorf("terminal output:\n%s", b.String())
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestExploreOptions: bad options are reported and replaced by defaults;
// a Lens's filters become the explorer's lens switch.
func TestExploreOptions(t *testing.T) {
	m := tinyModel(t)
	_, f, _ := newTestExplorer(t, m, ExploreHead(project.OV, 9, 0), ExploreK(0), ExploreMap("nope"))
	form := html.UnescapeString(f.block(blockForm))
	for _, want := range []string{"layer 9 out of range 0..3", "k = 0, want 1..100", `unknown map statistic "nope"`} {
		if !strings.Contains(form, want) {
			t.Errorf("form message lacks %q:\n%.500s", want, form)
		}
	}
	checkShows(t, f, "0.0 OV", 1)

	lens := m.Lens(Alnum(), ExcludeSame())
	y, err := newExplorer(m, lens, []ExploreOption{ExploreNotes(must(m.Notes(filepath.Join(t.TempDir(), "n.json"))))})
	if err != nil {
		t.Fatal(err)
	}
	y.front = newRecFront()
	y.handle(exploreEvent{Ev: "head", Layer: "2", Index: "4"})
	r, _ := y.selection(y.st)
	if pr := r.(*PairResult); pr.Filter != "alnum+exclude-same" {
		t.Errorf("lens explorer filter %q", pr.Filter)
	} else if got, want := wantPairs(m, pr), wantPairs(m, lens.OV(2, 4).Top(20)); !slices.Equal(got, want) {
		t.Errorf("lens explorer pairs %q, want %q", got, want)
	}
	y.handle(exploreEvent{Ev: "toggle", Name: "ascii", On: true})
	r, _ = y.selection(y.st)
	if pr := r.(*PairResult); pr.Filter != "alnum+exclude-same+ascii" {
		t.Errorf("lens + ASCII filter %q", pr.Filter)
	} else if got, want := wantPairs(m, pr), wantPairs(m, m.Lens(Alnum(), ExcludeSame(), ASCII()).OV(2, 4).Top(20)); !slices.Equal(got, want) {
		t.Errorf("lens + ASCII pairs %q, want %q", got, want)
	}
	y.stopJob()
	y.waitJob()
}

// TestExploreRotaryGated: on a Llama-family model the explorer offers the
// QK offset and shows a gated neuron's six columns.
func TestExploreRotaryGated(t *testing.T) {
	dir := t.TempDir()
	if _, err := synth.WriteFamily(dir, synth.FamilyOptions{ModelType: "llama", Layers: 2, Heads: 4, KVHeads: 2, DModel: 32, DHead: 8,
		DFF: 48, Vocab: 300, Positions: 64, Tokenizer: true, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir)
	if err != nil {
		t.Skipf("the synthetic llama does not load yet: %v", err)
	}
	defer m.Close()
	x, f, _ := newTestExplorer(t, m, ExploreHead(project.QK, 1, 3), ExploreK(5))
	if !x.rotary {
		t.Fatal("llama is not rotary")
	}
	x.handle(widget("offset", 3))
	checkShows(t, f, "1.3 QK", 5)
	if got, want := shownPairs(f.block(blockResult)), wantPairs(m, m.Lens().QK(1, 3).At(3).Top(5)); !slices.Equal(got, want) {
		t.Errorf("1.3 QK δ=3 shows %q, want %q", got, want)
	}
	if !strings.Contains(f.block(blockStatus), "1.3 QK δ=3 top 5") {
		t.Errorf("status %q", f.block(blockStatus))
	}
	x.handle(exploreEvent{Ev: "neuron", Index: "7"})
	r := m.Lens().Neuron(1, 7).Top(5)
	if len(r.Sides()) != 6 {
		t.Fatalf("gated neuron has %d sides", len(r.Sides()))
	}
	for _, s := range r.Sides() {
		if !strings.Contains(f.block(blockResult), ">"+html.EscapeString(s.String())+"<") {
			t.Errorf("column %v not shown", s)
		}
	}
	// A note on the gate/up side records the offset-free neuron evidence.
	x.handle(exploreEvent{Ev: "save", Label: "reads", Part: "K"})
	if !strings.Contains(f.block(blockForm), "saved note") {
		t.Errorf("form: %.500s", f.block(blockForm))
	}
	x.handle(exploreEvent{Ev: "head", Layer: "0", Index: "1"}, widget("view", 1))
	x.handle(exploreEvent{Ev: "save", Label: "offset note"})
	list, _ := x.book.List(notes.Query{Component: "0.1 QK"})
	if len(list) != 1 || list[0].Evidence.Offset != 3 {
		t.Errorf("QK note at δ=3: %+v", list)
	}
}

// TestExploreTwoKernels: two explorers in two processes label the same
// notes file at once; every note of both is there afterwards.
func TestExploreTwoKernels(t *testing.T) {
	if os.Getenv("LENSKIT_EXPLORE_KERNEL") != "" {
		exploreKernel(t)
		return
	}
	path := filepath.Join(t.TempDir(), "notes", "tiny-pl-gpt2.lenskit-notes.json")
	const perKernel = 12
	var wg sync.WaitGroup
	errs := make([]error, 2)
	outs := make([][]byte, 2)
	for k := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := testCommand(t, "TestExploreTwoKernels")
			cmd.Env = append(os.Environ(), "LENSKIT_EXPLORE_KERNEL="+strconv.Itoa(k), "LENSKIT_EXPLORE_NOTES="+path, "LENSKIT_EXPLORE_N="+strconv.Itoa(perKernel))
			outs[k], errs[k] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	for k := range 2 {
		if errs[k] != nil {
			t.Fatalf("kernel %d: %v\n%s", k, errs[k], outs[k])
		}
	}
	s, err := notes.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.List(notes.Query{})
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]bool{}
	for _, n := range list {
		labels[n.Label] = true
		if n.Evidence == nil || len(n.Evidence.Pairs) == 0 && len(n.Evidence.Sides()) == 0 {
			t.Errorf("note %s %q has no evidence", n.Component, n.Label)
		}
	}
	for k := range 2 {
		for i := range perKernel {
			if l := fmt.Sprintf("kernel %d label %d", k, i); !labels[l] {
				t.Errorf("note %q lost", l)
			}
		}
	}
	if len(list) != 2*perKernel {
		t.Errorf("%d notes, want %d", len(list), 2*perKernel)
	}
}

// exploreKernel is one "kernel" of TestExploreTwoKernels: an explorer that
// labels a head or a neuron per save, through the form.
func exploreKernel(t *testing.T) {
	k, _ := strconv.Atoi(os.Getenv("LENSKIT_EXPLORE_KERNEL"))
	n, _ := strconv.Atoi(os.Getenv("LENSKIT_EXPLORE_N"))
	m := tinyModel(t)
	book, err := m.Notes(os.Getenv("LENSKIT_EXPLORE_NOTES"))
	if err != nil {
		t.Fatal(err)
	}
	book.Author = fmt.Sprintf("kernel %d", k)
	x, err := newExplorer(m, nil, []ExploreOption{ExploreNotes(book), ExploreK(5)})
	if err != nil {
		t.Fatal(err)
	}
	f := newRecFront()
	x.front = f
	x.handle()
	for i := range n {
		// Both kernels label the same components, in the same order.
		sel := exploreEvent{Ev: "head", Layer: strconv.Itoa(i % 4), Index: strconv.Itoa(i % 8)}
		if i%3 == 2 {
			sel = exploreEvent{Ev: "neuron", Layer: strconv.Itoa(i % 4), Index: strconv.Itoa(10 * i)}
		}
		x.handle(sel, exploreEvent{Ev: "save", Label: fmt.Sprintf("kernel %d label %d", k, i), Text: "from the form", Tags: "two-kernels"})
		if !strings.Contains(f.block(blockForm), `data-lkx-msg="ok"`) {
			t.Fatalf("save %d: %s", i, html.UnescapeString(f.block(blockForm)))
		}
	}
	x.stopJob()
	x.waitJob()
}

// testCommand re-runs this test binary for one test.
func testCommand(t *testing.T, test string) *exec.Cmd {
	t.Helper()
	return exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
}

// TestExploreOrder: GoNB delivers the page's messages on goroutines of
// their own, so a slider's values can arrive out of order; the numbered
// messages make the newest value win.
func TestExploreOrder(t *testing.T) {
	m := tinyModel(t)
	x, f, _ := newTestExplorer(t, m, ExploreHead(project.OV, 2, 4))
	k := func(v int, seq int64) exploreEvent { e := widget("k", v); e.Seq = seq; return e }
	x.handle(k(5, 3), k(9, 2))
	checkShows(t, f, "2.4 OV", 5)
	x.handle(k(7, 1))
	checkShows(t, f, "2.4 OV", 5)
	x.handle(k(8, 4))
	checkShows(t, f, "2.4 OV", 8)
	// Different controls do not overrule each other.
	layer := widget("layer", 1)
	layer.Seq = 1
	x.handle(layer)
	checkShows(t, f, "1.4 OV", 8)
	// A save is never dropped, whatever its number.
	save := exploreEvent{Ev: "save", Label: "kept", Seq: 1}
	x.handle(save)
	if list, _ := x.book.List(notes.Query{}); len(list) != 1 {
		t.Errorf("save with an old number: %d notes", len(list))
	}
}
