package notes

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestEncodeParseRoundTrip(t *testing.T) {
	f := sampleFile()
	data, err := f.Encode()
	if err != nil {
		t.Fatal(err)
	}
	g, err := Parse("sample.json", data)
	if err != nil {
		t.Fatalf("Parse(Encode()): %v\n%s", err, data)
	}
	if g.Model != f.Model {
		t.Errorf("model = %+v, want %+v", g.Model, f.Model)
	}
	if len(g.Notes) != len(f.Notes) {
		t.Fatalf("%d notes, want %d", len(g.Notes), len(f.Notes))
	}
	// Parse returns the notes sorted: heads, neurons, sets.
	want := map[string]Note{}
	for _, n := range f.Notes {
		n = n.clone()
		n.normalize()
		want[n.ID] = n
	}
	for i, id := range []string{"head1", "neuron1", "set1"} {
		if g.Notes[i].ID != id {
			t.Errorf("note %d is %s, want %s", i, g.Notes[i].ID, id)
		}
		if !equalNote(g.Notes[i], want[id]) {
			t.Errorf("note %s changed in the round trip:\n got %+v\nwant %+v", id, g.Notes[i], want[id])
		}
	}
	again, err := g.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Errorf("Encode is not stable:\n%s\n---\n%s", data, again)
	}
}

// The layout is what makes the file diff-friendly: check it line by line
// for the parts that matter.
func TestEncodeLayout(t *testing.T) {
	data, err := sampleFile().Encode()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	for _, want := range []string{
		`  "schema": "lenskit-notes/1",`,
		`  "model": {"id": "tiny-pl-gpt2", "revision": "main", "hash": "sha256:1111", "layers": 4, "heads": 8, "neurons": 1024, "vocab": 8192},`,
		`      "component": "3.7 OV",`,
		`      "text": "Copies first names;\nalso \"medicine\" <tokens> & more.",`,
		`      "tags": ["clothing", "semantic"],`,
		`          {"source": 100, "source_text": "Cezary", "target": 101, "target_text": "Benedykt", "score": 4.5},`,
		`            {"id": 11, "text": "przebra", "score": 3.25},`,
		`        {"id": 8, "text": "psiakrew"}`,
	} {
		found := false
		for _, l := range lines {
			if l == want {
				found = true
			}
		}
		if !found {
			t.Errorf("no line %s in\n%s", want, data)
		}
	}
	// Notes sorted by component: head 3.7 before neuron L2/N345 before the set.
	h, n, s := bytes.Index(data, []byte(`"3.7 OV"`)), bytes.Index(data, []byte(`"L2/N345 K"`)), bytes.Index(data, []byte(`"set:swear words"`))
	if !(h < n && n < s) {
		t.Errorf("notes not in component order: %d %d %d", h, n, s)
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(f *File)
		error string
	}{
		{"duplicate id", func(f *File) { f.Notes[1].ID = f.Notes[0].ID }, "two notes with id neuron1"},
		{"layer out of range", func(f *File) { f.Notes[0].Component.Layer = 4 }, "layer 4 out of range"},
		{"NaN score", func(f *File) { f.Notes[1].Evidence.Pairs[0].Score = float32(nan()) }, "not a finite number"},
		{"empty label", func(f *File) { f.Notes[2].Label = "  " }, "label is empty"},
		{"no model id", func(f *File) { f.Model.ID = "" }, "model id is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := sampleFile()
			tc.edit(f)
			_, err := f.Encode()
			if err == nil || !strings.Contains(err.Error(), tc.error) {
				t.Errorf("Encode error = %v, want one containing %q", err, tc.error)
			}
		})
	}
}

// sampleText is the encoded sample, for the malformed-file cases to edit.
func sampleText(t testing.TB) string {
	data, err := sampleFile().Encode()
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestParseErrorsHavePositions(t *testing.T) {
	good := sampleText(t)
	lineOf := func(s string) int { // 1-based line of the first occurrence of s in good
		i := strings.Index(good, s)
		if i < 0 {
			t.Fatalf("sample has no %q", s)
		}
		return 1 + strings.Count(good[:i], "\n")
	}
	replace := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("sample has no %q", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	nLines := strings.Count(good, "\n")
	for _, tc := range []struct {
		name     string
		data     string
		line     int
		col      int // 0: any
		contains string
	}{
		{"truncated", good[:len(good)/2], 1 + strings.Count(good[:len(good)/2], "\n"), 0, "truncated"},
		{"truncated before last brace", strings.TrimSuffix(good, "}\n"), nLines, 0, "truncated"},
		{"empty", "", 1, 1, "empty"},
		{"wrong last bracket", strings.TrimSuffix(good, "}\n") + "]", nLines, 1, "invalid character ']'"},
		{"blank", "\n\n  \n", 1, 1, "empty"},
		{"bad character", replace(`"k": 2,`, `"k": x2,`), lineOf(`"k": 2,`), 14, "invalid character 'x'"},
		{"missing comma", replace(`"label": "names, medicine",`, `"label": "names, medicine"`), lineOf(`"label": "names, medicine",`) + 1, 7, "invalid character"},
		{"trailing garbage", good + "{}", nLines + 1, 1, "after top-level value"},
		{"not an object", "[]", 1, 1, "JSON object"},
		{"unknown field", replace(`"label": "names, medicine",`, `"lable": "names, medicine",`), lineOf(`"label": "names, medicine",`), 7, `unknown field "lable"`},
		{"unknown evidence field", replace(`"bottom": false,
        "filter": "alnum",`, `"bottom": false, "topk": 5,
        "filter": "alnum",`), lineOf(`"filter": "alnum",`) - 1, 26, `unknown field "topk" in notes[0].evidence`},
		{"repeated field", replace(`"label": "names, medicine",`, `"label": "names, medicine", "label": "sports",`), lineOf(`"label": "names, medicine",`), 35, `"label" appears twice`},
		{"wrong type", replace(`"layers": 4`, `"layers": "4"`), lineOf(`"layers": 4`), 0, "model.layers: got JSON string, want int"},
		{"schema", replace(`"lenskit-notes/1"`, `"lenskit-notes/2"`), 2, 13, `schema "lenskit-notes/2"`},
		{"bad component", replace(`"3.7 OV"`, `"3.7 XY"`), lineOf(`"3.7 OV"`), 20, "a head's view is OV or QK"},
		{"head out of range", replace(`"3.7 OV"`, `"3.8 OV"`), lineOf(`"3.7 OV"`), 20, "head 8 out of range"},
		{"layer out of range", replace(`"L2/N345 K"`, `"L4/N345 K"`), lineOf(`"L2/N345 K"`), 20, "layer 4 out of range"},
		{"neuron out of range", replace(`"L2/N345 K"`, `"L2/N1024 K"`), lineOf(`"L2/N345 K"`), 20, "neuron 1024 out of range"},
		{"token out of range", replace(`"id": 8, "text": "psiakrew"`, `"id": 8192, "text": "psiakrew"`), lineOf(`"id": 8, "text": "psiakrew"`) - 2, 18, "token id 8192 out of range"},
		{"duplicate id", replace(`"id": "set1"`, `"id": "head1"`), lineOf(`"id": "set1"`), 13, "used by an earlier note"},
		{"bad time", replace(`"created": "2026-11-27T10:00:00Z",
      "updated": "2026-11-27T11:00:00Z"`, `"created": "27.11.2026",
      "updated": "2026-11-27T11:00:00Z"`), lineOf(`"updated": "2026-11-27T11:00:00Z"`) - 1, 18, `created "27.11.2026"`},
		{"empty label", replace(`"label": "przekleństwa"`, `"label": ""`), lineOf(`"label": "przekleństwa"`), 16, "label is empty"},
		{"bad model", replace(`"heads": 8`, `"heads": 0`), 3, 12, "heads = 0"},
		{"invalid UTF-8", replace("przekleństwa", "przekle\xf1stwa"), lineOf("przekleństwa"), 24, "invalid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("notes.json", []byte(tc.data))
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", f)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is %T, want *ParseError", err, err)
			}
			if pe.Line != tc.line || (tc.col != 0 && pe.Col != tc.col) {
				t.Errorf("position %d:%d, want %d:%d (%v)", pe.Line, pe.Col, tc.line, tc.col, err)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not contain %q", err, tc.contains)
			}
			if !strings.HasPrefix(err.Error(), "notes.json:") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

func TestParseAcceptsHandEdits(t *testing.T) {
	// A person may reorder notes and tags, use another time zone, and
	// reindent; the file still reads, and is written back canonical.
	in := `{"notes": [
	{"id": "b", "component": "0.1/qk", "label": " second ", "tags": ["z", "a", "z"],
	 "created": "2026-11-27T12:00:00+02:00", "updated": "2026-11-27T12:00:00+02:00"},
	{"id": "a", "component": "L0/N5:value", "label": "first", "created": "2026-11-27T09:00:00Z", "updated": "2026-11-27T09:00:00Z"}
], "model": {"id": "m", "revision": "", "hash": "h", "layers": 1, "heads": 2, "neurons": 8}, "schema": "lenskit-notes/1"}`
	f, err := Parse("hand.json", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	b := f.Notes[0]
	if b.ID != "b" || b.Component.String() != "0.1 QK" || b.Label != "second" || !reflect.DeepEqual(b.Tags, []string{"a", "z"}) {
		t.Errorf("first note = %+v", b)
	}
	if got := b.Created.Format("15:04 MST"); got != "10:00 UTC" {
		t.Errorf("created = %s, want 10:00 UTC", got)
	}
	if f.Notes[1].Component.String() != "L0/N5 V" {
		t.Errorf("second note component = %v", f.Notes[1].Component)
	}
}

func TestEncodeNoteWithoutListsIsABlock(t *testing.T) {
	f := &File{Model: testModel, Notes: []Note{{ID: "a", Component: TokenSet("s"), Label: "x", Created: t0, Updated: t0}}}
	data, err := f.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "schema": "lenskit-notes/1",
  "model": {"id": "tiny-pl-gpt2", "revision": "main", "hash": "sha256:1111", "layers": 4, "heads": 8, "neurons": 1024, "vocab": 8192},
  "notes": [
    {
      "id": "a",
      "component": "set:s",
      "label": "x",
      "created": "2026-11-27T10:00:00Z",
      "updated": "2026-11-27T10:00:00Z"
    }
  ]
}
`
	if string(data) != want {
		t.Errorf("got\n%s\nwant\n%s", data, want)
	}
	empty, err := (&File{Model: testModel}).Encode()
	if err != nil || !strings.Contains(string(empty), `  "notes": []`) {
		t.Errorf("empty file:\n%s %v", empty, err)
	}
}
