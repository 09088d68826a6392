package notes

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lenskit.dev/lenskit/project"
)

// Must show 4: a merge where the two researchers labelled the same head
// differently keeps both notes and reports the conflict.
func TestMergeConflictKeepsBoth(t *testing.T) {
	dir := t.TempDir()
	h37 := Head(project.HeadID{Layer: 3, Head: 7}, project.OV)

	// Ala's notes.
	ala, _, err := Open(filepath.Join(dir, "ala.json"), testModel)
	if err != nil {
		t.Fatal(err)
	}
	ala.Author = "ala"
	mine, err := ala.Add(Note{Component: h37, Label: "names, medicine"})
	if err != nil {
		t.Fatal(err)
	}
	shared, err := ala.Add(Note{Component: Neuron(project.NeuronID{Layer: 2, Index: 345}, KeyPart), Label: "clothing"})
	if err != nil {
		t.Fatal(err)
	}

	// Bob starts from a copy of Ala's file and works on his own copy.
	alaFile, err := ala.File()
	if err != nil {
		t.Fatal(err)
	}
	bobPath := filepath.Join(dir, "bob.json")
	bob, _, err := Open(bobPath, testModel)
	if err != nil {
		t.Fatal(err)
	}
	bob.Author = "bob"
	if _, err := bob.Merge("ala.json", alaFile); err != nil {
		t.Fatal(err)
	}
	theirs, err := bob.Add(Note{Component: h37, Label: "sports", Text: "football clubs → cities"})
	if err != nil {
		t.Fatal(err)
	}
	agree, err := bob.Add(Note{Component: Head(project.HeadID{Layer: 1, Head: 1}, project.QK), Label: "previous token"})
	if err != nil {
		t.Fatal(err)
	}
	bob.now = func() time.Time { return shared.Updated.Add(time.Minute) }
	edited, err := bob.Update(shared.ID, func(n *Note) error { n.Label = "clothing, uniforms"; return nil })
	if err != nil {
		t.Fatal(err)
	}

	r, err := ala.MergeFile(bobPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Conflicts) != 1 {
		t.Fatalf("conflicts = %+v, want one on 3.7 OV", r.Conflicts)
	}
	c := r.Conflicts[0]
	if c.Component != h37 || len(c.Local) != 1 || c.Local[0].ID != mine.ID || c.Incoming.ID != theirs.ID {
		t.Errorf("conflict = %+v", c)
	}
	if r.Same != 1 || len(r.Added) != 2 || len(r.Edits) != 1 || len(r.Rejected) != 0 || r.Warning != nil {
		t.Errorf("report: same %d, added %d, edits %d, rejected %d, warning %v", r.Same, len(r.Added), len(r.Edits), len(r.Rejected), r.Warning)
	}
	if e := r.Edits[0]; !e.FromIncoming || e.Kept.Label != "clothing, uniforms" || e.Older.Label != "clothing" {
		t.Errorf("edit = %+v", e)
	}
	text := r.String()
	for _, want := range []string{
		"1 conflicts", "conflict on 3.7 OV, both kept:",
		`here:     "names, medicine" (ala`, `incoming: "sports" (bob`,
		`kept the later version (incoming) "clothing, uniforms"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report does not say %q:\n%s", want, text)
		}
	}

	// Both labels of 3.7 OV are in Ala's file now, on disk.
	f, err := ReadFile(ala.Path())
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Select(Query{Component: "3.7 OV"})
	if err != nil {
		t.Fatal(err)
	}
	byLabel := map[string]string{}
	for _, n := range got {
		byLabel[n.Label] = n.Author
	}
	if len(got) != 2 || byLabel["names, medicine"] != "ala" || byLabel["sports"] != "bob" {
		t.Errorf("3.7 OV after the merge: %+v", got)
	}
	if n, err := ala.Get(agree.ID); err != nil || n.Label != "previous token" {
		t.Errorf("Bob's other note: %+v, %v", n, err)
	}
	if n, err := ala.Get(shared.ID); err != nil || n.Label != edited.Label {
		t.Errorf("edited note: %+v, %v", n, err)
	}

	// Merging again changes nothing and reports no new conflict.
	r2, err := ala.MergeFile(bobPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(r2.Added) != 0 || len(r2.Conflicts) != 0 || len(r2.Edits) != 0 || r2.Same != 4 {
		t.Errorf("second merge: %s", r2)
	}
}

func TestMergeCases(t *testing.T) {
	h := Head(project.HeadID{Layer: 0, Head: 1}, project.OV)
	base := Note{ID: "n1", Component: h, Label: "dates", Author: "ala", Created: t0, Updated: t0, Weights: testModel.Hash}
	for _, tc := range []struct {
		name     string
		here     []Note
		incoming Note
		model    Model
		check    func(t *testing.T, r *MergeReport, f *File)
	}{
		{"older edit of the same note is listed, not taken", []Note{withLabel(base, "dates", t0.Add(time.Hour))}, withLabel(base, "years", t0), testModel,
			func(t *testing.T, r *MergeReport, f *File) {
				if len(r.Edits) != 1 || r.Edits[0].FromIncoming || r.Edits[0].Older.Label != "years" || f.Notes[0].Label != "dates" || len(f.Notes) != 1 {
					t.Errorf("edits %+v, notes %+v", r.Edits, f.Notes)
				}
			}},
		{"same-second edits are both kept", []Note{withLabel(base, "dates", t0)}, withLabel(base, "years", t0), testModel,
			func(t *testing.T, r *MergeReport, f *File) {
				if len(f.Notes) != 2 || len(r.Conflicts) != 1 || len(r.Renamed) != 1 || r.Renamed[0][0] != "n1" {
					t.Errorf("report %s notes %+v", r, f.Notes)
				}
			}},
		{"duplicate under another id", []Note{base}, func() Note { n := base; n.ID, n.Author = "n2", "bob"; return n }(), testModel,
			func(t *testing.T, r *MergeReport, f *File) {
				if len(f.Notes) != 1 || len(r.Duplicate) != 1 || len(r.Added) != 0 {
					t.Errorf("report %s", r)
				}
			}},
		{"same label, other text: added, no conflict", []Note{base}, func() Note { n := base; n.ID, n.Label, n.Text = "n2", " Dates ", "more"; return n }(), testModel,
			func(t *testing.T, r *MergeReport, f *File) {
				if len(f.Notes) != 2 || len(r.Conflicts) != 0 || len(r.Added) != 1 {
					t.Errorf("report %s", r)
				}
			}},
		{"K+V against K is a conflict", []Note{{ID: "k", Component: Neuron(project.NeuronID{Layer: 1, Index: 2}, KeyPart), Label: "food", Created: t0, Updated: t0}},
			Note{ID: "kv", Component: Neuron(project.NeuronID{Layer: 1, Index: 2}, BothParts), Label: "kitchen", Created: t0, Updated: t0}, testModel,
			func(t *testing.T, r *MergeReport, f *File) {
				if len(r.Conflicts) != 1 || r.Conflicts[0].Local[0].ID != "k" || len(f.Notes) != 2 {
					t.Errorf("report %s", r)
				}
			}},
		{"out of range is rejected and reported", nil, Note{ID: "big", Component: Head(project.HeadID{Layer: 6, Head: 0}, project.OV), Label: "x", Created: t0, Updated: t0},
			Model{ID: "bigger", Hash: "sha256:9999", Layers: 8, Heads: 8, Neurons: 1024},
			func(t *testing.T, r *MergeReport, f *File) {
				if len(r.Rejected) != 1 || len(f.Notes) != 0 || r.Warning == nil || !strings.Contains(r.String(), "rejected 6.0 OV") ||
					!strings.Contains(r.String(), "sha256:9999") || !strings.Contains(r.String(), "sha256:1111") {
					t.Errorf("report %s", r)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, err := Open(filepath.Join(t.TempDir(), "n.json"), testModel)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range tc.here {
				if _, err := s.Add(n); err != nil {
					t.Fatal(err)
				}
			}
			r, err := s.Merge("in.json", &File{Model: tc.model, Notes: []Note{tc.incoming}})
			if err != nil {
				t.Fatal(err)
			}
			f, err := ReadFile(s.Path())
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, r, f)
		})
	}
}

func withLabel(n Note, label string, updated time.Time) Note {
	n.Label, n.Updated = label, updated
	return n
}
