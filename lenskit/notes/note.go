package notes

import (
	"fmt"
	"math"
	"runtime/debug"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"lenskit.dev/lenskit/internal/untrusted"
	"lenskit.dev/lenskit/project"
)

// Model identifies the weights a notes file is about. The notes package
// cannot load a model itself (it sits at the end of the pipeline), so the
// caller, usually the lenskit facade, describes it.
type Model struct {
	ID       string // hub name or directory, e.g. "sdadas/polish-gpt2-medium"
	Revision string // hub revision or commit; "" when unknown
	Hash     string // hash of the weights, e.g. "sha256:…"; opening against another hash warns
	Layers   int    // transformer blocks
	Heads    int    // attention heads per layer
	Neurons  int    // MLP neurons per layer (d_ff)
	Vocab    int    // vocabulary size; 0 skips checking the token ids of evidence
}

// Limits on what a model description may claim; they keep a hostile file
// from making the map views allocate without bound.
const (
	maxLayers  = 1024
	maxHeads   = 1024
	maxNeurons = 1 << 24
	maxVocab   = 1 << 24
)

func (m Model) name() string {
	if m.ID == "" {
		return "(unnamed)"
	}
	return m.ID
}

func (m Model) check() error {
	if m.ID == "" {
		return fmt.Errorf("model id is empty")
	}
	if err := checkLine("model id", m.ID, 1000); err != nil {
		return err
	}
	if err := checkLine("model revision", m.Revision, 1000); err != nil {
		return err
	}
	if err := checkLine("model hash", m.Hash, 1000); err != nil {
		return err
	}
	for _, f := range []struct {
		name   string
		v, max int
	}{{"layers", m.Layers, maxLayers}, {"heads", m.Heads, maxHeads}, {"neurons", m.Neurons, maxNeurons}} {
		if f.v < 1 || f.v > f.max {
			return fmt.Errorf("model %s: %s = %d, want 1..%d", m.name(), f.name, f.v, f.max)
		}
	}
	if m.Vocab < 0 || m.Vocab > maxVocab {
		return fmt.Errorf("model %s: vocab = %d, want 0..%d", m.name(), m.Vocab, maxVocab)
	}
	return nil
}

// A Note is one finding about one component: what a researcher concluded
// ("names, medicine") and the evidence it was read from, so the claim can be
// checked later against the same or other weights.
type Note struct {
	ID        string    // stable, unique in its file; merges match notes by it
	Component Component // what the note is about
	Label     string    // short, one line: "names, medicine"
	Text      string    // free text (Markdown)
	Tags      []string  // sorted, without duplicates once stored
	Author    string
	Created   time.Time // UTC, whole seconds once stored
	Updated   time.Time
	Weights   string     // hash of the weights the note was made against
	Members   []TokenRef // token sets: the tokens in the set
	Evidence  *Evidence  // nil when the note cites none
}

// TokenRef is a vocabulary entry by id and by its readable text, so a notes
// file can be read without the tokenizer.
type TokenRef struct {
	ID   int
	Text string
}

// Evidence is what a finding was read from: the top (or bottom) k entries of
// a projection, with the exact filter description and the lenskit version
// that computed them.
type Evidence struct {
	K          int
	Bottom     bool
	Offset     int    // QK of a rotary model: the query–key offset δ
	Filter     string // as described by the filters that produced the result
	Processing string // weight processing ("" = raw weights)
	Lenskit    string // lenskit version that computed it
	// Pairs are the entries of a head view: source → target for OV,
	// query ↔ key for QK.
	Pairs []Pair
	// Columns are a neuron's top tokens, indexed by project.Side: K, V,
	// −K, −V for a plain MLP; gate, up, V, −gate, −up, −V for a gated one.
	// Sides not shown are empty.
	Columns [project.NumSides][]ScoredToken
	// Contexts are a neuron's top-activating contexts in a corpus (from
	// running the model on text), with the corpus and how it was sampled,
	// so that the positions can be found again.
	Corpus   string // the corpus files, by name
	Sample   string // how the corpus was sampled, e.g. "seed 1, 100000 tokens, windows of 64 tokens"
	Contexts []Context
}

// Context is one place in a corpus where a neuron activated: the line, the
// activating token's index in that line's encoding, the text around it
// with the token marked ⟦…⟧, and the activation.
type Context struct {
	Line       int // 1-based line of the corpus
	Token      int
	Text       string
	Activation float32
}

// Sides returns the neuron columns the evidence holds, in display order (K,
// V, −K, −V; or gate, up, V, −gate, −up, −V).
func (e *Evidence) Sides() []project.Side {
	order := project.Sides
	if len(e.Columns[project.Gate])+len(e.Columns[project.Up])+len(e.Columns[project.NegGate])+len(e.Columns[project.NegUp]) > 0 {
		order = project.GatedSides
	}
	var out []project.Side
	for _, s := range order {
		if len(e.Columns[s]) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// ScoredToken is one token of a neuron column with its score.
type ScoredToken struct {
	ID    int
	Text  string
	Score float32
}

// Pair is one entry of a head view with the text of both tokens.
type Pair struct {
	Source     int
	SourceText string
	Target     int
	TargetText string
	Score      float32
}

// FromPairTop turns a head-view result into evidence; text renders token ids
// (nil leaves the texts empty).
func FromPairTop(t project.PairTop, text func(id int) string) Evidence {
	e := Evidence{K: t.K, Bottom: t.Bottom, Offset: t.Offset, Filter: t.Filter, Processing: t.Processing, Lenskit: Version()}
	e.Pairs = make([]Pair, len(t.Pairs))
	for i, p := range t.Pairs {
		e.Pairs[i] = Pair{Source: p.Source, SourceText: render(text, p.Source), Target: p.Target, TargetText: render(text, p.Target), Score: p.Score}
	}
	return e
}

// FromNeuronTop turns a neuron's four-column result into evidence; text
// renders token ids (nil leaves the texts empty).
func FromNeuronTop(t project.NeuronTop, text func(id int) string) Evidence {
	e := Evidence{K: t.K, Filter: t.Filter, Processing: t.Processing, Lenskit: Version()}
	for s, col := range t.Columns {
		if len(col) == 0 {
			continue
		}
		e.Columns[s] = make([]ScoredToken, len(col))
		for i, tok := range col {
			e.Columns[s][i] = ScoredToken{ID: tok.ID, Text: render(text, tok.ID), Score: tok.Score}
		}
	}
	return e
}

func render(text func(int) string, id int) string {
	if text == nil {
		return ""
	}
	return text(id)
}

// Version is the version of lenskit in the running binary, recorded with
// evidence so a finding can be traced to the code that computed it: the
// module version, or "devel" plus the VCS revision in a development build.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	mod := &bi.Main
	if mod.Path != "lenskit.dev" {
		mod = nil
		for _, d := range bi.Deps {
			if d.Path == "lenskit.dev" {
				mod = d
				break
			}
		}
	}
	if mod != nil && mod.Version != "" && mod.Version != "(devel)" {
		return mod.Version
	}
	v := "devel"
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += "+" + s.Value[:12]
		}
	}
	return v
}

// Limits on a note; a notes file is read from strangers' repositories.
const (
	maxIDLen     = 64
	maxLabel     = 200
	maxText      = 64 << 10
	maxTags      = 64
	maxTagLen    = 64
	maxAuthor    = 200
	maxList      = 100_000 // members, pairs, tokens of one column
	maxTokenText = 1000
	maxFilter    = 8 << 10
	maxK         = 1_000_000
)

// normalize puts a note in the form it is stored in: valid UTF-8, trimmed
// label, sorted unique tags, UTC times truncated to seconds.
//
// A list longer than check allows is left as it is, for check to refuse:
// the limits apply before work that grows with the input (de-duplicating
// 300,000 tags one by one took over 30 s).
func (n *Note) normalize() {
	fix := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
	n.Label = strings.TrimSpace(fix(n.Label))
	if len(n.Text) <= maxText {
		n.Text = fix(n.Text)
	}
	n.Author = strings.TrimSpace(fix(n.Author))
	n.Weights = fix(n.Weights)
	if n.Component.Kind == TokenSetKind {
		n.Component.Set = strings.TrimSpace(fix(n.Component.Set))
	}
	if len(n.Tags) <= maxTags {
		tags := make([]string, 0, len(n.Tags))
		for _, t := range n.Tags {
			if t = strings.TrimSpace(fix(t)); t != "" {
				tags = append(tags, t)
			}
		}
		slices.Sort(tags)
		tags = slices.Compact(tags)
		if len(tags) == 0 {
			tags = nil
		}
		n.Tags = tags
	}
	n.Created = n.Created.UTC().Truncate(time.Second)
	n.Updated = n.Updated.UTC().Truncate(time.Second)
	if len(n.Members) <= maxList {
		for i := range n.Members {
			n.Members[i].Text = fix(n.Members[i].Text)
		}
	}
	if e := n.Evidence; e != nil {
		e.Filter, e.Lenskit = fix(e.Filter), fix(e.Lenskit)
		if len(e.Pairs) <= maxList {
			for i := range e.Pairs {
				e.Pairs[i].SourceText, e.Pairs[i].TargetText = fix(e.Pairs[i].SourceText), fix(e.Pairs[i].TargetText)
			}
		}
		for s := range e.Columns {
			if len(e.Columns[s]) > maxList {
				continue
			}
			for i := range e.Columns[s] {
				e.Columns[s][i].Text = fix(e.Columns[s][i].Text)
			}
		}
		e.Corpus, e.Sample = fix(e.Corpus), fix(e.Sample)
		if len(e.Contexts) <= maxList {
			for i := range e.Contexts {
				e.Contexts[i].Text = fix(e.Contexts[i].Text)
			}
		}
	}
}

// check reports whether n is a valid note of model m; the error names the
// field at fault (field is for positions in a file: "label", "tags", …).
func (n *Note) check(m Model) (field string, err error) {
	if err := checkID(n.ID); err != nil {
		return "id", err
	}
	if err := n.Component.check(m); err != nil {
		return "component", err
	}
	if n.Label == "" {
		return "label", fmt.Errorf("label is empty")
	}
	if err := checkLine("label", n.Label, maxLabel); err != nil {
		return "label", err
	}
	if len(n.Text) > maxText {
		return "text", fmt.Errorf("text is %d bytes, more than %d", len(n.Text), maxText)
	}
	if len(n.Tags) > maxTags {
		return "tags", fmt.Errorf("%d tags, more than %d", len(n.Tags), maxTags)
	}
	for _, t := range n.Tags {
		if t == "" || strings.ContainsAny(t, ",") {
			return "tags", fmt.Errorf("tag %s: must be non-empty and without commas", untrusted.Quote(t))
		}
		if err := checkLine("tag", t, maxTagLen); err != nil {
			return "tags", err
		}
	}
	if err := checkLine("author", n.Author, maxAuthor); err != nil {
		return "author", err
	}
	if err := checkLine("weights", n.Weights, 1000); err != nil {
		return "weights", err
	}
	if n.Updated.Before(n.Created) {
		return "updated", fmt.Errorf("updated %s is before created %s", n.Updated.Format(time.RFC3339), n.Created.Format(time.RFC3339))
	}
	if n.Component.Kind != TokenSetKind && len(n.Members) > 0 {
		return "members", fmt.Errorf("members are for token sets, not %s %v", n.Component.Kind, n.Component)
	}
	if len(n.Members) > maxList {
		return "members", fmt.Errorf("%d members, more than %d", len(n.Members), maxList)
	}
	for _, t := range n.Members {
		if err := checkToken(t.ID, t.Text, m); err != nil {
			return "members", err
		}
	}
	if e := n.Evidence; e != nil {
		if err := e.check(m); err != nil {
			return "evidence", err
		}
	}
	return "", nil
}

func (e *Evidence) check(m Model) error {
	if e.K < 0 || e.K > maxK {
		return fmt.Errorf("k = %d, want 0..%d", e.K, maxK)
	}
	if len(e.Filter) > maxFilter {
		return fmt.Errorf("filter description is %d bytes, more than %d", len(e.Filter), maxFilter)
	}
	if err := checkLine("lenskit version", e.Lenskit, 200); err != nil {
		return err
	}
	if len(e.Pairs) > maxList {
		return fmt.Errorf("%d pairs, more than %d", len(e.Pairs), maxList)
	}
	for i, p := range e.Pairs {
		if err := checkToken(p.Source, p.SourceText, m); err != nil {
			return fmt.Errorf("pair %d source: %w", i, err)
		}
		if err := checkToken(p.Target, p.TargetText, m); err != nil {
			return fmt.Errorf("pair %d target: %w", i, err)
		}
		if err := checkScore(p.Score); err != nil {
			return fmt.Errorf("pair %d: %v", i, err)
		}
	}
	if err := checkLine("corpus", e.Corpus, 1000); err != nil {
		return err
	}
	if err := checkLine("sample", e.Sample, 1000); err != nil {
		return err
	}
	if len(e.Contexts) > maxList {
		return fmt.Errorf("%d contexts, more than %d", len(e.Contexts), maxList)
	}
	for i, c := range e.Contexts {
		if c.Line < 1 || c.Token < 0 {
			return fmt.Errorf("context %d: line %d, token %d: want a line ≥ 1 and a token ≥ 0", i, c.Line, c.Token)
		}
		if !utf8.ValidString(c.Text) || len(c.Text) > 64<<10 {
			return fmt.Errorf("context %d: text is not valid UTF-8 or over 64 KiB", i)
		}
		if err := checkScore(c.Activation); err != nil {
			return fmt.Errorf("context %d: %w", i, err)
		}
	}
	for s, col := range e.Columns {
		if len(col) > maxList {
			return fmt.Errorf("column %v: %d tokens, more than %d", project.Side(s), len(col), maxList)
		}
		for i, t := range col {
			if err := checkToken(t.ID, t.Text, m); err != nil {
				return fmt.Errorf("column %v token %d: %w", project.Side(s), i, err)
			}
			if err := checkScore(t.Score); err != nil {
				return fmt.Errorf("column %v token %d: %w", project.Side(s), i, err)
			}
		}
	}
	return nil
}

func checkScore(f float32) error {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return fmt.Errorf("score %v is not a finite number", f)
	}
	return nil
}

func checkToken(id int, text string, m Model) error {
	if id < 0 || (m.Vocab > 0 && id >= m.Vocab) {
		if m.Vocab > 0 {
			return fmt.Errorf("token id %d %w: model %s has vocabulary 0..%d", id, ErrOutOfRange, m.name(), m.Vocab-1)
		}
		return fmt.Errorf("token id %d is negative", id)
	}
	if len(text) > maxTokenText {
		return fmt.Errorf("token %d: text is %d bytes, more than %d", id, len(text), maxTokenText)
	}
	return nil
}

// checkLine checks a one-line field: no control characters, at most max
// characters.
func checkLine(what, s string, max int) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Errorf("%s is %d characters, more than %d", what, n, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s %s contains a control character", what, untrusted.Quote(s))
		}
	}
	return nil
}

func checkID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("note id %s: want 1..%d characters", untrusted.Quote(id), maxIDLen)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("note id %s: only letters, digits, '-' and '_' allowed", untrusted.Quote(id))
		}
	}
	return nil
}

// clone returns a deep copy, so callers never share slices with a store.
func (n Note) clone() Note {
	n.Tags = slices.Clone(n.Tags)
	n.Members = slices.Clone(n.Members)
	if n.Evidence != nil {
		e := *n.Evidence
		e.Pairs = slices.Clone(e.Pairs)
		for s := range e.Columns {
			e.Columns[s] = slices.Clone(e.Columns[s])
		}
		n.Evidence = &e
	}
	return n
}

// sameFinding reports whether a and b say the same thing about the same
// component, whoever wrote them and whenever: merges treat such notes as
// duplicates.
func sameFinding(a, b Note) bool {
	if a.Component != b.Component || a.Label != b.Label || a.Text != b.Text ||
		!slices.Equal(a.Tags, b.Tags) || !slices.Equal(a.Members, b.Members) {
		return false
	}
	if (a.Evidence == nil) != (b.Evidence == nil) {
		return false
	}
	if a.Evidence == nil {
		return true
	}
	x, y := a.Evidence, b.Evidence
	if x.K != y.K || x.Bottom != y.Bottom || x.Offset != y.Offset || x.Filter != y.Filter || x.Processing != y.Processing || x.Lenskit != y.Lenskit || !slices.Equal(x.Pairs, y.Pairs) {
		return false
	}
	for s := range x.Columns {
		if !slices.Equal(x.Columns[s], y.Columns[s]) {
			return false
		}
	}
	return true
}

// equalNote reports whether a and b are identical in every stored field.
func equalNote(a, b Note) bool {
	return a.ID == b.ID && a.Author == b.Author && a.Created.Equal(b.Created) &&
		a.Updated.Equal(b.Updated) && a.Weights == b.Weights && sameFinding(a, b)
}

// compareNotes is the order of the notes file: by component, then creation
// time, then id.
func compareNotes(a, b Note) int {
	if d := a.Component.compare(b.Component); d != 0 {
		return d
	}
	if d := a.Created.Compare(b.Created); d != 0 {
		return d
	}
	return strings.Compare(a.ID, b.ID)
}
