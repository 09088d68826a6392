package view

import (
	"fmt"
	"math"
	"strconv"
)

// Form selects which form of a token a table shows.
type Form int

const (
	// FormDefault is the form the seed notebook used for that table:
	// FormDisplay for neurons, FormVisible for head pairs.
	FormDefault Form = iota
	// FormDisplay is "dom" for a word-initial token and "#dom" for a
	// continuation.
	FormDisplay
	// FormVisible is the decoded text with whitespace made visible: "·dom".
	// See Visible.
	FormVisible
	// FormRaw is the vocabulary entry: "Ġdom".
	FormRaw
)

// Option adjusts how a result renders.
type Option func(*options)

type options struct {
	scores    bool
	form      Form
	maxHeight int
}

// WithScores adds each token's score to a neuron's text table (in HTML the
// score is always in the tooltip; with this option it is also printed in
// small grey text). Pair tables always show scores.
func WithScores() Option { return func(o *options) { o.scores = true } }

// WithForm chooses the token form shown in tables (see Form).
func WithForm(f Form) Option { return func(o *options) { o.form = f } }

// WithMaxHeight sets the height in pixels after which an HTML table
// scrolls (default 480; 0 or less keeps the default).
func WithMaxHeight(px int) Option {
	return func(o *options) {
		if px > 0 {
			o.maxHeight = px
		}
	}
}

func newOptions(opts []Option) options {
	o := options{maxHeight: 480}
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// forms looks token ids up in a Tokens, guarding against ids the vocabulary
// does not have and against a nil Tokens.
type forms struct {
	tok Tokens
	n   int // vocabulary size, or -1 when unknown
}

func newForms(tok Tokens) forms {
	f := forms{tok: tok, n: -1}
	if s, ok := tok.(sizer); ok {
		f.n = s.Len()
	}
	return f
}

func (f forms) valid(id int) bool {
	return f.tok != nil && id >= 0 && (f.n < 0 || id < f.n)
}

func badID(id int) string { return "⟨bad id " + strconv.Itoa(id) + "⟩" }

// show is the token in form fm, safe to put in an aligned terminal column
// (still to be HTML-escaped for HTML).
func (f forms) show(id int, fm Form) string {
	if !f.valid(id) {
		return badID(id)
	}
	switch fm {
	case FormVisible:
		return Visible(f.tok.Text(id))
	case FormRaw:
		return terminalSafe(f.tok.Raw(id))
	default:
		return terminalSafe(f.tok.Display(id))
	}
}

// describe is the tooltip text of a token: every form plus the id.
func (f forms) describe(id int) string {
	if !f.valid(id) {
		return badID(id)
	}
	return fmt.Sprintf("id %d · raw %s · text %s", id,
		strconv.Quote(f.tok.Raw(id)), strconv.Quote(f.tok.Text(id)))
}

// formatScore prints a score with three decimals, switching to exponent
// form for magnitudes below 0.01 so small scores do not all read 0.000.
func formatScore(s float64) string {
	switch {
	case math.IsNaN(s):
		return "NaN"
	case math.IsInf(s, 0):
		if s > 0 {
			return "+Inf"
		}
		return "-Inf"
	case s != 0 && math.Abs(s) < 0.01:
		return strconv.FormatFloat(s, 'e', 2, 64)
	}
	return strconv.FormatFloat(s, 'f', 3, 64)
}
