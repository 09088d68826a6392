package catalogue

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"lenskit.dev/lenskit/internal/untrusted"
)

// Schema names the catalogue format; it changes whenever a table or the
// manifest changes meaning, and parts of another schema are never reused.
const Schema = "lenskit-catalogue/1"

// ManifestFile is the manifest's name in a catalogue directory.
const ManifestFile = "manifest.json"

// maxManifest bounds the manifest and part.json files read back.
const maxManifest = 1 << 20

// ViewSpec names one kind of head view a catalogue records.
type ViewSpec struct {
	View   string `json:"view"`   // "OV" or "QK"
	Offset int    `json:"offset"` // QK of a rotary model: δ
}

// Manifest describes a catalogue: what was scanned, how, and when. The
// identity fields (all but Model, Revision, Lenskit, Created and Merged)
// decide whether parts can be reused: a directory whose manifest differs
// in any of them is refused.
type Manifest struct {
	Schema      string     `json:"schema"`
	Model       string     `json:"model"`              // the checkpoint id: hub id@commit, directory, embedded:name
	Revision    string     `json:"revision,omitempty"` // the hub commit, when the model came from the hub
	WeightsHash string     `json:"weights_hash"`       // weights.Model.Hash: sha256 of the parameters
	VocabHash   string     `json:"vocab_hash"`         // sha256 of the vocabulary's raw entries
	ModelType   string     `json:"model_type"`
	Layers      int        `json:"layers"`
	Heads       int        `json:"heads"`
	KVHeads     int        `json:"kv_heads"`
	DFF         int        `json:"d_ff"`
	Vocab       int        `json:"vocab"`       // tokens of the vocabulary
	Filter      string     `json:"filter"`      // the lens's filters, e.g. "alnum+exclude-same" ("all": none)
	Tokens      int        `json:"tokens"`      // tokens taking part after the filters
	TokensHash  string     `json:"tokens_hash"` // sha256 of the ids taking part
	Processing  string     `json:"processing"`  // weight processing ("" = raw weights)
	K           int        `json:"k"`           // pairs per head view and side, tokens per neuron column
	Views       []ViewSpec `json:"views"`
	HeadsOnly   bool       `json:"heads_only,omitempty"` // the neurons were left out
	Lenskit     string     `json:"lenskit"`              // version of the lenskit that started the catalogue
	Created     string     `json:"created"`              // when the first scan started (RFC 3339, UTC)
	Merged      *Merged    `json:"merged,omitempty"`
}

// Merged records the merged tables (set by Merge).
type Merged struct {
	Time   string              `json:"time"`
	Tables map[string]FileInfo `json:"tables"`
}

// FileInfo identifies a written table.
type FileInfo struct {
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// identity is what a part's fingerprint covers.
type identity struct {
	Schema, WeightsHash, VocabHash, ModelType     string
	Layers, Heads, KVHeads, DFF, Vocab, Tokens, K int
	Filter, TokensHash, Processing                string
	Views                                         []ViewSpec
	HeadsOnly                                     bool
}

func (m *Manifest) identity() identity {
	return identity{m.Schema, m.WeightsHash, m.VocabHash, m.ModelType, m.Layers, m.Heads, m.KVHeads, m.DFF, m.Vocab,
		m.Tokens, m.K, m.Filter, m.TokensHash, m.Processing, m.Views, m.HeadsOnly}
}

// Fingerprint is the SHA-256 of the manifest's identity fields: parts
// record it, and only parts with the catalogue's fingerprint are used.
func (m *Manifest) Fingerprint() string {
	b, _ := json.Marshal(m.identity())
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// mismatch explains how an existing manifest differs from the one a scan
// would write, or returns nil when they describe the same catalogue.
func (m *Manifest) mismatch(have *Manifest, dir string) error {
	if have.Schema != m.Schema {
		return fmt.Errorf("catalogue: %s holds a catalogue of schema %s; this lenskit writes %s: use another directory",
			dir, untrusted.Quote(have.Schema), m.Schema)
	}
	if have.WeightsHash != m.WeightsHash {
		return fmt.Errorf("catalogue: %s holds a catalogue of other weights: its manifest has weights %s (model %s), the model being scanned has %s (%s); use another directory",
			dir, quoteHash(have.WeightsHash), untrusted.Quote(have.Model), m.WeightsHash, m.Model)
	}
	var diffs []string
	add := func(field string, had, want any) {
		diffs = append(diffs, fmt.Sprintf("%s %s (this scan: %v)", field, untrusted.Quote(fmt.Sprint(had)), want))
	}
	if have.VocabHash != m.VocabHash {
		add("vocab_hash", have.VocabHash, m.VocabHash)
	}
	if have.Filter != m.Filter || have.TokensHash != m.TokensHash || have.Tokens != m.Tokens {
		add("filter", fmt.Sprintf("%s, %d tokens", have.Filter, have.Tokens), fmt.Sprintf("%s, %d tokens", m.Filter, m.Tokens))
	}
	if have.Processing != m.Processing {
		add("processing", have.Processing, m.Processing)
	}
	if have.K != m.K {
		add("k", have.K, m.K)
	}
	if have.HeadsOnly != m.HeadsOnly {
		add("heads_only", have.HeadsOnly, m.HeadsOnly)
	}
	if have.identity().Views == nil || fmt.Sprint(have.Views) != fmt.Sprint(m.Views) {
		add("views", have.Views, m.Views)
	}
	if have.ModelType != m.ModelType || have.Layers != m.Layers || have.Heads != m.Heads || have.KVHeads != m.KVHeads ||
		have.DFF != m.DFF || have.Vocab != m.Vocab {
		add("shape", fmt.Sprintf("%s %d×%d heads (kv %d), d_ff %d, vocab %d", have.ModelType, have.Layers, have.Heads, have.KVHeads, have.DFF, have.Vocab),
			fmt.Sprintf("%s %d×%d heads (kv %d), d_ff %d, vocab %d", m.ModelType, m.Layers, m.Heads, m.KVHeads, m.DFF, m.Vocab))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("catalogue: %s holds a catalogue of these weights made differently: %s; use another directory",
			dir, strings.Join(diffs, "; "))
	}
	return nil
}

// quoteHash shows a well-formed "sha256:<64 hex>" hash whole, anything
// else as a short quoted prefix (the manifest is read from disk).
func quoteHash(h string) string {
	hex, ok := strings.CutPrefix(h, "sha256:")
	if ok && len(hex) == 64 && strings.Trim(hex, "0123456789abcdef") == "" {
		return h
	}
	return untrusted.Quote(h)
}

// ReadManifest reads dir's manifest.json.
func ReadManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	b, err := untrusted.ReadFile(path, maxManifest)
	if err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	var m Manifest
	if err := strictJSON(b, &m); err != nil {
		return nil, fmt.Errorf("catalogue: %s: not a lenskit catalogue manifest: %v", path, err)
	}
	if m.Schema == "" || m.WeightsHash == "" || m.Layers <= 0 || m.K <= 0 {
		return nil, fmt.Errorf("catalogue: %s: not a lenskit catalogue manifest: schema, weights_hash, layers or k missing", path)
	}
	if m.Layers > maxLayers {
		return nil, fmt.Errorf("catalogue: %s: layers %d beyond the %d a catalogue may have", path, m.Layers, maxLayers)
	}
	return &m, nil
}

// maxLayers bounds the layer count read from a manifest.
const maxLayers = 100000

// strictJSON decodes one JSON value with no unknown fields and nothing
// after it.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}

// writeJSON writes v to path atomically: a temporary file in the same
// directory, synced, renamed over path, then the directory synced.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(path, append(b, '\n'))
}

func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// Shard is one share of a sharded scan: shard Index of Count (0-based),
// computing a contiguous range of layers. The zero value is the whole
// model.
type Shard struct{ Index, Count int }

// ParseShard reads "i/n" (0 ≤ i < n).
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	switch {
	case !ok || err1 != nil || err2 != nil:
		return Shard{}, fmt.Errorf("catalogue: bad shard %s: want i/n with whole numbers, e.g. 0/8", untrusted.Quote(s))
	case n < 1:
		return Shard{}, fmt.Errorf("catalogue: bad shard %s: the shard count must be at least 1", untrusted.Quote(s))
	case i < 0 || i >= n:
		return Shard{}, fmt.Errorf("catalogue: bad shard %s: the index must be 0 … %d for %d shards (shards count from 0)", untrusted.Quote(s), n-1, n)
	}
	return Shard{i, n}, nil
}

func (s Shard) String() string {
	if s.Count <= 1 {
		return "all"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Layers returns the layers of [0, layers) the shard computes: shard i of n
// takes [i·L/n, (i+1)·L/n).
func (s Shard) Layers(layers int) (lo, hi int) {
	if s.Count <= 1 {
		return 0, layers
	}
	return s.Index * layers / s.Count, (s.Index + 1) * layers / s.Count
}
