package notes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"lenskit.dev/lenskit/internal/untrusted"
	"lenskit.dev/lenskit/project"
)

// Schema names the format version written in every notes file. A reader
// refuses other versions rather than guess, and refuses fields it does not
// know, so a rewrite can never silently drop what a newer lenskit wrote.
const Schema = "lenskit-notes/1"

// MaxFileSize bounds the notes files this package reads or writes; a file
// above it is refused before it is read.
const MaxFileSize = 64 << 20

// A File is the content of one notes file: the model it is about and its
// notes, in file order (by component, then creation time, then id).
type File struct {
	Model Model
	Notes []Note
}

// ParseError reports a notes file that cannot be read, with the position of
// the fault. The file is left as it is; writes to it are refused until it is
// fixed.
type ParseError struct {
	Name string // file name as given to Parse or ReadFile
	Line int    // 1-based
	Col  int    // 1-based, in characters
	Note string // id of the note at fault, when known
	Err  error
}

func (e *ParseError) Error() string {
	s := fmt.Sprintf("%s:%d:%d: ", e.Name, e.Line, e.Col)
	if e.Note != "" {
		s += "note " + untrusted.Name(e.Note) + ": "
	}
	return s + e.Err.Error()
}

func (e *ParseError) Unwrap() error { return e.Err }

// ReadFile reads and parses the notes file at path. Its size is checked
// against MaxFileSize before anything is read.
func ReadFile(path string) (*File, error) {
	data, err := readCapped(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// readCapped reads a notes file, which must be a regular file: the type is
// checked before anything blocks (a FIFO named as the notes file used to
// hang the open for ever), and the size before anything is read.
func readCapped(path string) ([]byte, error) {
	f, err := untrusted.Open(path)
	if errors.Is(err, untrusted.ErrNotRegular) {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("notes: %s: %w", path, err)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("notes: %s is %d bytes, more than the %d a notes file may have", path, st.Size(), MaxFileSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("notes: reading %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("notes: %s grew past %d bytes while being read", path, MaxFileSize)
	}
	return data, nil
}

// Parse reads a notes file; name is used in errors. Notes come back
// normalized and sorted, as Encode would write them. Any fault — bad JSON,
// a truncated file, an unknown or repeated field, a component out of range
// of the file's model — is a *ParseError with its line and column.
func Parse(name string, data []byte) (*File, error) {
	perr := func(off int64, note string, err error) error {
		line, col := position(data, off)
		return &ParseError{Name: name, Line: line, Col: col, Note: note, Err: err}
	}
	if len(data) > MaxFileSize {
		return nil, perr(0, "", fmt.Errorf("%d bytes, more than the %d a notes file may have", len(data), MaxFileSize))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, perr(0, "", errors.New("file is empty (delete it to start a new notes file)"))
	}
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return nil, perr(int64(off), "", errors.New("invalid UTF-8"))
	}
	// Syntax first: json.Unmarshal checks the whole input before decoding and
	// reports the offset just past the offending byte.
	var raw json.RawMessage
	if !json.Valid(data) {
		err := json.Unmarshal(data, &raw)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off := se.Offset - 1
			if strings.Contains(se.Error(), "unexpected end of JSON input") {
				off = int64(len(data))
				err = errors.New("file ends in the middle of the JSON (truncated?)")
			}
			return nil, perr(off, "", err)
		}
		return nil, perr(0, "", fmt.Errorf("invalid JSON: %v", err))
	}
	if data[skipSpace(data, 0)] != '{' {
		return nil, perr(skipSpace(data, 0), "", errors.New("a notes file is a JSON object"))
	}
	pos, err := walk(data)
	if err != nil {
		return nil, perr(err.(*walkError).off, "", err.(*walkError).err)
	}
	var w wireFile
	if err := json.Unmarshal(data, &w); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			// The offset is just past the offending value.
			return nil, perr(max(te.Offset-1, 0), "", fmt.Errorf("%s: got JSON %s, want %v", te.Field, te.Value, te.Type))
		}
		return nil, perr(0, "", err)
	}
	if w.Schema != Schema {
		return nil, perr(pos.at("schema"), "", fmt.Errorf("schema %s: this lenskit reads %q", untrusted.Quote(w.Schema), Schema))
	}
	f := &File{Model: w.Model.model()}
	if err := f.Model.check(); err != nil {
		return nil, perr(pos.at("model"), "", err)
	}
	f.Notes = make([]Note, 0, len(w.Notes))
	seen := make(map[string]bool, len(w.Notes))
	for i, wn := range w.Notes {
		prefix := "notes[" + strconv.Itoa(i) + "]"
		n, field, err := wn.note()
		if err == nil {
			n.normalize()
			field, err = n.check(f.Model)
		}
		if err == nil && seen[n.ID] {
			field, err = "id", fmt.Errorf("id %s is used by an earlier note", n.ID)
		}
		if err != nil {
			fields := fieldPositions(data, pos.at(prefix), prefix)
			return nil, perr(fields.at(prefix+"."+field, prefix), wn.ID, err)
		}
		seen[n.ID] = true
		f.Notes = append(f.Notes, n)
	}
	slices.SortFunc(f.Notes, compareNotes)
	return f, nil
}

// Encode writes f in the canonical form: notes sorted by component,
// creation time and id; keys in a fixed order; one line per field, tag list
// and evidence entry; so that a change to one note changes only the lines
// of that note in a git diff. Invalid notes are refused, not written.
func (f *File) Encode() ([]byte, error) {
	c, err := f.canonical()
	if err != nil {
		return nil, err
	}
	return c.encode()
}

// canonical returns a checked copy of f in the form Parse would return:
// notes normalized and sorted.
func (f *File) canonical() (*File, error) {
	if err := f.Model.check(); err != nil {
		return nil, fmt.Errorf("notes: %v", err)
	}
	if len(f.Notes) > MaxNotes {
		return nil, fmt.Errorf("notes: %d notes, more than the %d a notes file may hold", len(f.Notes), MaxNotes)
	}
	c := &File{Model: f.Model, Notes: make([]Note, len(f.Notes))}
	seen := make(map[string]bool, len(f.Notes))
	for i, n := range f.Notes {
		n = n.clone()
		n.normalize()
		if _, err := n.check(f.Model); err != nil {
			return nil, fmt.Errorf("notes: note %s: %v", n.ID, err)
		}
		if seen[n.ID] {
			return nil, fmt.Errorf("notes: two notes with id %s", n.ID)
		}
		seen[n.ID] = true
		c.Notes[i] = n
	}
	slices.SortFunc(c.Notes, compareNotes)
	return c, nil
}

// encode writes a canonical file.
func (f *File) encode() ([]byte, error) {
	w := wireFile{Schema: Schema, Model: wireModelOf(f.Model), Notes: make([]wireNote, len(f.Notes))}
	for i, n := range f.Notes {
		w.Notes[i] = wireNoteOf(n)
	}
	var compact bytes.Buffer
	enc := json.NewEncoder(&compact)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return nil, fmt.Errorf("notes: encoding: %v", err)
	}
	var out bytes.Buffer
	out.Grow(compact.Len() * 5 / 4)
	indentJSON(&out, bytes.TrimSpace(compact.Bytes()), "", 0)
	out.WriteByte('\n')
	if out.Len() > MaxFileSize {
		return nil, fmt.Errorf("notes: file would be %d bytes, more than %d", out.Len(), MaxFileSize)
	}
	return out.Bytes(), nil
}

// indentJSON lays out compact JSON: a container holding only scalars goes
// on one line ({"id": 5, "text": "kot", "score": 1.5}); a container holding
// containers gets one line per element, and so do the file itself and each
// note (depths 0 and 2), so that every note is a block of its own.
func indentJSON(out *bytes.Buffer, v []byte, indent string, depth int) {
	if len(v) == 0 || (v[0] != '{' && v[0] != '[') {
		out.Write(v)
		return
	}
	elems := splitTop(v)
	if len(elems) == 0 {
		out.Write(v)
		return
	}
	obj := v[0] == '{'
	value := func(e []byte) (key, val []byte) {
		if !obj {
			return nil, e
		}
		end := stringEnd(e, 0)
		return e[:end], e[end+1:] // skip the ':'
	}
	flat := depth != 0 && depth != 2
	for _, e := range elems {
		_, val := value(e)
		if val[0] == '{' || val[0] == '[' {
			flat = false
			break
		}
	}
	open, close := v[0], v[len(v)-1]
	out.WriteByte(open)
	inner := indent + "  "
	for i, e := range elems {
		if flat {
			if i > 0 {
				out.WriteString(", ")
			}
		} else {
			if i > 0 {
				out.WriteByte(',')
			}
			out.WriteByte('\n')
			out.WriteString(inner)
		}
		key, val := value(e)
		if key != nil {
			out.Write(key)
			out.WriteString(": ")
		}
		indentJSON(out, val, inner, depth+1)
	}
	if !flat {
		out.WriteByte('\n')
		out.WriteString(indent)
	}
	out.WriteByte(close)
}

// splitTop splits the elements of a compact JSON object or array.
func splitTop(v []byte) [][]byte {
	var elems [][]byte
	depth, start := 0, 1
	for i := 1; i < len(v)-1; i++ {
		switch c := v[i]; c {
		case '"':
			i = stringEnd(v, i) - 1
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case ',':
			if depth == 0 {
				elems = append(elems, v[start:i])
				start = i + 1
			}
		}
	}
	if start < len(v)-1 {
		elems = append(elems, v[start:len(v)-1])
	}
	return elems
}

// stringEnd returns the index just past the JSON string starting at v[i].
func stringEnd(v []byte, i int) int {
	for j := i + 1; j < len(v); j++ {
		switch v[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(v)
}

// position turns a byte offset into a 1-based line and character column.
func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = 1 + bytes.Count(before, []byte{'\n'})
	lineStart := bytes.LastIndexByte(before, '\n') + 1
	return line, 1 + utf8.RuneCount(before[lineStart:])
}

func skipSpace(data []byte, off int64) int64 {
	for off < int64(len(data)) {
		switch data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
		default:
			return off
		}
	}
	return off
}

// The wire types fix the file's keys and their order. Times and components
// are strings here and parsed by hand, so their errors carry positions.
type wireFile struct {
	Schema string     `json:"schema"`
	Model  wireModel  `json:"model"`
	Notes  []wireNote `json:"notes"`
}

type wireModel struct {
	ID       string `json:"id"`
	Revision string `json:"revision"`
	Hash     string `json:"hash"`
	Layers   int    `json:"layers"`
	Heads    int    `json:"heads"`
	Neurons  int    `json:"neurons"`
	Vocab    int    `json:"vocab,omitempty"`
}

type wireNote struct {
	ID        string        `json:"id"`
	Component string        `json:"component"`
	Label     string        `json:"label"`
	Text      string        `json:"text,omitempty"`
	Tags      []string      `json:"tags,omitempty"`
	Author    string        `json:"author,omitempty"`
	Created   string        `json:"created"`
	Updated   string        `json:"updated"`
	Weights   string        `json:"weights,omitempty"`
	Members   []wireMember  `json:"members,omitempty"`
	Evidence  *wireEvidence `json:"evidence,omitempty"`
}

type wireMember struct {
	ID   int    `json:"id"`
	Text string `json:"text"`
}

type wireScored struct {
	ID    int     `json:"id"`
	Text  string  `json:"text"`
	Score float32 `json:"score"`
}

type wirePair struct {
	Source     int     `json:"source"`
	SourceText string  `json:"source_text"`
	Target     int     `json:"target"`
	TargetText string  `json:"target_text"`
	Score      float32 `json:"score"`
}

type wireColumns struct {
	K       []wireScored `json:"K,omitempty"`
	V       []wireScored `json:"V,omitempty"`
	NegK    []wireScored `json:"-K,omitempty"`
	NegV    []wireScored `json:"-V,omitempty"`
	Gate    []wireScored `json:"gate,omitempty"`
	Up      []wireScored `json:"up,omitempty"`
	NegGate []wireScored `json:"-gate,omitempty"`
	NegUp   []wireScored `json:"-up,omitempty"`
}

// bySide lists the columns indexed by project.Side.
func (c *wireColumns) bySide() [project.NumSides]*[]wireScored {
	return [project.NumSides]*[]wireScored{project.Key: &c.K, project.Value: &c.V, project.NegKey: &c.NegK, project.NegValue: &c.NegV,
		project.Gate: &c.Gate, project.Up: &c.Up, project.NegGate: &c.NegGate, project.NegUp: &c.NegUp}
}

type wireEvidence struct {
	K          int           `json:"k"`
	Bottom     bool          `json:"bottom"`
	Offset     int           `json:"offset,omitempty"`
	Filter     string        `json:"filter"`
	Processing string        `json:"processing,omitempty"`
	Lenskit    string        `json:"lenskit"`
	Pairs      []wirePair    `json:"pairs,omitempty"`
	Columns    *wireColumns  `json:"columns,omitempty"`
	Corpus     string        `json:"corpus,omitempty"`
	Sample     string        `json:"sample,omitempty"`
	Contexts   []wireContext `json:"contexts,omitempty"`
}

type wireContext struct {
	Line       int     `json:"line"`
	Token      int     `json:"token"`
	Text       string  `json:"text"`
	Activation float32 `json:"activation"`
}

// schema lists the keys each object may have, for the walk that finds
// unknown and repeated keys. A nil map means "scalar or anything".
type shape struct {
	fields map[string]*shape
	elem   *shape
}

var fileShape = func() *shape {
	scalar := &shape{}
	obj := func(keys ...string) *shape {
		s := &shape{fields: map[string]*shape{}}
		for _, k := range keys {
			s.fields[k] = scalar
		}
		return s
	}
	arr := func(e *shape) *shape { return &shape{elem: e} }
	scored := obj("id", "text", "score")
	cols := &shape{fields: map[string]*shape{"K": arr(scored), "V": arr(scored), "-K": arr(scored), "-V": arr(scored),
		"gate": arr(scored), "up": arr(scored), "-gate": arr(scored), "-up": arr(scored)}}
	ev := obj("k", "bottom", "offset", "filter", "processing", "lenskit", "corpus", "sample")
	ev.fields["contexts"] = arr(obj("line", "token", "text", "activation"))
	ev.fields["pairs"] = arr(obj("source", "source_text", "target", "target_text", "score"))
	ev.fields["columns"] = cols
	note := obj("id", "component", "label", "text", "author", "created", "updated", "weights")
	note.fields["tags"] = arr(scalar)
	note.fields["members"] = arr(obj("id", "text"))
	note.fields["evidence"] = ev
	root := obj("schema")
	root.fields["model"] = obj("id", "revision", "hash", "layers", "heads", "neurons", "vocab")
	root.fields["notes"] = arr(note)
	return root
}()

// positions maps paths ("schema", "notes[3]", "notes[3].label") to the
// offset where their value starts.
type positions map[string]int64

func (p positions) at(paths ...string) int64 {
	for _, k := range paths {
		if off, ok := p[k]; ok {
			return off
		}
	}
	return 0
}

type walkError struct {
	off int64
	err error
}

func (e *walkError) Error() string { return e.err.Error() }

// walk goes through syntactically valid JSON, recording where the values
// of the first two levels start (the file's fields, each note) and refusing
// unknown or repeated keys, which encoding/json would otherwise drop or
// overwrite without a word, and more than MaxNotes notes. It scans the bytes
// itself: the input is known to be valid, and json.Decoder.Token would make
// this the slowest step of reading a file. Positions inside a note are
// found when an error needs one (fieldPositions): recording every field of
// every note made a 60 MB file of 540,000 notes peak at 840 MB.
func walk(data []byte) (positions, error) {
	w := walker{data: data, pos: positions{}, maxDepth: 2}
	if _, err := w.value(0, fileShape, "", 0); err != nil {
		return nil, err
	}
	return w.pos, nil
}

// fieldPositions records where the fields of the note at off start, under
// paths prefix.field.
func fieldPositions(data []byte, off int64, prefix string) positions {
	w := walker{data: data, pos: positions{}, maxDepth: 3}
	w.value(int(off), fileShape.fields["notes"].elem, prefix, 2)
	return w.pos
}

// MaxNotes bounds the notes of one file, checked as the file is read,
// before anything is built for them.
const MaxNotes = 100_000

type walker struct {
	data     []byte
	pos      positions
	maxDepth int // record positions of values up to this depth
}

var anything = &shape{}

func (w *walker) space(off int) int {
	for off < len(w.data) {
		switch w.data[off] {
		case ' ', '\t', '\r', '\n':
			off++
		default:
			return off
		}
	}
	return off
}

// value walks the value at data[off:] (after spaces) and returns the offset
// just past it.
func (w *walker) value(off int, sh *shape, path string, depth int) (int, error) {
	off = w.space(off)
	if depth <= w.maxDepth && path != "" {
		w.pos[path] = int64(off)
	}
	if off >= len(w.data) {
		return off, &walkError{int64(off), errors.New("unexpected end of input")}
	}
	switch w.data[off] {
	case '"':
		return stringEnd(w.data, off), nil
	case '{':
		seen := map[string]bool{}
		where := path
		if where == "" {
			where = "the top level"
		}
		off = w.space(off + 1)
		for w.data[off] != '}' {
			keyOff := off
			keyEnd := stringEnd(w.data, off)
			key := string(w.data[off+1 : keyEnd-1])
			if strings.ContainsRune(key, '\\') {
				if err := json.Unmarshal(w.data[off:keyEnd], &key); err != nil {
					return off, &walkError{int64(off), err}
				}
			}
			sub := anything
			if sh.fields != nil {
				var known bool
				if sub, known = sh.fields[key]; !known {
					return off, &walkError{int64(keyOff), fmt.Errorf("unknown field %s in %s (schema %s)", untrusted.Quote(key), where, Schema)}
				}
				if seen[key] {
					return off, &walkError{int64(keyOff), fmt.Errorf("field %s appears twice in %s", untrusted.Quote(key), where)}
				}
				seen[key] = true
			}
			subPath := ""
			if depth < 3 {
				subPath = key
				if path != "" {
					subPath = path + "." + key
				}
			}
			off = w.space(keyEnd) + 1 // past the ':'
			end, err := w.value(off, sub, subPath, depth+1)
			if err != nil {
				return end, err
			}
			off = w.space(end)
			if w.data[off] == ',' {
				off = w.space(off + 1)
			}
		}
		return off + 1, nil
	case '[':
		elem := sh.elem
		if elem == nil {
			elem = anything
		}
		off = w.space(off + 1)
		for i := 0; w.data[off] != ']'; i++ {
			if path == "notes" && depth == 1 && i >= MaxNotes {
				return off, &walkError{int64(off), fmt.Errorf("more than %d notes (the most a notes file may hold)", MaxNotes)}
			}
			subPath := ""
			if depth < 3 {
				subPath = path + "[" + strconv.Itoa(i) + "]"
			}
			end, err := w.value(off, elem, subPath, depth+1)
			if err != nil {
				return end, err
			}
			off = w.space(end)
			if w.data[off] == ',' {
				off = w.space(off + 1)
			}
		}
		return off + 1, nil
	}
	// A number, true, false or null.
	for off < len(w.data) {
		switch w.data[off] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return off, nil
		}
		off++
	}
	return off, nil
}

func wireModelOf(m Model) wireModel {
	return wireModel{ID: m.ID, Revision: m.Revision, Hash: m.Hash, Layers: m.Layers, Heads: m.Heads, Neurons: m.Neurons, Vocab: m.Vocab}
}

func (w wireModel) model() Model {
	return Model{ID: w.ID, Revision: w.Revision, Hash: w.Hash, Layers: w.Layers, Heads: w.Heads, Neurons: w.Neurons, Vocab: w.Vocab}
}

const timeFormat = time.RFC3339

func wireNoteOf(n Note) wireNote {
	w := wireNote{
		ID: n.ID, Component: n.Component.String(), Label: n.Label, Text: n.Text, Tags: n.Tags,
		Author: n.Author, Created: n.Created.Format(timeFormat), Updated: n.Updated.Format(timeFormat),
		Weights: n.Weights,
	}
	for _, t := range n.Members {
		w.Members = append(w.Members, wireMember(t))
	}
	if e := n.Evidence; e != nil {
		we := &wireEvidence{K: e.K, Bottom: e.Bottom, Offset: e.Offset, Filter: e.Filter, Processing: e.Processing, Lenskit: e.Lenskit}
		for _, p := range e.Pairs {
			we.Pairs = append(we.Pairs, wirePair(p))
		}
		var c wireColumns
		any := false
		for s, dst := range c.bySide() {
			for _, t := range e.Columns[s] {
				*dst = append(*dst, wireScored(t))
				any = true
			}
		}
		if any {
			we.Columns = &c
		}
		we.Corpus, we.Sample = e.Corpus, e.Sample
		for _, x := range e.Contexts {
			we.Contexts = append(we.Contexts, wireContext(x))
		}
		w.Evidence = we
	}
	return w
}

// note converts a wire note; field names the key at fault.
func (w wireNote) note() (n Note, field string, err error) {
	n = Note{ID: w.ID, Label: w.Label, Text: w.Text, Tags: w.Tags, Author: w.Author, Weights: w.Weights}
	if n.Component, err = ParseComponent(w.Component); err != nil {
		return n, "component", errors.New(strings.TrimPrefix(err.Error(), "notes: "))
	}
	if n.Created, err = time.Parse(timeFormat, w.Created); err != nil {
		return n, "created", fmt.Errorf("created %s: want a time like %s", untrusted.Quote(w.Created), timeFormat)
	}
	if n.Updated, err = time.Parse(timeFormat, w.Updated); err != nil {
		return n, "updated", fmt.Errorf("updated %s: want a time like %s", untrusted.Quote(w.Updated), timeFormat)
	}
	for _, t := range w.Members {
		n.Members = append(n.Members, TokenRef(t))
	}
	if we := w.Evidence; we != nil {
		e := &Evidence{K: we.K, Bottom: we.Bottom, Offset: we.Offset, Filter: we.Filter, Processing: we.Processing, Lenskit: we.Lenskit}
		for _, p := range we.Pairs {
			e.Pairs = append(e.Pairs, Pair(p))
		}
		if c := we.Columns; c != nil {
			for s, col := range c.bySide() {
				for _, t := range *col {
					e.Columns[s] = append(e.Columns[s], ScoredToken(t))
				}
			}
		}
		e.Corpus, e.Sample = we.Corpus, we.Sample
		for _, x := range we.Contexts {
			e.Contexts = append(e.Contexts, Context(x))
		}
		n.Evidence = e
	}
	return n, "", nil
}
