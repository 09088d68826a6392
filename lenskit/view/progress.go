package view

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type progressMode int

const (
	modePlain    progressMode = iota // stderr is a file or pipe: sparse lines
	modeTerminal                     // stderr is a terminal: one line redrawn with '\r'
	modeNotebook                     // GoNB: an HTML bar updated in place
)

// Redraw intervals: at most ten updates a second where a redraw replaces
// the previous one, and a line every five seconds where each one stays in a
// log.
const (
	liveInterval  = 100 * time.Millisecond
	plainInterval = 5 * time.Second
)

// Progress reports the advance of long work — building a corpus token list,
// scanning many heads — where the program runs: an HTML bar updated in place
// in a GoNB notebook, a line redrawn in place on a terminal's stderr, sparse
// lines when stderr is a file or a pipe. Add and Set are cheap and safe to
// call from many goroutines at once: they count atomically and redraw at
// most ten times a second (every five seconds for plain lines).
type Progress struct {
	title    string
	total    atomic.Int64
	done     atomic.Int64
	lastDraw atomic.Int64 // nanoseconds since start of the last redraw, -1 before the first
	finished atomic.Bool

	mode     progressMode
	interval time.Duration
	start    time.Time
	now      func() time.Time
	w        io.Writer
	id       string // GoNB display id of the bar

	mu      sync.Mutex // serialises drawing
	lastLen int        // width of the last terminal line, to blank it out
	draws   int        // redraws so far (the tests read it)
}

// NewProgress starts reporting work named title that will count up to
// total (0 or less if unknown: then only the count and rate are shown).
// Call Done when the work ends, also on early return.
func NewProgress(title string, total int64) *Progress {
	mode := modePlain
	if inNotebook() {
		mode = modeNotebook
	} else if f, ok := stderr.(*os.File); ok && isTerminal(f) {
		mode = modeTerminal
	}
	return newProgress(title, total, mode, stderr, time.Now)
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newProgress(title string, total int64, mode progressMode, w io.Writer, now func() time.Time) *Progress {
	p := &Progress{title: title, mode: mode, w: w, now: now, start: now(), interval: liveInterval}
	if mode == modePlain {
		p.interval = plainInterval
	}
	p.total.Store(total)
	p.lastDraw.Store(-1)
	if mode == modeNotebook {
		p.id = uniqueID("lenskit-progress")
		p.mu.Lock()
		p.draw(false)
		p.mu.Unlock()
		p.lastDraw.Store(0)
	}
	return p
}

// Add counts n more units of work done.
func (p *Progress) Add(n int64) {
	p.done.Add(n)
	p.maybeDraw()
}

// Set sets the count of work done to n.
func (p *Progress) Set(n int64) {
	p.done.Store(n)
	p.maybeDraw()
}

// Func adapts p to callbacks of the form func(done, total int64), as long
// running lenskit functions take; a positive total replaces p's total.
func (p *Progress) Func() func(done, total int64) {
	return func(done, total int64) {
		if total > 0 {
			p.total.Store(total)
		}
		p.Set(done)
	}
}

// Done draws the final state (count, elapsed time) and stops redrawing;
// later calls to Add, Set and Done change nothing on screen.
func (p *Progress) Done() {
	if !p.finished.CompareAndSwap(false, true) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(true)
	if inNotebook() {
		syncNotebook()
	}
}

// maybeDraw redraws if the last redraw is at least one interval old. Of the
// goroutines that see a stale redraw at the same moment, the one that wins
// the compare-and-swap draws; the others return at once.
func (p *Progress) maybeDraw() {
	if p.finished.Load() {
		return
	}
	t := int64(p.now().Sub(p.start))
	last := p.lastDraw.Load()
	if last >= 0 && t-last < int64(p.interval) {
		return
	}
	if p.mode == modePlain && last < 0 && t < int64(p.interval) {
		return // plain lines: nothing for work shorter than one interval
	}
	if !p.lastDraw.CompareAndSwap(last, t) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished.Load() {
		return // Done drew the final state while we waited
	}
	p.draw(false)
}

// state is the numbers of one redraw.
type progressState struct {
	done, total int64
	elapsed     time.Duration
	final       bool
}

func (s progressState) fraction() float64 {
	if s.total <= 0 {
		return -1
	}
	return min(max(float64(s.done)/float64(s.total), 0), 1)
}

// summary is "1234/5000 (24.7%) · 3.1s · ETA 9s", or "done 5000/5000 in
// 12.3s".
func (s progressState) summary() string {
	el := s.elapsed.Round(100 * time.Millisecond)
	count := fmt.Sprint(s.done)
	if s.total > 0 {
		count = fmt.Sprintf("%d/%d", s.done, s.total)
	}
	if s.final {
		return fmt.Sprintf("done %s in %s", count, el)
	}
	parts := []string{count}
	if f := s.fraction(); f >= 0 {
		parts[0] += fmt.Sprintf(" (%.1f%%)", 100*f)
	}
	parts = append(parts, el.String())
	if f := s.fraction(); f > 0 && f < 1 && s.elapsed > 0 {
		eta := time.Duration(float64(s.elapsed) * (1 - f) / f)
		if eta < 10*time.Second {
			eta = eta.Round(100 * time.Millisecond)
		} else {
			eta = eta.Round(time.Second)
		}
		parts = append(parts, "ETA "+eta.String())
	} else if s.total <= 0 && s.elapsed > time.Second {
		parts = append(parts, fmt.Sprintf("%.0f/s", float64(s.done)/s.elapsed.Seconds()))
	}
	return strings.Join(parts, " · ")
}

// draw writes the current state; p.mu is held.
func (p *Progress) draw(final bool) {
	s := progressState{done: p.done.Load(), total: p.total.Load(), elapsed: p.now().Sub(p.start), final: final}
	p.draws++
	switch p.mode {
	case modeNotebook:
		updateHTML(p.id, progressHTML(p.title, s))
	case modeTerminal:
		line := terminalSafe(p.title) + " " + textBar(s, 30) + " " + s.summary()
		w := Width(line)
		fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", max(0, p.lastLen-w)))
		p.lastLen = w
		if final {
			fmt.Fprintln(p.w)
		}
	default:
		fmt.Fprintf(p.w, "%s: %s\n", terminalSafe(p.title), s.summary())
	}
}

// textBar is "[#########.............]" for a known total, a moving
// marker otherwise.
func textBar(s progressState, width int) string {
	f := s.fraction()
	if s.final && f < 0 {
		f = 1
	}
	if f < 0 {
		pos := int(s.elapsed/(200*time.Millisecond)) % width
		return "[" + strings.Repeat(".", pos) + "#" + strings.Repeat(".", width-pos-1) + "]"
	}
	n := int(f * float64(width))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

func progressHTML(title string, s progressState) string {
	f := s.fraction()
	bar := `<progress style="width:260px;vertical-align:middle"></progress>` // indeterminate
	if f >= 0 || s.final {
		if f < 0 {
			f = 1
		}
		bar = fmt.Sprintf(`<progress style="width:260px;vertical-align:middle" value="%.4f" max="1"></progress>`, f)
	}
	color := "#333"
	if s.final {
		color = "#2e7d32"
	}
	return fmt.Sprintf(`<div style="font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px;color:%s;margin:2px 0">`+
		`<b>%s</b> %s <span>%s</span></div>`, color, esc(title), bar, esc(s.summary()))
}
