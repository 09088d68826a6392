package lenskit

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"strconv"
	"strings"
	"sync"

	"lenskit.dev/lenskit/forward"
	"lenskit.dev/lenskit/view"
)

// Running the model on text. Static views say what a head or neuron could
// do; these say what it does on a prompt:
//
//	m.LogitLens("Stolicą Polski jest").Show()        // layer × position heatmap
//	a := m.Attention("Stolicą Polski jest")
//	a.Head(2, 6).Show()                               // one head's pattern
//	a.Overview().Show()                               // previous / first / self per head
//	m.WhoWrote("Stolicą Polski jest").Top(15).Show()  // direct logit attribution
//	m.TopContexts(2, 345).Show()                      // a neuron's top contexts in pl.txt
//
// The forward pass runs on GoMLX (package forward): made on first use,
// kept with the model and closed with it.

// textState holds a model's forward pass.
type textState struct {
	mu     sync.Mutex
	fwd    *forward.Model
	err    error
	closed bool
}

func (s *textState) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fwd != nil {
		s.fwd.Close()
		s.fwd = nil
	}
	s.closed = true
}

// Forward returns the model's forward pass, uploading the weights to the
// GoMLX backend on first use ($GOMLX_BACKEND when set, else XLA CUDA when a
// PJRT CUDA plugin and a GPU are present, else the pure-Go backend, with the
// logit lens's vocabulary product on the model's projection engine).
func (m *Model) Forward() (*forward.Model, error) {
	if m.err != nil {
		return nil, m.err
	}
	s := &m.text
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("lenskit: the model is closed")
	}
	if s.fwd == nil && s.err == nil {
		// On the pure-Go backend the lens's vocabulary product runs on the
		// model's projection engine (lenskit's CPU engine by default).
		s.fwd, s.err = forward.New(m.Weights, "", forward.WithLensProduct(m.Space.Engine))
	}
	return s.fwd, s.err
}

// TextOption changes how a prompt is tokenized.
type TextOption func(*textOptions)

type textOptions struct {
	bos bool
}

// WithBOS puts the tokenizer's beginning-of-sequence token before the
// prompt (Llama's <s>), as its post-processor would; without it no special
// token is added. A tokenizer without one (GPT-2) gets a warning.
func WithBOS() TextOption { return func(o *textOptions) { o.bos = true } }

// Prompt is a text as the model sees it.
type Prompt struct {
	Text     string
	IDs      []int
	Warnings []string // truncation, unknown or special tokens, a missing BOS
}

// ErrEmptyPrompt is returned for a prompt with no text.
var ErrEmptyPrompt = errors.New("lenskit: empty prompt: give the text to run the model on")

// Tokenize encodes text as the model's tokenizer does (no special tokens
// unless WithBOS). A prompt longer than the model's positions keeps its
// first positions, with a warning; special tokens in the encoding (an
// unknown token, or "<s>" written literally) are reported as warnings.
func (m *Model) Tokenize(text string, opts ...TextOption) (*Prompt, error) {
	if m.err != nil {
		return nil, m.err
	}
	var o textOptions
	for _, f := range opts {
		f(&o)
	}
	if text == "" {
		return nil, ErrEmptyPrompt
	}
	ids, err := m.Vocab.Encode(text)
	if err != nil {
		return nil, fmt.Errorf("lenskit: %s: tokenizing %s: %w", m.Weights.Name(), quoteShort(text), err)
	}
	p := &Prompt{Text: text}
	if o.bos {
		if bos, ok := m.Vocab.BOS(); ok {
			ids = append([]int{bos}, ids...)
		} else {
			p.Warnings = append(p.Warnings, "the tokenizer has no beginning-of-sequence token; none was added")
		}
	}
	var special []string
	for i, id := range ids {
		if m.Vocab.Special(id) && (!o.bos || i > 0) {
			special = append(special, fmt.Sprintf("%d %s", i, view.Visible(m.Vocab.Raw(id))))
		}
	}
	if len(special) > 0 {
		if len(special) > 5 {
			special = append(special[:5], "…")
		}
		p.Warnings = append(p.Warnings, fmt.Sprintf("the text encodes to special or unknown tokens at positions %s: the model reads them as such, not as the characters written", strings.Join(special, ", ")))
	}
	if limit := m.Arch().Positions; len(ids) > limit {
		p.Warnings = append(p.Warnings, fmt.Sprintf("the prompt has %d tokens, more than the model's %d positions: only the first %d are used", len(ids), limit, limit))
		ids = ids[:limit]
	}
	if len(ids) == 0 {
		return nil, ErrEmptyPrompt
	}
	p.IDs = ids
	return p, nil
}

// quoteShort quotes at most 40 bytes of s for an error message.
func quoteShort(s string) string {
	if len(s) > 40 {
		cut := 40
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}

// run tokenizes text and runs it.
func (m *Model) run(text string, want forward.Want, opts []TextOption) (*Prompt, *forward.Trace, error) {
	p, err := m.Tokenize(text, opts...)
	if err != nil {
		return nil, nil, err
	}
	f, err := m.Forward()
	if err != nil {
		return p, nil, err
	}
	tr, err := f.Run([][]int{p.IDs}, want)
	if err != nil {
		return p, nil, err
	}
	return p, tr[0], nil
}

// warned renders a result after its prompt's warnings.
type warned struct {
	warnings []string
	r        view.Renderable
}

func (w warned) String() string {
	var b strings.Builder
	for _, s := range w.warnings {
		b.WriteString("warning: " + s + "\n")
	}
	b.WriteString(w.r.String())
	return b.String()
}

func (w warned) HTML() string {
	var b strings.Builder
	for _, s := range w.warnings {
		b.WriteString(`<div style="border-left:4px solid #e6a100;background:#fff8e1;padding:3px 8px;margin:3px 0;font:12px sans-serif">warning: ` + html.EscapeString(s) + `</div>`)
	}
	b.WriteString(w.r.HTML())
	return b.String()
}

func withWarnings(p *Prompt, r view.Renderable) Display {
	if p == nil || len(p.Warnings) == 0 {
		return Display{r}
	}
	return Display{warned{p.Warnings, r}}
}

// LogitLensResult is the logit lens of a prompt: every residual row —
// after the embedding, after each attention and each MLP sub-layer — read
// through the final norm applied to that row's own residual and the
// unembedding.
type LogitLensResult struct {
	Prompt *Prompt
	Lens   *forward.Lens
	m      *Model
	err    error
}

// LogitLens runs the model on text and reads every residual row as a
// next-token distribution. The last row is the model's own prediction.
func (m *Model) LogitLens(text string, opts ...TextOption) *LogitLensResult {
	p, tr, err := m.run(text, forward.Want{Lens: true}, opts)
	if err != nil {
		return &LogitLensResult{Prompt: p, m: m, err: err}
	}
	l, err := forward.ReadLens(tr, 10)
	tr.Release() // the next lens may reuse the product's memory
	return &LogitLensResult{Prompt: p, Lens: l, m: m, err: err}
}

// Err reports why the lens could not be computed, or nil.
func (r *LogitLensResult) Err() error { return r.err }

// Chart is the switchable heatmap (probability, entropy, rank of the next
// token, KL to the final layer), after the prompt's warnings.
func (r *LogitLensResult) Chart() Display {
	if r.err != nil {
		return Display{errorView{r.err}}
	}
	return withWarnings(r.Prompt, r.View())
}

// View is the lens's view without the prompt's warnings (nil when the
// lens failed).
func (r *LogitLensResult) View() *view.LensView {
	if r.err != nil {
		return nil
	}
	return view.LogitLens(r.m.Vocab, r.Lens, fmt.Sprintf("logit lens of %s (%s)", quoteShort(r.Prompt.Text), r.m.Weights.Name()), 10)
}

func (r *LogitLensResult) String() string { return r.Chart().String() }
func (r *LogitLensResult) HTML() string   { return r.Chart().HTML() }

// Show displays the heatmap (HTML in GoNB, the text table elsewhere), or
// the error.
func (r *LogitLensResult) Show() { r.Chart().Show() }

// LensJSON is the command line's lens output: the prompt's ids and raw
// tokens, then 1 + 2·layers rows in model order, each with the top tokens
// of every position. The prompt's warnings are not part of it (the command
// prints them on standard error).
type LensJSON struct {
	IDs    []int         `json:"ids"`
	Tokens []string      `json:"tokens"`
	Rows   []LensRowJSON `json:"rows"`
	Warn   []string      `json:"warnings,omitempty"`
}

// LensRowJSON is one residual row of the lens.
type LensRowJSON struct {
	Name      string             `json:"name"`
	Positions []LensPositionJSON `json:"positions"`
}

// LensPositionJSON is one position of a row.
type LensPositionJSON struct {
	Top []LensTokenJSON `json:"top"`
}

// LensTokenJSON is one token of a position's top list; "token" is the raw
// vocabulary entry.
type LensTokenJSON struct {
	ID    int     `json:"id"`
	Token string  `json:"token"`
	P     float64 `json:"p"`
}

// MarshalJSON prints LensJSON.
func (r *LogitLensResult) MarshalJSON() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	out := LensJSON{IDs: r.Prompt.IDs}
	for _, id := range r.Prompt.IDs {
		out.Tokens = append(out.Tokens, r.m.Vocab.Raw(id))
	}
	for i, name := range r.Lens.Rows {
		row := LensRowJSON{Name: name}
		for _, c := range r.Lens.Cells[i] {
			pos := LensPositionJSON{Top: []LensTokenJSON{}}
			for _, t := range c.Top {
				pos.Top = append(pos.Top, LensTokenJSON{ID: t.ID, Token: r.m.Vocab.Raw(t.ID), P: t.P})
			}
			row.Positions = append(row.Positions, pos)
		}
		out.Rows = append(out.Rows, row)
	}
	return json.Marshal(out)
}

// AttentionResult is every head's attention on a prompt.
type AttentionResult struct {
	Prompt *Prompt
	Trace  *forward.Trace // Attn[layer] is heads × T × T
	m      *Model
	err    error
}

// Attention runs the model on text and keeps every head's attention
// pattern.
func (m *Model) Attention(text string, opts ...TextOption) *AttentionResult {
	p, tr, err := m.run(text, forward.Want{Attn: true}, opts)
	return &AttentionResult{Prompt: p, Trace: tr, m: m, err: err}
}

// Err reports why the run failed, or nil.
func (r *AttentionResult) Err() error { return r.err }

// Head is head layer.head's pattern as a query × key heatmap.
func (r *AttentionResult) Head(layer, head int) Display {
	if r.err != nil {
		return Display{errorView{r.err}}
	}
	a := r.m.Arch()
	if layer < 0 || layer >= a.Layers || head < 0 || head >= a.Heads {
		return Display{errorView{fmt.Errorf("lenskit: head %d.%d out of range (%d layers, %d heads)", layer, head, a.Layers, a.Heads)}}
	}
	T := r.Trace.T
	pat := r.Trace.Attn[layer][head*T*T : (head+1)*T*T]
	return withWarnings(r.Prompt, view.AttentionPattern(r.m.Vocab, r.Prompt.IDs, pat, layer, head,
		fmt.Sprintf("attention of head %d.%d on %s", layer, head, quoteShort(r.Prompt.Text))))
}

// Overview is the layer × head map of each head's attention to the
// previous token, to the first token and to itself (switchable).
func (r *AttentionResult) Overview() Display {
	if r.err != nil {
		return Display{errorView{r.err}}
	}
	return withWarnings(r.Prompt, view.HeadOverview(r.Trace.Attn, r.m.Arch().Heads, r.Trace.T,
		fmt.Sprintf("heads on %s", quoteShort(r.Prompt.Text))))
}

func (r *AttentionResult) String() string { return r.Overview().String() }
func (r *AttentionResult) HTML() string   { return r.Overview().HTML() }

// Show displays the overview, or the error.
func (r *AttentionResult) Show() { r.Overview().Show() }
