package catalogue

import (
	"fmt"
	"path/filepath"
)

// Catalogue is a merged catalogue read back: its manifest and its head and
// neuron tables (small: one row per head view and per neuron). The pairs
// and tokens tables are read on demand.
type Catalogue struct {
	Dir      string
	Manifest *Manifest
	Heads    []HeadRow
	Neurons  []NeuronRow
}

// Open reads the catalogue in dir, which must have been merged.
func Open(dir string) (*Catalogue, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	if m.Merged == nil {
		return nil, fmt.Errorf("catalogue: %s: not merged yet (a sharded scan's parts are joined by `lenskit scan merge -o %s`)", dir, dir)
	}
	c := &Catalogue{Dir: dir, Manifest: m}
	if c.Heads, err = readTable[HeadRow](filepath.Join(dir, HeadsTable)); err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	if c.Neurons, err = readTable[NeuronRow](filepath.Join(dir, NeuronsTable)); err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	return c, nil
}

// Pairs reads the pairs table, keeping the rows keep accepts (nil: all).
func (c *Catalogue) Pairs(keep func(*PairRow) bool) ([]PairRow, error) {
	return readFiltered(filepath.Join(c.Dir, PairsTable), keep)
}

// Tokens reads the tokens table, keeping the rows keep accepts (nil: all;
// a whole model's table has k rows per neuron column, so filter).
func (c *Catalogue) Tokens(keep func(*TokenRow) bool) ([]TokenRow, error) {
	return readFiltered(filepath.Join(c.Dir, TokensTable), keep)
}

func readFiltered[T any](path string, keep func(*T) bool) ([]T, error) {
	var out []T
	err := scanTable(path, func(rows []T) {
		for i := range rows {
			if keep == nil || keep(&rows[i]) {
				out = append(out, rows[i])
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	return out, nil
}
