package notes

import (
	"time"

	"lenskit.dev/lenskit/project"
)

// testModel has the shape of the tiny Polish GPT-2 in ../shared/models.
var testModel = Model{ID: "tiny-pl-gpt2", Revision: "main", Hash: "sha256:1111", Layers: 4, Heads: 8, Neurons: 1024, Vocab: 8192}

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// sampleFile is a small notes file with one note of each kind.
func sampleFile() *File {
	return &File{Model: testModel, Notes: []Note{
		{
			ID: "neuron1", Component: Neuron(project.NeuronID{Layer: 2, Index: 345}, KeyPart),
			Label: "ubrania, mundury", Tags: []string{"semantic", "clothing"}, Author: "ala",
			Created: t0, Updated: t0.Add(time.Hour), Weights: testModel.Hash,
			Evidence: &Evidence{K: 3, Filter: "alnum+pl", Lenskit: "devel", Columns: [project.NumSides][]ScoredToken{
				project.Key:   {{ID: 10, Text: "ubraniu", Score: 3.5}, {ID: 11, Text: "przebra", Score: 3.25}, {ID: 12, Text: "ubiera", Score: 3}},
				project.Value: {{ID: 20, Text: "kondu", Score: 2.5}},
			}},
		},
		{
			ID: "head1", Component: Head(project.HeadID{Layer: 3, Head: 7}, project.OV),
			Label: "names, medicine", Text: "Copies first names;\nalso \"medicine\" <tokens> & more.", Tags: []string{"names"}, Author: "ala",
			Created: t0, Updated: t0, Weights: testModel.Hash,
			Evidence: &Evidence{K: 2, Filter: "alnum", Lenskit: "devel", Pairs: []Pair{
				{Source: 100, SourceText: "Cezary", Target: 101, TargetText: "Benedykt", Score: 4.5},
				{Source: 102, SourceText: "lekarz", Target: 103, TargetText: "szpital", Score: 4.25},
			}},
		},
		{
			ID: "set1", Component: TokenSet("swear words"), Label: "przekleństwa", Author: "bob",
			Created: t0, Updated: t0, Members: []TokenRef{{ID: 7, Text: "cholera"}, {ID: 8, Text: "psiakrew"}},
		},
	}}
}

func nan() float64 { var z float64; return z / z }
