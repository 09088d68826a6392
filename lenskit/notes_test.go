package lenskit_test

import (
	"path/filepath"
	"strings"
	"testing"

	"lenskit.dev/lenskit"
	"lenskit.dev/lenskit/notes"
)

func TestLabelFromResults(t *testing.T) {
	m, err := lenskit.Load("")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	path := filepath.Join(t.TempDir(), "tiny.lenskit-notes.json")
	n, err := m.Notes(path)
	if err != nil {
		t.Fatal(err)
	}
	if n.Warning != nil {
		t.Fatalf("fresh file warns: %v", n.Warning)
	}
	lens := m.Lens(lenskit.Alnum())
	ov := lens.OV(2, 4).Top(10)
	note, err := n.Label(ov, "relative pronouns", "ale/but → którego/której", "syntax")
	if err != nil {
		t.Fatal(err)
	}
	if note.Component.String() != "2.4 OV" || len(note.Evidence.Pairs) != 10 || note.Evidence.Filter != "alnum" {
		t.Errorf("note = %v %d pairs filter %q", note.Component, len(note.Evidence.Pairs), note.Evidence.Filter)
	}
	if _, err := n.Label(lens.Neuron(1, 7).Top(5), "technical nouns", ""); err != nil {
		t.Fatal(err)
	}
	// A result that failed cannot back a note.
	if _, err := n.Label(lens.OV(9, 0).Top(5), "x", ""); err == nil {
		t.Error("labelled a head outside the model")
	}
	// Reopen: both notes are there, and the map marks 2.4.
	n2, err := m.Notes(path)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := n2.List(notes.Query{})
	if len(list) != 2 {
		t.Fatalf("%d notes after reopening, want 2", len(list))
	}
	if s := n2.HeadMap().String(); !strings.Contains(s, "layer") {
		t.Errorf("head map text:\n%s", s)
	}
	md, _ := n2.Markdown()
	if !strings.Contains(md, "relative pronouns") {
		t.Errorf("markdown lacks the label:\n%s", md)
	}
}
