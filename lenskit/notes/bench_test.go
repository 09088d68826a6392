package notes

import (
	"fmt"
	"path/filepath"
	"testing"

	"lenskit.dev/lenskit/project"
)

// bigFile is n notes, each with 30 evidence pairs, the size of a notes file
// after a long study of a model.
func bigFile(n int) *File {
	f := &File{Model: testModel}
	for i := range n {
		ev := &Evidence{K: 30, Filter: "alnum, corpus pl.txt", Lenskit: "devel"}
		for j := range 30 {
			ev.Pairs = append(ev.Pairs, Pair{Source: i + j, SourceText: fmt.Sprintf("tok%d", i+j), Target: j, TargetText: fmt.Sprintf("słowo%d", j), Score: float32(30-j) / 7})
		}
		f.Notes = append(f.Notes, Note{
			ID: fmt.Sprintf("n%05d", i), Component: Head(project.HeadID{Layer: i % 4, Head: i % 8}, project.Kind(i%2)),
			Label: fmt.Sprintf("finding %d", i), Tags: []string{"semantic"}, Author: "ala",
			Created: t0, Updated: t0, Weights: testModel.Hash, Evidence: ev,
		})
	}
	return f
}

func BenchmarkParse(b *testing.B) {
	for _, n := range []int{100, 1000} {
		data, err := bigFile(n).Encode()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("notes=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Parse("bench.json", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, n := range []int{100, 1000} {
		f := bigFile(n)
		b.Run(fmt.Sprintf("notes=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := f.Encode(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAdd is one durable write: lock, re-read, encode, temp file,
// two fsyncs, rename; on a file that already holds n notes.
func BenchmarkAdd(b *testing.B) {
	for _, n := range []int{0, 100, 1000} {
		b.Run(fmt.Sprintf("notes=%d", n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "n.json")
			s, _, err := Open(path, testModel)
			if err != nil {
				b.Fatal(err)
			}
			if n > 0 {
				if _, err := s.Merge("seed", bigFile(n)); err != nil {
					b.Fatal(err)
				}
			}
			i := 0
			for b.Loop() {
				// Remove what the previous iteration added, so the file
				// keeps n notes: each iteration is two writes.
				added, err := s.Add(Note{Component: TokenSet("bench"), Label: fmt.Sprintf("b%d", i)})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Remove(added.ID); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
