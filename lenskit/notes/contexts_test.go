package notes

import (
	"reflect"
	"strings"
	"testing"
)

// TestContextsEvidenceRoundTrip: a neuron's top contexts (from running the
// model on a corpus) survive the file format, and the views show them.
func TestContextsEvidenceRoundTrip(t *testing.T) {
	f := sampleFile()
	n := &f.Notes[0]
	n.Evidence = &Evidence{K: 2, Lenskit: "devel", Corpus: "pl.txt", Sample: "seed 1, 100000 tokens, windows of 64 tokens",
		Contexts: []Context{
			{Line: 1203, Token: 7, Text: "w ⟦mundurze⟧ wojskowym", Activation: 4.25},
			{Line: 88, Token: 0, Text: "⟦ubrania⟧ | dzieci", Activation: 3.5},
		}}
	data, err := f.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("test.json", data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	var got Note
	for _, x := range back.Notes {
		if x.ID == n.ID {
			got = x
		}
	}
	if !reflect.DeepEqual(got.Evidence, n.Evidence) {
		t.Errorf("evidence after a round trip:\n%+v\nwant\n%+v", got.Evidence, n.Evidence)
	}
	md := back.Markdown()
	for _, want := range []string{"corpus pl.txt", "| 1 | 4.25 | 1203 | 7 | w ⟦mundurze⟧ wojskowym |", `⟦ubrania⟧ \| dzieci`} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	if s := evidenceSummary(got, 1); !strings.HasPrefix(s, "top-2 contexts: w ⟦mundurze⟧ wojskowym") {
		t.Errorf("summary %q", s)
	}
}

// Contexts from a file are checked like every other evidence list: a
// non-finite activation, a line 0, or a corpus name with a control
// character is refused, naming the fault.
func TestContextsEvidenceChecked(t *testing.T) {
	for _, tc := range []struct {
		edit func(e *Evidence)
		want string
	}{
		{func(e *Evidence) { e.Contexts[1].Activation = float32(nan()) }, "context 1: score NaN is not a finite number"},
		{func(e *Evidence) { e.Contexts[0].Line = 0 }, "context 0: line 0"},
		{func(e *Evidence) { e.Corpus = "pl\x1b[2J.txt" }, "corpus"},
	} {
		f := sampleFile()
		n := &f.Notes[0]
		n.Evidence = &Evidence{K: 2, Lenskit: "devel", Corpus: "pl.txt", Sample: "seed 1",
			Contexts: []Context{{Line: 3, Token: 1, Text: "a ⟦b⟧", Activation: 2}, {Line: 4, Token: 0, Text: "⟦c⟧", Activation: 1}}}
		tc.edit(n.Evidence)
		data, err := f.Encode()
		if err == nil {
			_, err = Parse("test.json", data)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error containing %q, got %v", tc.want, err)
		}
	}
}
