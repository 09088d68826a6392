package notes_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"lenskit.dev/lenskit/notes"
	"lenskit.dev/lenskit/project"
)

var model = notes.Model{ID: "tiny-pl-gpt2", Revision: "main", Hash: "sha256:1111", Layers: 4, Heads: 8, Neurons: 1024, Vocab: 8192}

// A notebook labels a head from the evidence it just computed, and another
// kernel finds the note by a token of that evidence.
func Example() {
	dir, _ := os.MkdirTemp("", "notes-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tiny-pl-gpt2.lenskit-notes.json")

	store, warning, err := notes.Open(path, model)
	if err != nil || warning != nil {
		fmt.Println(warning, err)
		return
	}
	// The top pairs of head 3.7's OV view, as the project package returns them.
	top := project.PairTop{Head: project.HeadID{Layer: 3, Head: 7}, Kind: project.OV, K: 2, Filter: "alnum",
		Pairs: []project.Pair{{Source: 4102, Target: 733, Score: 4.25}, {Source: 5120, Target: 733, Score: 3.5}}}
	vocab := map[int]string{4102: "ubrania", 5120: "mundury", 733: "mundur"}
	ev := notes.FromPairTop(top, func(id int) string { return vocab[id] })
	_, err = store.Add(notes.Note{Component: notes.Head(top.Head, top.Kind), Label: "clothing", Tags: []string{"semantic"}, Evidence: &ev})
	if err != nil {
		fmt.Println(err)
		return
	}

	other, _, _ := notes.Open(path, model) // another kernel
	found, _ := other.Search("mundur")
	for _, n := range found {
		p := n.Evidence.Pairs[0]
		fmt.Printf("%v %q %v: %s → %s %.2f (filter %s)\n", n.Component, n.Label, n.Tags, p.SourceText, p.TargetText, p.Score, n.Evidence.Filter)
	}
	// Output:
	// 3.7 OV "clothing" [semantic]: ubrania → mundur 4.25 (filter alnum)
}

// Opening a notes file against other weights returns the store and a
// warning naming both hashes.
func ExampleOpen_otherWeights() {
	dir, _ := os.MkdirTemp("", "notes-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "notes.json")
	s, _, _ := notes.Open(path, model)
	s.Add(notes.Note{Component: notes.Neuron(project.NeuronID{Layer: 2, Index: 345}, notes.KeyPart), Label: "clothing"})

	tuned := model
	tuned.Hash = "sha256:2222"
	_, w, err := notes.Open(path, tuned)
	fmt.Println(err)
	fmt.Println(w.Stored.Hash, "→", w.Opened.Hash)
	// Output:
	// <nil>
	// sha256:1111 → sha256:2222
}

func ExampleParseComponent() {
	for _, s := range []string{"20.7 OV", "20.7/qk", "L23/N907:value", "set:swear words", "20.7"} {
		c, err := notes.ParseComponent(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%-16q → %v (%v)\n", s, c, c.Kind)
	}
	// Output:
	// "20.7 OV"        → 20.7 OV (head)
	// "20.7/qk"        → 20.7 QK (head)
	// "L23/N907:value" → L23/N907 V (neuron)
	// "set:swear words" → set:swear words (set)
	// notes: component "20.7": a head needs its view, e.g. "20.7 OV"
}

// The model map marks which heads carry labels, and through which view.
func ExampleFile_HeadMap() {
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	f := &notes.File{Model: model, Notes: []notes.Note{
		{ID: "a", Component: notes.Head(project.HeadID{Layer: 3, Head: 7}, project.OV), Label: "names, medicine", Created: at, Updated: at},
		{ID: "b", Component: notes.Head(project.HeadID{Layer: 3, Head: 7}, project.QK), Label: "same word", Created: at, Updated: at},
		{ID: "c", Component: notes.Head(project.HeadID{Layer: 0, Head: 2}, project.QK), Label: "previous token", Created: at, Updated: at},
		{ID: "d", Component: notes.Head(project.HeadID{Layer: 1, Head: 0}, project.OV), Label: "sports", Created: at, Updated: at},
	}}
	fmt.Print(f.HeadMap())
	// Output:
	// Labelled heads of tiny-pl-gpt2
	// layer 0 1 2 3 4 5 6 7  ← head
	//     0 · · Q · · · · ·
	//     1 O · · · · · · ·
	//     2 · · · · · · · ·
	//     3 · · · · · · · B
	// · no note, O OV only, Q QK only, B OV and QK
}

// Merging another researcher's file keeps both labels of a head the two
// labelled differently, and reports the conflict.
func ExampleStore_Merge() {
	dir, _ := os.MkdirTemp("", "notes-example")
	defer os.RemoveAll(dir)
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	h := notes.Head(project.HeadID{Layer: 3, Head: 7}, project.OV)

	mine, _, _ := notes.Open(filepath.Join(dir, "ala.json"), model)
	mine.Add(notes.Note{ID: "ala1", Component: h, Label: "names, medicine", Author: "ala", Created: at})
	theirs := &notes.File{Model: model, Notes: []notes.Note{
		{ID: "bob1", Component: h, Label: "sports", Author: "bob", Created: at, Updated: at},
	}}
	report, err := mine.Merge("bob.json", theirs)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(report)
	kept, _ := mine.List(notes.Query{Component: "3.7 OV"})
	fmt.Println(len(kept), "notes on 3.7 OV")
	// Output:
	// merged bob.json: 1 added, 0 already here, 0 duplicates, 0 edits, 1 conflicts, 0 rejected
	// conflict on 3.7 OV, both kept:
	//   here:     "names, medicine" (ala, 2026-11-27, id ala1)
	//   incoming: "sports" (bob, 2026-11-27, id bob1)
	// 2 notes on 3.7 OV
}
