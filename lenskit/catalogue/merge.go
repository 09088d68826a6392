package catalogue

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// MergeError lists the layers that keep a catalogue from being merged.
type MergeError struct {
	Dir     string
	Missing []int
	Corrupt map[int]string // layer → what is wrong
}

func (e *MergeError) Error() string {
	var why []string
	if len(e.Missing) > 0 {
		why = append(why, "layers "+layerList(e.Missing)+" not computed yet")
	}
	for _, l := range slices.Sorted(maps.Keys(e.Corrupt)) {
		why = append(why, fmt.Sprintf("layer %d corrupt (%s)", l, e.Corrupt[l]))
	}
	return fmt.Sprintf("catalogue: %s: cannot merge: %s; run the scan again (with the same filters and k) for those layers — it computes only what is missing or corrupt; nothing was merged",
		e.Dir, strings.Join(why, "; "))
}

// Merge joins dir's parts into the four tables, in layer order, and
// records them in the manifest. Every part is verified first; while any is
// missing or corrupt nothing is written.
func Merge(dir string) (*Manifest, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	fp := m.Fingerprint()
	me := &MergeError{Dir: dir, Corrupt: map[int]string{}}
	for l := range m.Layers {
		switch err := checkPart(dir, l, fp); {
		case errors.Is(err, errNoPart):
			me.Missing = append(me.Missing, l)
		case err != nil:
			me.Corrupt[l] = err.Error()
		}
	}
	if len(me.Missing) > 0 || len(me.Corrupt) > 0 {
		return nil, me
	}
	merged := &Merged{Tables: map[string]FileInfo{}}
	tables := []struct {
		name  string
		merge func(dst string) (int64, error)
	}{
		{HeadsTable, func(dst string) (int64, error) { return mergeTable[HeadRow](dir, m.Layers, HeadsTable, dst) }},
		{PairsTable, func(dst string) (int64, error) { return mergeTable[PairRow](dir, m.Layers, PairsTable, dst) }},
		{NeuronsTable, func(dst string) (int64, error) { return mergeTable[NeuronRow](dir, m.Layers, NeuronsTable, dst) }},
		{TokensTable, func(dst string) (int64, error) { return mergeTable[TokenRow](dir, m.Layers, TokensTable, dst) }},
	}
	for _, t := range tables {
		tmp := filepath.Join(dir, ".tmp-"+t.name)
		os.Remove(tmp)
		rows, err := t.merge(tmp)
		if err != nil {
			os.Remove(tmp)
			return nil, fmt.Errorf("catalogue: merging %s: %w", t.name, err)
		}
		fi, err := fileInfo(tmp)
		if err != nil {
			return nil, fmt.Errorf("catalogue: %w", err)
		}
		fi.Rows = rows
		if err := os.Rename(tmp, filepath.Join(dir, t.name)); err != nil {
			return nil, fmt.Errorf("catalogue: %w", err)
		}
		merged.Tables[t.name] = fi
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	merged.Time = time.Now().UTC().Format(time.RFC3339)
	m.Merged = merged
	if err := writeJSON(filepath.Join(dir, ManifestFile), m); err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	return m, nil
}

// mergeTable writes the parts' rows of one table into dst, one row group
// per layer.
func mergeTable[T any](dir string, layers int, name, dst string) (int64, error) {
	w, err := newTableWriter[T](dst)
	if err != nil {
		return 0, err
	}
	for l := range layers {
		rows, err := readTable[T](filepath.Join(dir, "parts", partName(l), name))
		if err != nil {
			w.close()
			return 0, err
		}
		if err := w.group(rows); err != nil {
			w.close()
			return 0, err
		}
	}
	return w.rows, w.close()
}
