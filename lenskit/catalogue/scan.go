package catalogue

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/vocab"
)

// Source is what a catalogue is made of: a vocabulary space (the weights
// and their processing), the vocabulary, and a lens's filters.
type Source struct {
	Space   *project.Space
	Vocab   *vocab.Vocab
	Tokens  []int                   // token ids taking part, ascending; nil = all
	Exclude func(src, tgt int) bool // pairs that may not appear; nil = none
	Filter  string                  // description of the filters ("all" when none)
}

// Options control a scan.
type Options struct {
	K        int   // pairs per view and side, tokens per neuron column; 0 means DefaultK
	Shard    Shard // the share of layers to compute; zero: all, then merge
	Progress func(done, total int64)
	Log      io.Writer        // one line per skipped, recomputed or written part; nil: none
	Lenskit  string           // version recorded in a new manifest
	Now      func() time.Time // clock for the manifest (tests); nil: time.Now
	// HeadsOnly leaves the neurons out (their tables are written empty):
	// a catalogue of heads alone, which is a different catalogue.
	HeadsOnly bool
}

// DefaultK is the k of `lenskit scan` without --k.
const DefaultK = 50

// MaxK bounds k: the tokens table has k rows per neuron column.
const MaxK = 10000

// Report says what a scan did.
type Report struct {
	Dir        string
	Manifest   *Manifest
	Layers     [2]int // the shard's layers [lo, hi)
	Skipped    []int  // layers whose part was already there
	Computed   []int  // layers computed now
	Recomputed []int  // layers whose part was corrupt (reported in Log) and computed again
	Merged     bool   // the tables were merged (a whole-model scan)
	// Where this run's time went: head views (searches and statistics),
	// neurons, writing the parts, merging.
	HeadTime, NeuronTime, WriteTime, MergeTime time.Duration
}

// Scan computes the catalogue parts of src's layers in the shard that dir
// does not hold yet, then, for a whole-model scan, merges them into the
// tables. It resumes: parts already written for the same catalogue are
// verified and kept.
func Scan(dir string, src Source, opt Options) (*Report, error) {
	if src.Space == nil || src.Vocab == nil {
		return nil, errors.New("catalogue: Scan needs a space and a vocabulary")
	}
	if opt.K == 0 {
		opt.K = DefaultK
	}
	if opt.K < 0 || opt.K > MaxK {
		return nil, fmt.Errorf("catalogue: k = %d; a catalogue keeps 1 … %d pairs and tokens per list", opt.K, MaxK)
	}
	if opt.Shard.Count > 1 && (opt.Shard.Index < 0 || opt.Shard.Index >= opt.Shard.Count) {
		return nil, fmt.Errorf("catalogue: bad shard %d/%d", opt.Shard.Index, opt.Shard.Count)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	logf := func(format string, args ...any) {
		if opt.Log != nil {
			fmt.Fprintf(opt.Log, format+"\n", args...)
		}
	}
	m, err := newManifest(src, opt)
	if err != nil {
		return nil, err
	}
	if err := prepareDir(dir, m); err != nil {
		return nil, err
	}
	fp := m.Fingerprint()
	lo, hi := opt.Shard.Layers(m.Layers)
	rep := &Report{Dir: dir, Manifest: m, Layers: [2]int{lo, hi}}
	partsDir := filepath.Join(dir, "parts")
	if err := os.MkdirAll(partsDir, 0o755); err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	// Temporary directories of this shard's layers are left-overs of a
	// killed scan (other shards may be writing theirs right now).
	for l := lo; l < hi; l++ {
		stale, _ := filepath.Glob(filepath.Join(partsDir, ".tmp-"+partName(l)+"-*"))
		for _, s := range stale {
			os.RemoveAll(s)
		}
	}
	var todo []int
	for l := lo; l < hi; l++ {
		err := checkPart(dir, l, fp)
		switch {
		case err == nil:
			rep.Skipped = append(rep.Skipped, l)
			logf("catalogue: layer %d: part already there, kept", l)
			continue
		case errors.Is(err, errNoPart):
		default:
			logf("catalogue: %v; computing it again", err)
			if err := os.RemoveAll(filepath.Join(partsDir, partName(l))); err != nil {
				return nil, fmt.Errorf("catalogue: %w", err)
			}
			rep.Recomputed = append(rep.Recomputed, l)
		}
		todo = append(todo, l)
	}
	sc := newScanner(src, opt.K)
	sc.headsOnly = m.HeadsOnly
	var done atomic.Int64
	total := int64(len(todo)) * sc.layerUnits()
	progress := func(n int64) {
		if opt.Progress != nil {
			opt.Progress(done.Add(n), total)
		}
	}
	if opt.Progress != nil {
		opt.Progress(0, total)
	}
	for _, l := range todo {
		t, err := sc.layer(l, progress)
		if err != nil {
			return nil, err
		}
		rep.HeadTime += t.headTime
		rep.NeuronTime += t.neuronTime
		t0 := time.Now()
		if err := writePart(dir, l, fp, t); err != nil {
			return nil, fmt.Errorf("catalogue: writing layer %d: %w", l, err)
		}
		rep.WriteTime += time.Since(t0)
		if !slices.Contains(rep.Recomputed, l) {
			rep.Computed = append(rep.Computed, l)
		}
		logf("catalogue: layer %d written", l)
	}
	if opt.Shard.Count <= 1 {
		t0 := time.Now()
		if _, err := Merge(dir); err != nil {
			return nil, err
		}
		rep.MergeTime = time.Since(t0)
		rep.Merged = true
		if rep.Manifest, err = ReadManifest(dir); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// newManifest describes the catalogue src and opt make.
func newManifest(src Source, opt Options) (*Manifest, error) {
	model := src.Space.Model
	hash, err := model.Hash()
	if err != nil {
		return nil, err
	}
	a := model.Arch()
	v := src.Vocab
	vh := sha256.New()
	for id := range v.Len() {
		fmt.Fprintf(vh, "%q\n", v.Raw(id))
	}
	th := sha256.New()
	ntok := v.Len()
	if src.Tokens == nil {
		io.WriteString(th, "all")
	} else {
		ntok = len(src.Tokens)
		for _, t := range src.Tokens {
			if t < 0 || t >= v.Len() {
				return nil, fmt.Errorf("catalogue: token id %d outside the vocabulary of %d", t, v.Len())
			}
			fmt.Fprintf(th, "%d\n", t)
		}
	}
	filter := src.Filter
	if filter == "" {
		filter = "all"
	}
	views := []ViewSpec{{"OV", 0}, {"QK", 0}}
	if a.Rotary != nil {
		views = append(views, ViewSpec{"QK", 1})
	}
	id := model.ID()
	rev := ""
	if i := strings.LastIndex(id, "@"); i > 0 && !strings.HasPrefix(id, "embedded:") {
		rev = id[i+1:]
	}
	return &Manifest{
		Schema: Schema, Model: id, Revision: rev, WeightsHash: hash,
		VocabHash: "sha256:" + hex.EncodeToString(vh.Sum(nil)), ModelType: a.ModelType,
		Layers: a.Layers, Heads: a.Heads, KVHeads: a.KVHeads, DFF: a.DFF, Vocab: v.Len(),
		Filter: filter, Tokens: ntok, TokensHash: "sha256:" + hex.EncodeToString(th.Sum(nil)),
		Processing: src.Space.Proc.String(), K: opt.K, Views: views, HeadsOnly: opt.HeadsOnly, Lenskit: opt.Lenskit,
		Created: opt.Now().UTC().Format(time.RFC3339),
	}, nil
}

// prepareDir makes dir a catalogue directory for m: a new or empty
// directory gets m's manifest; one with a manifest must describe the same
// catalogue (m then takes its creation time); anything else is refused.
func prepareDir(dir string, m *Manifest) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("catalogue: %w", err)
	}
	have, err := ReadManifest(dir)
	if err == nil {
		if err := m.mismatch(have, dir); err != nil {
			return err
		}
		m.Created, m.Lenskit = have.Created, have.Lenskit
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("catalogue: %w", err)
	}
	for _, e := range entries {
		if e.Name() != "parts" && !strings.HasPrefix(e.Name(), ".tmp-") {
			return fmt.Errorf("catalogue: %s is not empty and holds no %s: refusing to write a catalogue into it (found %s)",
				dir, ManifestFile, e.Name())
		}
	}
	return writeJSON(filepath.Join(dir, ManifestFile), m)
}

func partName(layer int) string { return fmt.Sprintf("layer-%04d", layer) }

// partInfo is a part's part.json.
type partInfo struct {
	Schema      string              `json:"schema"`
	Fingerprint string              `json:"fingerprint"`
	Layer       int                 `json:"layer"`
	Files       map[string]FileInfo `json:"files"`
}

var errNoPart = errors.New("no part")

// checkPart verifies layer's part: part.json names this catalogue and
// layer, and every table has the size and SHA-256 it records.
func checkPart(dir string, layer int, fp string) error {
	pdir := filepath.Join(dir, "parts", partName(layer))
	if _, err := os.Stat(pdir); errors.Is(err, os.ErrNotExist) {
		return errNoPart
	}
	rel := filepath.Join("parts", partName(layer))
	b, err := readSmall(filepath.Join(pdir, "part.json"))
	if err != nil {
		return fmt.Errorf("%s: part.json unreadable (%v)", rel, err)
	}
	var p partInfo
	if err := strictJSON(b, &p); err != nil {
		return fmt.Errorf("%s/part.json: corrupt (%v)", rel, err)
	}
	if p.Schema != Schema || p.Fingerprint != fp || p.Layer != layer {
		return fmt.Errorf("%s/part.json: the part belongs to another catalogue (schema %s, fingerprint %s, layer %d)",
			rel, p.Schema, p.Fingerprint, p.Layer)
	}
	for _, name := range Tables {
		want, ok := p.Files[name]
		if !ok {
			return fmt.Errorf("%s/part.json: %s not listed", rel, name)
		}
		got, err := fileInfo(filepath.Join(pdir, name))
		if err != nil {
			return fmt.Errorf("%s/%s: %v", rel, name, err)
		}
		if got.Bytes != want.Bytes || got.SHA256 != want.SHA256 {
			return fmt.Errorf("%s/%s: corrupt: %d bytes with %s, part.json records %d bytes with %s",
				rel, name, got.Bytes, got.SHA256, want.Bytes, want.SHA256)
		}
	}
	return nil
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() > maxManifest {
		return nil, fmt.Errorf("not a regular file of at most %d bytes", maxManifest)
	}
	return io.ReadAll(io.LimitReader(f, maxManifest+1))
}

// fileInfo returns a file's size and SHA-256 (rows are not counted).
func fileInfo(path string) (FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileInfo{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return FileInfo{}, err
	}
	if !st.Mode().IsRegular() {
		return FileInfo{}, errors.New("not a regular file")
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return FileInfo{}, err
	}
	return FileInfo{Bytes: n, SHA256: "sha256:" + hex.EncodeToString(h.Sum(nil))}, nil
}

// layerTables are one layer's rows.
type layerTables struct {
	heads   []HeadRow
	pairs   []PairRow
	neurons []NeuronRow
	tokens  []TokenRow

	headTime, neuronTime time.Duration
}

// writePart writes a layer's tables into a temporary directory, records
// them in part.json, and renames the directory into place.
func writePart(dir string, layer int, fp string, t *layerTables) error {
	partsDir := filepath.Join(dir, "parts")
	tmp, err := os.MkdirTemp(partsDir, ".tmp-"+partName(layer)+"-")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	info := partInfo{Schema: Schema, Fingerprint: fp, Layer: layer, Files: map[string]FileInfo{}}
	write := func(name string, n func(path string) (int64, error)) error {
		path := filepath.Join(tmp, name)
		rows, err := n(path)
		if err != nil {
			return err
		}
		fi, err := fileInfo(path)
		if err != nil {
			return err
		}
		fi.Rows = rows
		info.Files[name] = fi
		return nil
	}
	if err := write(HeadsTable, func(p string) (int64, error) { return writeTable(p, t.heads) }); err != nil {
		return err
	}
	if err := write(PairsTable, func(p string) (int64, error) { return writeTable(p, t.pairs) }); err != nil {
		return err
	}
	if err := write(NeuronsTable, func(p string) (int64, error) { return writeTable(p, t.neurons) }); err != nil {
		return err
	}
	if err := write(TokensTable, func(p string) (int64, error) { return writeTable(p, t.tokens) }); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(tmp, "part.json"), info); err != nil {
		return err
	}
	final := filepath.Join(partsDir, partName(layer))
	if err := os.RemoveAll(final); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	ok = true
	return syncDir(partsDir)
}

// scanner computes layers.
type scanner struct {
	src       Source
	k         int
	views     []ViewSpec
	same      vocab.PairFilter
	positions bool // learned positions: QK views get the previous-token score
	headsOnly bool
}

func newScanner(src Source, k int) *scanner {
	a := src.Space.Model.Arch()
	sc := &scanner{src: src, k: k, same: vocab.AnyPair(vocab.SameToken(), vocab.FuzzyEqual())}
	sc.views = []ViewSpec{{"OV", 0}, {"QK", 0}}
	if a.Rotary != nil {
		sc.views = append(sc.views, ViewSpec{"QK", 1})
	}
	_, has, err := src.Space.Model.Positions()
	sc.positions = err == nil && has
	return sc
}

// Work units for progress: a view counts its entries times d_head, a
// layer's neurons their scores times d_model, in millions.
func (sc *scanner) viewUnits() int64 {
	a := sc.src.Space.Model.Arch()
	n := int64(sc.tokens())
	return max(1, n*n*int64(a.DHead)/1e6)
}

func (sc *scanner) neuronUnits() int64 {
	a := sc.src.Space.Model.Arch()
	return max(1, int64(len(a.Reads())+1)*int64(a.DFF)*int64(sc.tokens())*int64(a.DModel)/1e6)
}

func (sc *scanner) layerUnits() int64 {
	a := sc.src.Space.Model.Arch()
	u := int64(a.Heads*len(sc.views)) * sc.viewUnits()
	if !sc.headsOnly {
		u += sc.neuronUnits()
	}
	return u
}

func (sc *scanner) tokens() int {
	if sc.src.Tokens != nil {
		return len(sc.src.Tokens)
	}
	return sc.src.Vocab.Len()
}

// layer computes one layer's rows: its head views two at a time (one core
// each, so that the single-core parts of one search overlap another's),
// then its neurons on all cores.
func (sc *scanner) layer(l int, progress func(int64)) (*layerTables, error) {
	sp := sc.src.Space
	a := sp.Model.Arch()
	type job struct {
		head int
		view ViewSpec
	}
	var jobs []job
	for h := range a.Heads {
		for _, v := range sc.views {
			jobs = append(jobs, job{h, v})
		}
	}
	type result struct {
		head  HeadRow
		pairs []PairRow
	}
	t0 := time.Now()
	results := make([]result, len(jobs))
	errs := make([]error, len(jobs))
	workers := min(2, runtime.GOMAXPROCS(0))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) {
					return
				}
				j := jobs[i]
				results[i].head, results[i].pairs, errs[i] = sc.view(l, j.head, j.view, max(1, runtime.GOMAXPROCS(0)/workers))
				if errs[i] != nil {
					next.Store(int64(len(jobs))) // stop the others early
					return
				}
				progress(sc.viewUnits())
			}
		}()
	}
	wg.Wait()
	t := &layerTables{}
	for i, r := range results {
		if errs[i] != nil {
			return nil, errs[i]
		}
		t.heads = append(t.heads, r.head)
		t.pairs = append(t.pairs, r.pairs...)
	}
	for i := range errs {
		if errs[i] != nil {
			return nil, errs[i]
		}
	}
	t.headTime = time.Since(t0)
	if sc.headsOnly {
		return t, nil
	}
	t0 = time.Now()
	if err := sc.neurons(l, t); err != nil {
		return nil, err
	}
	t.neuronTime = time.Since(t0)
	progress(sc.neuronUnits())
	return t, nil
}

// view computes one head view's row and pairs.
func (sc *scanner) view(l, h int, vs ViewSpec, workers int) (HeadRow, []PairRow, error) {
	sp, v := sc.src.Space, sc.src.Vocab
	kind, err := project.ParseKind(vs.View)
	if err != nil {
		return HeadRow{}, nil, err
	}
	hv, err := sp.ViewAt(kind, l, h, vs.Offset)
	if err != nil {
		return HeadRow{}, nil, err
	}
	top, bottom, err := hv.TopBottom(project.PairOptions{K: sc.k, Sources: sc.src.Tokens, Targets: sc.src.Tokens,
		Exclude: sc.src.Exclude, Filter: sc.src.Filter, Workers: workers})
	if err != nil {
		return HeadRow{}, nil, err
	}
	st, err := hv.Stats(sc.src.Tokens)
	if err != nil {
		return HeadRow{}, nil, err
	}
	row := HeadRow{Layer: int32(l), Head: int32(h), KVHead: int32(hv.KV), View: vs.View, Offset: int32(vs.Offset),
		Sigma1: st.Sigma1, EffectiveRank: st.EffectiveRank, TopScore: float32(math.NaN()), BottomScore: float32(math.NaN())}
	if len(top.Pairs) > 0 {
		row.TopScore = top.Pairs[0].Score
	}
	if len(bottom.Pairs) > 0 {
		row.BottomScore = bottom.Pairs[0].Score
	}
	if kind == project.OV {
		cs := st.CopyingScore
		row.CopyingScore = &cs
		if len(top.Pairs) > 0 {
			same := 0
			for _, p := range top.Pairs {
				if sc.same.Exclude(v, p.Source, p.Target) {
					same++
				}
			}
			f := float64(same) / float64(len(top.Pairs))
			row.CopyFraction = &f
		}
	}
	if kind == project.QK && vs.Offset == 0 && sc.positions {
		pt, ok, err := sp.PrevToken(l, h)
		if err != nil {
			return HeadRow{}, nil, err
		}
		if ok {
			m, f := pt.Margin, pt.Fraction
			row.PrevTokenMargin, row.PrevTokenFraction = &m, &f
		}
	}
	var pairs []PairRow
	for _, side := range []struct {
		name string
		top  *project.PairTop
	}{{"top", top}, {"bottom", bottom}} {
		for r, p := range side.top.Pairs {
			pairs = append(pairs, PairRow{Layer: int32(l), Head: int32(h), View: vs.View, Offset: int32(vs.Offset),
				Side: side.name, Rank: int32(r + 1), SourceID: int32(p.Source), TargetID: int32(p.Target),
				Source: v.Raw(p.Source), Target: v.Raw(p.Target), SourceText: v.Text(p.Source), TargetText: v.Text(p.Target),
				Score: p.Score})
		}
	}
	return row, pairs, nil
}

// neurons computes one layer's neuron rows and tokens.
func (sc *scanner) neurons(l int, t *layerTables) error {
	sp, v := sc.src.Space, sc.src.Vocab
	tops, stats, err := sp.NeuronScan(l, project.NeuronOptions{K: sc.k, Tokens: sc.src.Tokens, Filter: sc.src.Filter})
	if err != nil {
		return err
	}
	opt := func(x float64) *float64 {
		if math.IsNaN(x) {
			return nil
		}
		return &x
	}
	for i, top := range tops {
		st := stats[i]
		row := NeuronRow{Layer: int32(l), Neuron: int32(top.Neuron.Index), KeyNorm: st.KeyNorm, ValueNorm: st.ValueNorm,
			CosKeyValue: st.CosKeyValue, ValueMean: st.ValueMean, ValueStd: st.ValueStd, ValueSkew: st.ValueSkew, ValueKurtosis: st.ValueKurtosis}
		if top.Gated {
			row.UpNorm, row.CosUpValue = opt(st.UpNorm), opt(st.CosUpValue)
		}
		t.neurons = append(t.neurons, row)
		for _, side := range top.Sides() {
			name := side.String()
			for r, tk := range top.Columns[side] {
				t.tokens = append(t.tokens, TokenRow{Layer: int32(l), Neuron: int32(top.Neuron.Index), Column: name,
					Rank: int32(r + 1), TokenID: int32(tk.ID), Token: v.Raw(tk.ID), Text: v.Text(tk.ID), Score: tk.Score})
			}
		}
	}
	return nil
}

// layerList formats layers as "3, 5–7".
func layerList(ls []int) string {
	var parts []string
	for i := 0; i < len(ls); {
		j := i
		for j+1 < len(ls) && ls[j+1] == ls[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(ls[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d–%d", ls[i], ls[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}
