package lenskit

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"lenskit.dev/lenskit/internal/untrusted"
	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/view"
)

// FindResult is a reverse lookup: which neurons write a word, which read
// it, and which heads' OV views send the most towards it — exact, over
// every unit of the model, no catalogue needed. Each hit names the token
// (of the word's forms) it matched and links to its full view (WriterView,
// ReaderView, HeadView).
type FindResult struct {
	Word  string
	Forms []FindForm // the word's forms and the token each contributes
	K     int
	*project.Lookup
	l   *Lens
	err error
}

// FindForm is one form of the looked-up word: its text and the first token
// it encodes to.
type FindForm struct {
	Text  string
	Token int
}

// DefaultFindK is the number of hits per list of `lenskit find` and Find
// without k.
const DefaultFindK = 20

// Find looks a word up in every unit of the model with no filters (see
// Lens.Find); k defaults to 20.
func (m *Model) Find(word string, k ...int) *FindResult {
	n := DefaultFindK
	if len(k) > 0 {
		n = k[0]
	}
	return m.Lens().Find(word, n)
}

// Find looks a word up through the lens: heads' sources are the lens's
// tokens and its excluded pairs are skipped (neurons are scored on the
// word's tokens whatever the filters). The word is read through its forms —
// as written and with a leading space, each also lower-cased and
// capitalised — each encoded by the model's tokenizer; a form of several
// tokens contributes its first. A unit's score is its best over those
// tokens.
func (l *Lens) Find(word string, k int) *FindResult {
	r := &FindResult{Word: word, K: k, l: l}
	if l.err != nil {
		r.err = l.err
		return r
	}
	if k < 0 {
		r.err = fmt.Errorf("lenskit: find: negative k %d", k)
		return r
	}
	forms, err := l.m.wordForms(word)
	if err != nil {
		r.err = err
		return r
	}
	r.Forms = forms
	var targets []int
	for _, f := range forms {
		targets = append(targets, f.Token)
	}
	slices.Sort(targets)
	targets = slices.Compact(targets)
	look, err := l.sp.Lookup(project.LookupOptions{Targets: targets, K: k, Sources: l.f.ids, Exclude: l.f.exclude})
	if err != nil {
		r.err = err
		return r
	}
	r.Lookup = look
	return r
}

// maxWordBytes bounds a looked-up word.
const maxWordBytes = 1024

// wordForms returns the forms of word and their first tokens, distinct
// forms in a fixed order: as written, lower-cased, capitalised, each
// without and with a leading space.
func (m *Model) wordForms(word string) ([]FindForm, error) {
	w := strings.TrimSpace(word)
	switch {
	case len(word) > maxWordBytes:
		return nil, fmt.Errorf("lenskit: find: the word is %d bytes long (at most %d)", len(word), maxWordBytes)
	case !utf8.ValidString(word):
		return nil, fmt.Errorf("lenskit: find: the word %s is not valid UTF-8", untrusted.Quote(word))
	case w == "":
		return nil, fmt.Errorf("lenskit: find: the word %s encodes to no tokens: give a word", untrusted.Quote(word))
	}
	capital := w
	if r, n := utf8.DecodeRuneInString(w); r != utf8.RuneError {
		capital = string(unicode.ToUpper(r)) + strings.ToLower(w[n:])
	}
	var texts []string
	for _, base := range []string{w, strings.ToLower(w), capital} {
		for _, t := range []string{base, " " + base} {
			if !slices.Contains(texts, t) {
				texts = append(texts, t)
			}
		}
	}
	var forms []FindForm
	for _, t := range texts {
		ids, err := m.Vocab.Encode(t)
		if err != nil {
			return nil, fmt.Errorf("lenskit: find: %s: %w", untrusted.Quote(t), err)
		}
		if len(ids) == 0 {
			continue
		}
		forms = append(forms, FindForm{Text: t, Token: ids[0]})
	}
	if len(forms) == 0 {
		return nil, fmt.Errorf("lenskit: find: the word %s encodes to no tokens", untrusted.Quote(word))
	}
	return forms, nil
}

// Err reports why the lookup failed.
func (r *FindResult) Err() error { return r.err }

// WriterView returns the full view (top k) of the i-th neuron that writes
// the word, through the same lens.
func (r *FindResult) WriterView(i, k int) *NeuronResult {
	if r.err != nil {
		return failedNeuron(nil, r.err)
	}
	if i < 0 || i >= len(r.Write) {
		return failedNeuron(r.l.m, fmt.Errorf("lenskit: find: writer %d of %d", i, len(r.Write)))
	}
	n := r.Write[i].Neuron
	return r.l.Neuron(n.Layer, n.Index).Top(k)
}

// ReaderView returns the full view of the i-th neuron that reads the word.
func (r *FindResult) ReaderView(i, k int) *NeuronResult {
	if r.err != nil {
		return failedNeuron(nil, r.err)
	}
	if i < 0 || i >= len(r.Read) {
		return failedNeuron(r.l.m, fmt.Errorf("lenskit: find: reader %d of %d", i, len(r.Read)))
	}
	n := r.Read[i].Neuron
	return r.l.Neuron(n.Layer, n.Index).Top(k)
}

// HeadView returns the top k pairs of the OV view of the i-th head.
func (r *FindResult) HeadView(i, k int) *PairResult {
	if r.err != nil {
		return failedPairs(nil, r.err)
	}
	if i < 0 || i >= len(r.Heads) {
		return failedPairs(r.l.m, fmt.Errorf("lenskit: find: head %d of %d", i, len(r.Heads)))
	}
	h := r.Heads[i].Head
	return r.l.OV(h.Layer, h.Head).Top(k)
}

// FindNeuronJSON is one neuron of `lenskit find --json`.
type FindNeuronJSON struct {
	Layer   int     `json:"layer"`
	Neuron  int     `json:"neuron"`
	Score   float32 `json:"score"`
	Side    string  `json:"side"`     // "V" for writers; "K", "gate" or "up" for readers
	TokenID int     `json:"token_id"` // the word's token it matched
	Token   string  `json:"token"`    // raw vocabulary entry
}

// FindHeadJSON is one head of `lenskit find --json`.
type FindHeadJSON struct {
	Layer    int     `json:"layer"`
	Head     int     `json:"head"`
	SourceID int     `json:"source_id"`
	Source   string  `json:"source"`
	TargetID int     `json:"target_id"`
	Target   string  `json:"target"`
	Score    float32 `json:"score"`
}

// MarshalJSON is the contract `lenskit find --json` prints:
// {"word":…,"forms":[…],"neurons_write":[{"layer","neuron","score",…}],
// "neurons_read":[…],"heads":[{"layer","head","source_id","source",
// "target_id","target","score"}]}, best first, tokens as raw entries.
func (r *FindResult) MarshalJSON() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	v := r.l.m.Vocab
	type form struct {
		Text    string `json:"text"`
		TokenID int    `json:"token_id"`
		Token   string `json:"token"`
	}
	out := struct {
		Word   string           `json:"word"`
		Forms  []form           `json:"forms"`
		Write  []FindNeuronJSON `json:"neurons_write"`
		Read   []FindNeuronJSON `json:"neurons_read"`
		Heads  []FindHeadJSON   `json:"heads"`
		Filter string           `json:"filter"`
	}{Word: r.Word, Forms: []form{}, Write: []FindNeuronJSON{}, Read: []FindNeuronJSON{}, Heads: []FindHeadJSON{}, Filter: r.l.f.desc}
	for _, f := range r.Forms {
		out.Forms = append(out.Forms, form{f.Text, f.Token, v.Raw(f.Token)})
	}
	for _, h := range r.Write {
		out.Write = append(out.Write, FindNeuronJSON{h.Neuron.Layer, h.Neuron.Index, h.Score, h.Side.String(), h.Token, v.Raw(h.Token)})
	}
	for _, h := range r.Read {
		out.Read = append(out.Read, FindNeuronJSON{h.Neuron.Layer, h.Neuron.Index, h.Score, h.Side.String(), h.Token, v.Raw(h.Token)})
	}
	for _, h := range r.Heads {
		out.Heads = append(out.Heads, FindHeadJSON{h.Head.Layer, h.Head.Head, h.Source, v.Raw(h.Source), h.Target, v.Raw(h.Target), h.Score})
	}
	return json.Marshal(out)
}

// tables renders the three lists.
func (r *FindResult) tables() []*table {
	v := r.l.m.Vocab
	sc := func(x float32) string { return strconv.FormatFloat(float64(x), 'f', 4, 32) }
	var forms []string
	for _, f := range r.Forms {
		forms = append(forms, view.Visible(v.Text(f.Token)))
	}
	head := fmt.Sprintf("%q (tokens %s)", r.Word, strings.Join(slices.Compact(forms), " "))
	neurons := func(title string, hits []project.NeuronHit) *table {
		t := &table{title: title + " " + head, header: []string{"#", "neuron", "side", "token", "score", "view"},
			right: []bool{true, false, false, false, true, false}}
		for i, h := range hits {
			t.rows = append(t.rows, []string{strconv.Itoa(i + 1), h.Neuron.String(), h.Side.String(), view.Visible(v.Text(h.Token)), sc(h.Score),
				fmt.Sprintf("lenskit neuron --layer %d --index %d", h.Neuron.Layer, h.Neuron.Index)})
		}
		return t
	}
	heads := &table{title: "heads whose OV sends most towards " + head, header: []string{"#", "head", "source", "→", "target", "score", "view"},
		right: []bool{true, false, false, false, false, true, false}}
	for i, h := range r.Heads {
		heads.rows = append(heads.rows, []string{strconv.Itoa(i + 1), h.Head.String(), view.Visible(v.Text(h.Source)), "→", view.Visible(v.Text(h.Target)),
			sc(h.Score), fmt.Sprintf("lenskit ov --layer %d --head %d", h.Head.Layer, h.Head.Head)})
	}
	heads.footer = fmt.Sprintf("filter: %s · exact over %d layers", r.l.f.desc, r.l.m.Arch().Layers)
	return []*table{neurons("neurons writing", r.Write), neurons("neurons reading", r.Read), heads}
}

func (r *FindResult) String() string {
	if r.err != nil {
		return "error: " + r.err.Error() + "\n"
	}
	var b strings.Builder
	for i, t := range r.tables() {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(t.String())
	}
	return b.String()
}

func (r *FindResult) HTML() string {
	if r.err != nil {
		return view.ErrorHTML(r.err)
	}
	var b strings.Builder
	for _, t := range r.tables() {
		b.WriteString(t.HTML())
	}
	return b.String()
}

// Show displays the three lists (HTML in GoNB, text elsewhere).
func (r *FindResult) Show() { view.Show(r) }
