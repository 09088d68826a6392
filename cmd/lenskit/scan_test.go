package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lenskit.dev/lenskit/catalogue"
	"lenskit.dev/lenskit/checkpoint/synth"
)

func smallModel(t *testing.T, seed uint64) string {
	t.Helper()
	dir := t.TempDir()
	shape := synth.Shape{Layers: 3, Heads: 2, DModel: 16, DFF: 12, Vocab: 300, Positions: 8}
	if err := synth.Write(dir, synth.Options{Shape: shape, Seed: seed, Tokenizer: true}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestScanContract: `lenskit scan --model X -o DIR` writes the four tables
// and manifest.json (default k 50); shards merged by `scan merge` equal the
// whole scan byte for byte; bad shard specs, a directory of other weights
// and a corrupt part are reported.
func TestScanContract(t *testing.T) {
	model := smallModel(t, 1)
	whole := filepath.Join(t.TempDir(), "whole")
	code, out, errs := runCLI(t, "scan", "--model", model, "-o", whole, "--alnum", "--exclude-same")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, f := range append([]string{catalogue.ManifestFile}, catalogue.Tables...) {
		if _, err := os.Stat(filepath.Join(whole, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if f != catalogue.ManifestFile && !strings.Contains(out, f) {
			t.Errorf("output does not list %s:\n%s", f, out)
		}
	}
	m, err := catalogue.ReadManifest(whole)
	if err != nil {
		t.Fatal(err)
	}
	if m.K != 50 || m.Filter != "alnum+exclude-same" || m.Merged == nil || m.Layers != 3 {
		t.Errorf("manifest %+v", m)
	}
	sharded := filepath.Join(t.TempDir(), "sharded")
	for _, s := range []string{"0/2", "1/2"} {
		code, out, errs := runCLI(t, "scan", "--model", model, "-o", sharded, "--alnum", "--exclude-same", "--shard", s)
		if code != 0 || !strings.Contains(out, "lenskit scan merge -o") {
			t.Fatalf("shard %s: exit %d: %s%s", s, code, out, errs)
		}
	}
	if code, _, errs := runCLI(t, "scan", "merge", "-o", sharded); code != 0 {
		t.Fatalf("merge: exit %d: %s", code, errs)
	}
	for _, f := range catalogue.Tables {
		a, _ := os.ReadFile(filepath.Join(whole, f))
		b, _ := os.ReadFile(filepath.Join(sharded, f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s: sharded and whole scans differ (%d vs %d bytes)", f, len(a), len(b))
		}
	}
	for _, bad := range []struct{ shard, msg string }{{"3/2", "index must be 0 … 1"}, {"a/b", "whole numbers"}, {"1/0", "at least 1"}} {
		code, _, errs := runCLI(t, "scan", "--model", model, "-o", t.TempDir(), "--shard", bad.shard)
		if code != 2 || !strings.Contains(errs, bad.msg) {
			t.Errorf("--shard %s: exit %d: %s", bad.shard, code, errs)
		}
	}
	if code, _, errs := runCLI(t, "scan", "--model", model); code != 2 || !strings.Contains(errs, "-o DIR") {
		t.Errorf("no -o: exit %d: %s", code, errs)
	}
	other := smallModel(t, 2)
	code, _, errs = runCLI(t, "scan", "--model", other, "-o", whole, "--alnum", "--exclude-same")
	if code != 1 || !strings.Contains(errs, "other weights") || strings.Count(errs, "sha256:") < 2 {
		t.Errorf("other weights: exit %d: %s", code, errs)
	}
	// A corrupt part: merge refuses it, the next scan recomputes it.
	victim := filepath.Join(sharded, "parts", "layer-0001", catalogue.TokensTable)
	b, _ := os.ReadFile(victim)
	b[len(b)/3] ^= 1
	os.WriteFile(victim, b, 0o644)
	code, _, errs = runCLI(t, "scan", "merge", "-o", sharded)
	if code != 1 || !strings.Contains(errs, "layer 1 corrupt") || !strings.Contains(errs, "nothing was merged") {
		t.Errorf("merge of a corrupt part: exit %d: %s", code, errs)
	}
	code, out, errs = runCLI(t, "scan", "--model", model, "-o", sharded, "--alnum", "--exclude-same")
	if code != 0 || !strings.Contains(errs, "layer-0001/tokens.parquet: corrupt") || !strings.Contains(out, "1 recomputed") {
		t.Errorf("rescan: exit %d: %s\n%s", code, out, errs)
	}
	for _, f := range catalogue.Tables {
		a, _ := os.ReadFile(filepath.Join(whole, f))
		b, _ := os.ReadFile(filepath.Join(sharded, f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs after recomputing the corrupt part", f)
		}
	}
}

// TestFindContract: `lenskit find WORD --model X --json` prints the
// documented lists, best first, --k entries each (default 20), with the
// word before or after the flags; a word that encodes to nothing fails.
func TestFindContract(t *testing.T) {
	code, out, errs := runCLI(t, "find", "Warszawa", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Write []map[string]any `json:"neurons_write"`
		Read  []map[string]any `json:"neurons_read"`
		Heads []map[string]any `json:"heads"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(got.Write) != 20 || len(got.Read) != 20 || len(got.Heads) != 20 {
		t.Errorf("default k: %d, %d, %d entries", len(got.Write), len(got.Read), len(got.Heads))
	}
	for _, h := range got.Heads {
		for _, k := range []string{"layer", "head", "source_id", "source", "target_id", "target", "score"} {
			if _, ok := h[k]; !ok {
				t.Fatalf("head entry lacks %q: %v", k, h)
			}
		}
	}
	for i := 1; i < len(got.Write); i++ {
		if got.Write[i]["score"].(float64) > got.Write[i-1]["score"].(float64) {
			t.Fatalf("neurons_write not best first: %v", got.Write)
		}
	}
	code, out, errs = runCLI(t, "find", "--k", "3", "--json", "kot")
	if code != 0 || strings.Count(out, `"neuron"`) != 6 {
		t.Errorf("word after the flags: exit %d: %s%s", code, out, errs)
	}
	code, out, _ = runCLI(t, "find", "miasto", "--k", "2")
	if code != 0 || !strings.Contains(out, "neurons writing") || !strings.Contains(out, "lenskit neuron --layer") {
		t.Errorf("table output: %s", out)
	}
	if code, _, errs := runCLI(t, "find", "", "--json"); code != 1 || !strings.Contains(errs, "encodes to no tokens") {
		t.Errorf("empty word: exit %d: %s", code, errs)
	}
	if code, _, errs := runCLI(t, "find", "a", "b"); code != 2 || !strings.Contains(errs, "one word") {
		t.Errorf("two words: exit %d: %s", code, errs)
	}
	if code, _, errs := runCLI(t, "find"); code != 2 {
		t.Errorf("no word: exit %d: %s", code, errs)
	}
}
