package notes

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the notes file parser: it must never
// panic, every error must carry a position inside the input, and whatever
// it accepts must encode, re-parse to the same notes and encode to the same
// bytes again.
func FuzzParse(f *testing.F) {
	good := sampleText(f)
	f.Add([]byte(good))
	for _, cut := range []int{1, 10, 100, len(good) / 2, len(good) - 3} {
		f.Add([]byte(good[:cut]))
	}
	f.Add([]byte(strings.Replace(good, `"3.7 OV"`, `"3.9 OV"`, 1)))
	f.Add([]byte(strings.Replace(good, `"label": "names, medicine",`, `"label": "x", "label": "y",`, 1)))
	f.Add([]byte(`{"schema": "lenskit-notes/1", "model": {"id": "m", "revision": "", "hash": "", "layers": 1, "heads": 1, "neurons": 1}, "notes": []}`))
	f.Add([]byte(`{"schema": "lenskit-notes/1", "model": {"id": "m", "revision": "", "hash": "", "layers": 1, "heads": 1, "neurons": 1}, "notes": [{"id": "a", "component": "set:x", "label": "l", "created": "2026-01-01T00:00:00Z", "updated": "2026-01-01T00:00:00Z", "members": [{"id": 1, "text": "\u0000\ud800"}]}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[[[[[[[[[[[[`))
	f.Add([]byte("\xff"))
	// Huge tag lists (the quadratic de-duplication), distinct, repeated
	// and within the limit but with duplicates.
	many := func(n int, tag func(i int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = tag(i)
		}
		return out
	}
	f.Add(fileWithTags(many(3000, func(i int) string { return "t" + strconv.Itoa(i) })))
	f.Add(fileWithTags(many(3000, func(int) string { return "same" })))
	f.Add(fileWithTags(many(64, func(i int) string { return " t" + strconv.Itoa(i%7) })))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.json", data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is %T, not *ParseError", err, err)
			}
			if len(err.Error()) > 1000 {
				t.Fatalf("%d-byte error message: %.200q", len(err.Error()), err)
			}
			if lines := 1 + bytes.Count(data, []byte{'\n'}); pe.Line < 1 || pe.Line > lines || pe.Col < 1 {
				t.Fatalf("position %d:%d outside the input (%d lines): %v", pe.Line, pe.Col, lines, err)
			}
			return
		}
		enc, err := file.Encode()
		if err != nil {
			t.Fatalf("accepted file does not encode: %v", err)
		}
		again, err := Parse("again.json", enc)
		if err != nil {
			t.Fatalf("encoded file does not parse: %v\n%s", err, enc)
		}
		if again.Model != file.Model || len(again.Notes) != len(file.Notes) {
			t.Fatalf("round trip changed the file")
		}
		for i := range file.Notes {
			if !equalNote(file.Notes[i], again.Notes[i]) {
				t.Fatalf("round trip changed note %d:\n%+v\n%+v", i, file.Notes[i], again.Notes[i])
			}
		}
		enc2, err := again.Encode()
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("Encode not stable: %v", err)
		}
	})
}
