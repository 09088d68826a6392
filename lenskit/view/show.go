package view

import (
	"fmt"
	"html"
	"io"
	"os"
	"reflect"
	"strings"

	"github.com/janpfeifer/gonb/gonbui"
)

// Renderable is anything that can show itself both in a terminal and in a
// notebook. Every lenskit result type satisfies it.
type Renderable interface {
	String() string // aligned plain text, ending in a newline
	HTML() string   // a self-contained HTML fragment
}

// Tokens gives the three forms of a vocabulary entry. *vocab.Vocab
// satisfies it; view takes the interface so it does not depend on how a
// tokenizer is loaded.
type Tokens interface {
	Raw(id int) string     // vocabulary entry, e.g. "Ġdom"
	Text(id int) string    // decoded UTF-8 text, e.g. " dom", " ł"
	Display(id int) string // seed display form: "dom" (word-initial) or "#dom" (continuation)
}

// sizer is implemented by vocabularies that know their size; when Tokens
// has a Len method, ids outside [0, Len()) are rendered as a visible
// "⟨bad id N⟩" instead of being passed to the vocabulary.
type sizer interface{ Len() int }

// These are variables so the package's tests can observe both branches of
// Show without a running kernel.
var (
	inNotebook  = func() bool { return gonbui.IsNotebook }
	displayHTML = gonbui.DisplayHTML
	updateHTML  = gonbui.UpdateHTML
	// syncNotebook waits until GoNB has the output: a cell's program that
	// exits right after DisplayHTML can otherwise lose it (GoNB closes the
	// pipe when the program ends).
	syncNotebook           = gonbui.Sync
	stdout       io.Writer = os.Stdout
	stderr       io.Writer = os.Stderr
)

// Show displays r where the program runs: as HTML in a GoNB notebook, as
// r.String() on standard output otherwise. A nil r shows nothing.
func Show(r Renderable) {
	if isNil(r) {
		return
	}
	if inNotebook() {
		displayHTML(r.HTML())
		syncNotebook()
		return
	}
	s := r.String()
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	io.WriteString(stdout, s)
}

// ShowError makes err visible: a red box in a GoNB notebook (where a line on
// stderr is easy to miss below a cell), a line "error: …" on standard error
// otherwise. A nil err shows nothing.
func ShowError(err error) {
	if err == nil {
		return
	}
	if inNotebook() {
		displayHTML(ErrorHTML(err))
		syncNotebook()
		return
	}
	fmt.Fprintf(stderr, "error: %v\n", err)
}

// ErrorHTML is the red box ShowError displays in a notebook.
func ErrorHTML(err error) string {
	msg := "<nil>"
	if err != nil {
		msg = err.Error()
	}
	return `<div style="border:1px solid #c62828;border-left:6px solid #c62828;background:#fdecea;` +
		`color:#8e0000;padding:6px 10px;margin:4px 0;font-family:monospace;white-space:pre-wrap">` +
		`<b>error:</b> ` + html.EscapeString(msg) + `</div>`
}

// isNil reports whether r is nil or a typed nil pointer inside the
// interface, so Show(view.Neuron(tok, nil)) and Show(nil) behave alike.
func isNil(r Renderable) bool {
	if r == nil {
		return true
	}
	v := reflect.ValueOf(r)
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Interface:
		return v.IsNil()
	}
	return false
}
