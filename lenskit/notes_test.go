package lenskit_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lenskit.dev/lenskit"
	"lenskit.dev/lenskit/notes"
	"lenskit.dev/lenskit/project"
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

	// Re-running a notebook re-labels the same results: nothing changes.
	before, _ := os.ReadFile(path)
	if _, err := n2.Label(lens.OV(2, 4).Top(10), "relative pronouns", "ale/but → którego/której", "syntax"); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("labelling the same result again changed the file")
	}
	// New text updates the note instead of adding a second one.
	if _, err := n2.Label(lens.OV(2, 4).Top(10), "relative pronouns", "revised"); err != nil {
		t.Fatal(err)
	}
	if list, _ := n2.List(notes.Query{Component: "2.4 OV"}); len(list) != 1 || list[0].Text != "revised" {
		t.Errorf("after relabelling: %+v", list)
	}
	// One side of a neuron.
	v, err := n2.Label(lens.Neuron(1, 7).Top(5).Value(), "writes nouns", "")
	if err != nil {
		t.Fatal(err)
	}
	if v.Component.String() != "L1/N7 V" || len(v.Evidence.Columns[project.Value]) != 5 || len(v.Evidence.Columns[project.Key]) != 0 {
		t.Errorf("value-side note %v with columns %v", v.Component, v.Evidence.Columns)
	}
}
