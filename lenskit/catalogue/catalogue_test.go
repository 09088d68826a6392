package catalogue

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/checkpoint/synth"
	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/vocab"
	"lenskit.dev/lenskit/weights"
)

// writeGPT2 writes a small GPT-2 checkpoint with a tokenizer.
func writeGPT2(t testing.TB, dir string, layers int, seed uint64) {
	t.Helper()
	shape := synth.Shape{Layers: layers, Heads: 3, DModel: 24, DFF: 20, Vocab: 300, Positions: 12}
	if err := synth.Write(dir, synth.Options{Shape: shape, Seed: seed, Tokenizer: true}); err != nil {
		t.Fatal(err)
	}
}

// openSource opens the checkpoint in dir as a catalogue source with the
// given processing, token subset (nil: all) and exclusion.
func openSource(t testing.TB, dir string, proc project.Processing, tokens []int, exclude func(a, b int) bool, filter string) Source {
	t.Helper()
	ck, err := checkpoint.Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ck.Close() })
	m, err := weights.FromCheckpoint(ck)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vocab.Load(ck.Files())
	if err != nil {
		t.Fatal(err)
	}
	sp, err := project.NewSpace(m, project.CPU(), project.Tokens(v.Len()), project.WithProcessing(proc))
	if err != nil {
		t.Fatal(err)
	}
	return Source{Space: sp, Vocab: v, Tokens: tokens, Exclude: exclude, Filter: filter}
}

// alnumSource is a source with a real filter: alnum tokens, pairs of the
// same token excluded.
func alnumSource(t testing.TB, dir string) Source {
	t.Helper()
	s := openSource(t, dir, project.Processing{}, nil, nil, "")
	ids := s.Vocab.Select(vocab.Alnum())
	same := vocab.SameToken()
	v := s.Vocab
	s.Tokens, s.Exclude, s.Filter = ids, func(a, b int) bool { return same.Exclude(v, a, b) }, "alnum+exclude-same"
	return s
}

// TestRowsEqualSingleQueries: every row of a scanned catalogue equals the
// single-head and single-neuron results under the same filters — for
// GPT-2 with a token filter and excluded pairs, and for a rotary, gated,
// grouped-query family (QK at δ = 0 and 1) with weight processing.
func TestRowsEqualSingleQueries(t *testing.T) {
	gdir := t.TempDir()
	writeGPT2(t, gdir, 2, 1)
	ldir := t.TempDir()
	if _, err := synth.WriteFamily(ldir, synth.FamilyOptions{ModelType: "llama", Layers: 2, Heads: 4, KVHeads: 2, DModel: 32,
		DHead: 8, DFF: 24, Vocab: 300, Seed: 2, Tokenizer: true, DType: checkpoint.BF16}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		src  Source
	}{
		{"gpt2/alnum+exclude-same", alnumSource(t, gdir)},
		{"llama/processed", openSource(t, ldir, project.Processing{FoldNorms: true, FoldFinalNorm: true, CenterUnembed: true}, nil, nil, "")},
	} {
		t.Run(c.name, func(t *testing.T) {
			const k = 7
			dir := t.TempDir()
			rep, err := Scan(dir, c.src, Options{K: k})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Merged || len(rep.Computed) != 2 {
				t.Fatalf("report %+v", rep)
			}
			cat, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			checkAgainstQueries(t, cat, c.src, k)
		})
	}
}

func checkAgainstQueries(t *testing.T, cat *Catalogue, src Source, k int) {
	t.Helper()
	sp, v := src.Space, src.Vocab
	a := sp.Model.Arch()
	pairs, err := cat.Pairs(nil)
	if err != nil {
		t.Fatal(err)
	}
	type viewKey struct {
		layer, head int32
		view        string
		offset      int32
		side        string
	}
	byView := map[viewKey][]PairRow{}
	for _, p := range pairs {
		key := viewKey{p.Layer, p.Head, p.View, p.Offset, p.Side}
		byView[key] = append(byView[key], p)
	}
	views := len(cat.Manifest.Views)
	if len(cat.Heads) != a.Layers*a.Heads*views {
		t.Fatalf("%d head rows, want %d", len(cat.Heads), a.Layers*a.Heads*views)
	}
	for _, h := range cat.Heads {
		kind, _ := project.ParseKind(h.View)
		hv, err := sp.ViewAt(kind, int(h.Layer), int(h.Head), int(h.Offset))
		if err != nil {
			t.Fatal(err)
		}
		what := fmt.Sprintf("%d.%d %s δ=%d", h.Layer, h.Head, h.View, h.Offset)
		for _, side := range []string{"top", "bottom"} {
			want, err := hv.Top(project.PairOptions{K: k, Bottom: side == "bottom", Sources: src.Tokens, Targets: src.Tokens, Exclude: src.Exclude})
			if err != nil {
				t.Fatal(err)
			}
			got := byView[viewKey{h.Layer, h.Head, h.View, h.Offset, side}]
			if len(got) != len(want.Pairs) {
				t.Fatalf("%s %s: %d pairs, single query %d", what, side, len(got), len(want.Pairs))
			}
			for i, p := range want.Pairs {
				g := got[i]
				if int(g.SourceID) != p.Source || int(g.TargetID) != p.Target || g.Score != p.Score || g.Rank != int32(i+1) ||
					g.Source != v.Raw(p.Source) || g.TargetText != v.Text(p.Target) {
					t.Fatalf("%s %s rank %d: catalogue %+v, single query %+v", what, side, i+1, g, p)
				}
			}
			if side == "top" && len(want.Pairs) > 0 && h.TopScore != want.Pairs[0].Score {
				t.Errorf("%s: top_score %v, want %v", what, h.TopScore, want.Pairs[0].Score)
			}
		}
		st, err := hv.Stats(src.Tokens)
		if err != nil {
			t.Fatal(err)
		}
		if h.Sigma1 != st.Sigma1 || h.EffectiveRank != st.EffectiveRank || int(h.KVHead) != hv.KV {
			t.Errorf("%s: σ₁ %v rank %v kv %d, single view %v %v %d", what, h.Sigma1, h.EffectiveRank, h.KVHead, st.Sigma1, st.EffectiveRank, hv.KV)
		}
		if (kind == project.OV) != (h.CopyingScore != nil) || (h.CopyingScore != nil && *h.CopyingScore != st.CopyingScore) {
			t.Errorf("%s: copying score %v, single view %v", what, h.CopyingScore, st.CopyingScore)
		}
		learned := a.Rotary == nil
		if (kind == project.QK && learned) != (h.PrevTokenMargin != nil) {
			t.Errorf("%s: previous-token score present = %v", what, h.PrevTokenMargin != nil)
		} else if h.PrevTokenMargin != nil {
			pt, _, _ := sp.PrevToken(int(h.Layer), int(h.Head))
			if *h.PrevTokenMargin != pt.Margin || *h.PrevTokenFraction != pt.Fraction {
				t.Errorf("%s: previous-token %v/%v, single %v", what, *h.PrevTokenMargin, *h.PrevTokenFraction, pt)
			}
		}
	}
	toks, err := cat.Tokens(nil)
	if err != nil {
		t.Fatal(err)
	}
	type colKey struct {
		layer, neuron int32
		column        string
	}
	byCol := map[colKey][]TokenRow{}
	for _, r := range toks {
		key := colKey{r.Layer, r.Neuron, r.Column}
		byCol[key] = append(byCol[key], r)
	}
	if len(cat.Neurons) != a.Layers*a.DFF {
		t.Fatalf("%d neuron rows, want %d", len(cat.Neurons), a.Layers*a.DFF)
	}
	for l := range a.Layers {
		_, stats, err := sp.NeuronScan(l, project.NeuronOptions{K: k, Tokens: src.Tokens})
		if err != nil {
			t.Fatal(err)
		}
		for i := range a.DFF {
			want, err := sp.Neuron(l, i, project.NeuronOptions{K: k, Tokens: src.Tokens})
			if err != nil {
				t.Fatal(err)
			}
			for _, side := range want.Sides() {
				got := byCol[colKey{int32(l), int32(i), side.String()}]
				if len(got) != len(want.Columns[side]) {
					t.Fatalf("L%d/N%d %v: %d tokens, single query %d", l, i, side, len(got), len(want.Columns[side]))
				}
				for r, tk := range want.Columns[side] {
					if int(got[r].TokenID) != tk.ID || got[r].Score != tk.Score || got[r].Text != v.Text(tk.ID) {
						t.Fatalf("L%d/N%d %v rank %d: catalogue %+v, single query %+v", l, i, side, r+1, got[r], tk)
					}
				}
			}
			row := cat.Neurons[l*a.DFF+i]
			st := stats[i]
			if row.Layer != int32(l) || row.Neuron != int32(i) || row.ValueKurtosis != st.ValueKurtosis || row.ValueSkew != st.ValueSkew ||
				row.KeyNorm != st.KeyNorm || row.CosKeyValue != st.CosKeyValue || (row.UpNorm != nil) != want.Gated {
				t.Fatalf("L%d/N%d: catalogue %+v, statistics %+v", l, i, row, st)
			}
		}
	}
}

// TestShardsMergeToWholeScan: three shards (one of them on a single core)
// merged give the same bytes as one whole-model scan, parts and tables.
func TestShardsMergeToWholeScan(t *testing.T) {
	mdir := t.TempDir()
	writeGPT2(t, mdir, 5, 3)
	src := alnumSource(t, mdir)
	whole := t.TempDir()
	if _, err := Scan(whole, src, Options{K: 5}); err != nil {
		t.Fatal(err)
	}
	sharded := t.TempDir()
	for i := range 3 {
		if i == 1 {
			old := runtime.GOMAXPROCS(1)
			_, err := Scan(sharded, src, Options{K: 5, Shard: Shard{i, 3}})
			runtime.GOMAXPROCS(old)
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		rep, err := Scan(sharded, src, Options{K: 5, Shard: Shard{i, 3}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Merged {
			t.Fatal("a shard merged")
		}
	}
	if _, err := Open(sharded); err == nil {
		t.Fatal("an unmerged catalogue opened")
	}
	if _, err := Merge(sharded); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, whole, sharded)
}

// sameFiles compares two catalogue directories file by file; the
// manifests may differ only in their times.
func sameFiles(t *testing.T, a, b string) {
	t.Helper()
	list := func(dir string) map[string][]byte {
		out := map[string][]byte{}
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			if d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(dir, p)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if rel == ManifestFile {
				var m Manifest
				if err := json.Unmarshal(b, &m); err != nil {
					t.Fatal(err)
				}
				m.Created = ""
				if m.Merged != nil {
					m.Merged.Time = ""
				}
				b, _ = json.Marshal(m)
			}
			out[rel] = b
			return nil
		})
		return out
	}
	fa, fb := list(a), list(b)
	if !slices.Equal(slices.Sorted(mapsKeys(fa)), slices.Sorted(mapsKeys(fb))) {
		t.Fatalf("file lists differ:\n%v\n%v", slices.Sorted(mapsKeys(fa)), slices.Sorted(mapsKeys(fb)))
	}
	for name, x := range fa {
		if !bytes.Equal(x, fb[name]) {
			t.Errorf("%s differs (%d vs %d bytes)", name, len(x), len(fb[name]))
		}
	}
	for _, name := range Tables {
		if _, ok := fa[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
}

func mapsKeys(m map[string][]byte) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestKilledScanResumes runs a scan in a child process, kills it with
// SIGKILL half-way (inside layer 2 of 4, after two parts are written),
// leaves a torn temporary part as a kill during a write would, restarts
// the scan, and compares with an uninterrupted scan.
func TestKilledScanResumes(t *testing.T) {
	if os.Getenv("LENSKIT_CATALOGUE_CHILD") != "" {
		t.Skip("child")
	}
	mdir := t.TempDir()
	writeGPT2(t, mdir, 4, 5)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestScanChild$", "-test.v")
	cmd.Env = append(os.Environ(), "LENSKIT_CATALOGUE_CHILD="+mdir+string(os.PathListSeparator)+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "half-way") {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatal("the child scan ended without reaching half-way")
		}
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("the child scan did not reach half-way")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(dir, HeadsTable)); err == nil {
		t.Fatal("the killed scan merged")
	}
	parts, _ := filepath.Glob(filepath.Join(dir, "parts", "layer-*"))
	if len(parts) != 2 {
		t.Fatalf("the killed scan left %d parts, want 2", len(parts))
	}
	// A kill during a write leaves a temporary directory with a torn file.
	torn := filepath.Join(dir, "parts", ".tmp-"+partName(2)+"-123")
	os.MkdirAll(torn, 0o755)
	os.WriteFile(filepath.Join(torn, PairsTable), []byte("PAR1 torn"), 0o644)

	src := alnumSource(t, mdir)
	var log bytes.Buffer
	rep, err := Scan(dir, src, Options{K: 5, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Skipped, []int{0, 1}) || !slices.Equal(rep.Computed, []int{2, 3}) {
		t.Errorf("restart: skipped %v computed %v, want [0 1] and [2 3]\n%s", rep.Skipped, rep.Computed, log.String())
	}
	if _, err := os.Stat(torn); err == nil {
		t.Error("the torn temporary part was left behind")
	}
	whole := t.TempDir()
	if _, err := Scan(whole, src, Options{K: 5}); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, whole, dir)
}

// TestScanChild is the child of TestKilledScanResumes: it scans and, once
// two layers are written and the third is half done, says so and waits to
// be killed.
func TestScanChild(t *testing.T) {
	env := os.Getenv("LENSKIT_CATALOGUE_CHILD")
	if env == "" {
		t.Skip("only run by TestKilledScanResumes")
	}
	mdir, dir, _ := strings.Cut(env, string(os.PathListSeparator))
	src := alnumSource(t, mdir)
	sc := newScanner(src, 5)
	perLayer := sc.layerUnits()
	Scan(dir, src, Options{K: 5, Progress: func(done, total int64) {
		if done >= 2*perLayer+sc.viewUnits()*3 {
			fmt.Println("half-way")
			os.Stdout.Sync()
			time.Sleep(time.Hour)
		}
	}})
	t.Error("the scan finished before it was killed")
}

// TestCorruptPartRecomputed: a part file changed after it was written is
// never merged; the next scan reports it, computes that layer alone again,
// and the result equals the original.
func TestCorruptPartRecomputed(t *testing.T) {
	mdir := t.TempDir()
	writeGPT2(t, mdir, 3, 7)
	src := alnumSource(t, mdir)
	dir := t.TempDir()
	if _, err := Scan(dir, src, Options{K: 4}); err != nil {
		t.Fatal(err)
	}
	ref := t.TempDir()
	if _, err := Scan(ref, src, Options{K: 4}); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(dir, "parts", partName(1), PairsTable)
	b, _ := os.ReadFile(victim)
	b[len(b)/2] ^= 0x40
	os.WriteFile(victim, b, 0o644)
	_, err := Merge(dir)
	var me *MergeError
	if !errors.As(err, &me) || me.Corrupt[1] == "" || !strings.Contains(err.Error(), "layer 1 corrupt") || !strings.Contains(err.Error(), "pairs.parquet") {
		t.Fatalf("merge of a corrupt part: %v", err)
	}
	// A missing part is named too.
	os.RemoveAll(filepath.Join(dir, "parts", partName(2)))
	if _, err := Merge(dir); err == nil || !strings.Contains(err.Error(), "layers 2 not computed yet") {
		t.Fatalf("merge with a missing part: %v", err)
	}
	var log bytes.Buffer
	rep, err := Scan(dir, src, Options{K: 4, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Recomputed, []int{1}) || !slices.Equal(rep.Computed, []int{2}) || !slices.Equal(rep.Skipped, []int{0}) {
		t.Errorf("report %+v", rep)
	}
	if !strings.Contains(log.String(), "parts/layer-0001/pairs.parquet: corrupt") {
		t.Errorf("log does not report the corrupt part:\n%s", log.String())
	}
	sameFiles(t, ref, dir)
	// A corrupt part.json is recomputed as well.
	os.WriteFile(filepath.Join(dir, "parts", partName(0), "part.json"), []byte("{"), 0o644)
	rep, err = Scan(dir, src, Options{K: 4})
	if err != nil || !slices.Equal(rep.Recomputed, []int{0}) {
		t.Fatalf("corrupt part.json: %+v %v", rep, err)
	}
}

// TestRefusesOtherCatalogues: a directory holding a catalogue of other
// weights is refused naming both hashes; one of the same weights with
// another k or filter is refused naming the difference; a non-empty
// directory without a manifest and a corrupt manifest are refused.
func TestRefusesOtherCatalogues(t *testing.T) {
	adir, bdir := t.TempDir(), t.TempDir()
	writeGPT2(t, adir, 1, 11)
	writeGPT2(t, bdir, 1, 12)
	a, b := alnumSource(t, adir), alnumSource(t, bdir)
	dir := t.TempDir()
	if _, err := Scan(dir, a, Options{K: 3}); err != nil {
		t.Fatal(err)
	}
	ha, _ := a.Space.Model.Hash()
	hb, _ := b.Space.Model.Hash()
	_, err := Scan(dir, b, Options{K: 3})
	if err == nil || !strings.Contains(err.Error(), "other weights") || !strings.Contains(err.Error(), ha) || !strings.Contains(err.Error(), hb) {
		t.Fatalf("other weights: %v", err)
	}
	if _, err := Scan(dir, a, Options{K: 4}); err == nil || !strings.Contains(err.Error(), "k \"3\" (this scan: 4)") {
		t.Fatalf("other k: %v", err)
	}
	all := openSource(t, adir, project.Processing{}, nil, nil, "")
	if _, err := Scan(dir, all, Options{K: 3}); err == nil || !strings.Contains(err.Error(), "filter") {
		t.Fatalf("other filter: %v", err)
	}
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644)
	if _, err := Scan(other, a, Options{K: 3}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("non-empty directory: %v", err)
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, ManifestFile), []byte(`{"schema": 3}`), 0o644)
	if _, err := Scan(bad, a, Options{K: 3}); err == nil || !strings.Contains(err.Error(), "not a lenskit catalogue manifest") {
		t.Fatalf("corrupt manifest: %v", err)
	}
	for _, k := range []int{-1, MaxK + 1} {
		if _, err := Scan(t.TempDir(), a, Options{K: k}); err == nil {
			t.Errorf("k = %d accepted", k)
		}
	}
}

func TestParseShard(t *testing.T) {
	for _, good := range []struct {
		s    string
		want Shard
	}{{"0/1", Shard{0, 1}}, {"2/3", Shard{2, 3}}, {" 7 / 8 ", Shard{7, 8}}} {
		got, err := ParseShard(good.s)
		if err != nil || got != good.want {
			t.Errorf("%q: %v %v", good.s, got, err)
		}
	}
	for _, bad := range []struct{ s, msg string }{
		{"3/2", "index must be 0 … 1"}, {"2/2", "index must be 0 … 1"}, {"a/b", "whole numbers"}, {"1/0", "at least 1"},
		{"-1/2", "index must be"}, {"1", "whole numbers"}, {"", "whole numbers"}, {"1/2/3", "whole numbers"},
		{"\x00\x01/2", "whole numbers"},
	} {
		_, err := ParseShard(bad.s)
		if err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("%q: %v, want %q", bad.s, err, bad.msg)
		}
	}
	// Shards cover the layers exactly once, in order.
	for _, n := range []int{1, 2, 3, 7, 80, 100} {
		next := 0
		for i := range n {
			lo, hi := Shard{i, n}.Layers(80)
			if lo != next || hi < lo {
				t.Fatalf("%d shards: shard %d is [%d, %d), want to start at %d", n, i, lo, hi, next)
			}
			next = hi
		}
		if next != 80 {
			t.Fatalf("%d shards end at %d", n, next)
		}
	}
}

// TestProgress: the progress callback counts up to its total.
func TestProgress(t *testing.T) {
	mdir := t.TempDir()
	writeGPT2(t, mdir, 2, 13)
	src := alnumSource(t, mdir)
	var last, total int64
	_, err := Scan(t.TempDir(), src, Options{K: 3, Progress: func(d, tot int64) {
		if d < last || tot <= 0 {
			t.Errorf("progress %d/%d after %d", d, tot, last)
		}
		last, total = d, tot
	}})
	if err != nil {
		t.Fatal(err)
	}
	if last != total {
		t.Errorf("progress ended at %d of %d", last, total)
	}
}

// TestCorruptTablesAreErrors: reading a table that is not Parquet, is
// truncated or has a lying footer is an error naming the file.
func TestCorruptTablesAreErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.parquet")
	rows := []HeadRow{{Layer: 1, View: "OV", Sigma1: 2}}
	if _, err := writeTable(path, rows); err != nil {
		t.Fatal(err)
	}
	got, err := readTable[HeadRow](path)
	if err != nil || len(got) != 1 || got[0].Sigma1 != 2 {
		t.Fatalf("round trip: %v %v", got, err)
	}
	good, _ := os.ReadFile(path)
	for name, b := range map[string][]byte{
		"empty":     {},
		"text":      []byte("hello, world"),
		"truncated": good[:len(good)-20],
		"footer":    append(append([]byte{}, good[:len(good)-8]...), 0xff, 0xff, 0xff, 0x7f, 'P', 'A', 'R', '1'),
		"middle":    flip(good, len(good)/2),
	} {
		p := filepath.Join(dir, name+".parquet")
		os.WriteFile(p, b, 0o644)
		_, err := readTable[HeadRow](p)
		if name == "middle" && err == nil {
			continue // a flipped value byte can still decode; sha256 in part.json catches it
		}
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte{}, b...)
	c[i] ^= 0xff
	return c
}

// TestHeadsOnly: a catalogue of heads alone has empty neuron tables, the
// same head tables as a full one, reports its time split, and is a
// different catalogue (a full scan into its directory is refused).
func TestHeadsOnly(t *testing.T) {
	mdir := t.TempDir()
	writeGPT2(t, mdir, 2, 17)
	src := alnumSource(t, mdir)
	heads, full := t.TempDir(), t.TempDir()
	rep, err := Scan(heads, src, Options{K: 4, HeadsOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.NeuronTime != 0 || rep.HeadTime <= 0 || !rep.Manifest.HeadsOnly {
		t.Errorf("report %+v", rep)
	}
	if rep, err = Scan(full, src, Options{K: 4}); err != nil || rep.NeuronTime <= 0 {
		t.Fatal(rep, err)
	}
	a, _ := Open(heads)
	b, _ := Open(full)
	if len(a.Neurons) != 0 || len(b.Neurons) == 0 || !reflect.DeepEqual(a.Heads, b.Heads) {
		t.Errorf("heads-only: %d neurons; heads equal: %v", len(a.Neurons), reflect.DeepEqual(a.Heads, b.Heads))
	}
	if _, err := Scan(heads, src, Options{K: 4}); err == nil || !strings.Contains(err.Error(), "heads_only") {
		t.Errorf("full scan into a heads-only catalogue: %v", err)
	}
}
