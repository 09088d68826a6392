package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// The weights files looked for in a checkpoint directory, in order of
// preference (the order transformers uses: safetensors before pickles,
// an index before a single file).
const (
	SafetensorsIndexFile = "model.safetensors.index.json"
	SafetensorsFile      = "model.safetensors"
	TorchIndexFile       = "pytorch_model.bin.index.json"
	TorchFile            = "pytorch_model.bin"
	ConfigFile           = "config.json"
)

// A Checkpoint is an opened model: its config.json, its tensors (memory
// mapped, read lazily) and its other files. It is safe for concurrent use.
// Close unmaps the files; tensors and slices obtained from it must not be used
// afterwards.
type Checkpoint struct {
	id     string
	name   string
	dir    string
	format string
	config *Config
	files  fs.FS

	tensors map[string]*Tensor
	names   []string

	mu      sync.Mutex
	closers []func() error
	regions []region // mapped weights files, for Guard

	hashOnce sync.Once
	hash     string
	hashErr  error
}

// source is where a checkpoint's files come from: a directory on disk or the
// embedded model.
type source struct {
	files   fs.FS                             // every file, for the small ones
	mapFile func(name string) (mapped, error) // whole-file view for weights
	show    func(name string) string          // how a file is named in errors
}

func dirSource(dir string) source {
	return source{
		files:   dirFS(dir),
		mapFile: func(name string) (mapped, error) { return mapFile(filepath.Join(dir, filepath.FromSlash(name))) },
		show:    func(name string) string { return filepath.Join(dir, filepath.FromSlash(name)) },
	}
}

// Open opens the checkpoint in a local directory in the Hugging Face layout:
// config.json and one of model.safetensors.index.json, model.safetensors,
// pytorch_model.bin.index.json or pytorch_model.bin (looked for in that
// order), plus whatever tokenizer files sit next to them. Only headers are
// read; tensor bytes stay on disk until used.
func Open(dir string) (*Checkpoint, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %s: %w", dir, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("checkpoint: %s: not a directory (give the directory holding config.json)", abs)
	}
	return open(dirSource(abs), abs, abs, filepath.Base(abs))
}

func open(src source, id, dir, name string) (_ *Checkpoint, err error) {
	c := &Checkpoint{id: id, dir: dir, name: name, files: src.files, tensors: make(map[string]*Tensor)}
	defer func() {
		if err != nil {
			c.Close() // unmap whatever was mapped before the fault
		}
	}()
	cfgData, err := readLimited(src.files, ConfigFile, maxConfigSize)
	if err != nil {
		return nil, fileErr(src.show(ConfigFile), err)
	}
	if c.config, err = ParseConfig(src.show(ConfigFile), cfgData); err != nil {
		return nil, err
	}

	exists := func(name string) bool {
		st, err := fs.Stat(src.files, name)
		return err == nil && !st.IsDir()
	}
	switch {
	case exists(SafetensorsIndexFile):
		c.format = "safetensors (sharded)"
		err = c.openSharded(src, SafetensorsIndexFile, parseSafetensorsMapped)
	case exists(SafetensorsFile):
		c.format = "safetensors"
		err = c.openShard(src, SafetensorsFile, parseSafetensorsMapped, nil)
	case exists(TorchIndexFile):
		c.format = "pytorch (sharded)"
		err = c.openSharded(src, TorchIndexFile, parseTorchMapped)
	case exists(TorchFile):
		c.format = "pytorch"
		err = c.openShard(src, TorchFile, parseTorchMapped, nil)
	default:
		return nil, &FileError{File: src.show("."), Err: fmt.Errorf("%w: none of %s, %s, %s, %s", ErrNoWeights,
			SafetensorsIndexFile, SafetensorsFile, TorchIndexFile, TorchFile)}
	}
	if err != nil {
		return nil, err
	}
	c.names = make([]string, 0, len(c.tensors))
	for n := range c.tensors {
		c.names = append(c.names, n)
	}
	slices.Sort(c.names)
	return c, nil
}

// A mapped file: its bytes (a memory map, or the embedded string) and a
// ReaderAt over the same file for metadata reads. Reading scattered metadata
// (zip local headers, legacy storage counts) through the map would fault in a
// whole page-cache folio per read — up to hundreds of kilobytes each on
// kernels with large folios, about 100 MB of RSS for a 1.4 GB torch zip —
// while pread copies just the bytes asked for.
type mapped struct {
	data  []byte
	ra    io.ReaderAt
	close func() error
}

// A parser turns one mapped weights file into tensors aliasing it.
type parser func(file string, m mapped) ([]*Tensor, error)

func parseSafetensorsMapped(file string, m mapped) ([]*Tensor, error) {
	ts, _, err := ParseSafetensors(file, m.data)
	return ts, err
}

func parseTorchMapped(file string, m mapped) ([]*Tensor, error) {
	return parseTorch(file, m.data, m.ra)
}

// openShard maps one weights file and adds its tensors. With want non-nil
// (sharded checkpoints) only the tensors the index assigns to this shard are
// taken, and each of them must be present.
func (c *Checkpoint) openShard(src source, name string, parse parser, want map[string]bool) error {
	m, err := src.mapFile(name)
	if err != nil {
		return fileErr(src.show(name), err)
	}
	c.mu.Lock()
	c.closers = append(c.closers, m.close)
	c.regions = append(c.regions, region{file: src.show(name), data: m.data, ra: m.ra})
	c.mu.Unlock()
	ts, err := parse(src.show(name), m)
	if err != nil {
		return err
	}
	got := 0
	for _, t := range ts {
		if want != nil && !want[t.Name] {
			continue // stored here but the index points elsewhere: the index wins
		}
		if _, dup := c.tensors[t.Name]; dup {
			return fault(src.show(name), t.Name, ErrMalformed, "stored twice")
		}
		c.tensors[t.Name] = t
		got++
	}
	if want != nil && got != len(want) {
		for n := range want {
			if _, ok := c.tensors[n]; !ok {
				return fault(src.show(name), n, ErrMalformed, "listed in the index for this shard but not stored in it")
			}
		}
	}
	return nil
}

func (c *Checkpoint) openSharded(src source, indexName string, parse parser) error {
	data, err := readLimited(src.files, indexName, MaxIndex)
	if err != nil {
		return fileErr(src.show(indexName), err)
	}
	idx, err := ParseIndex(src.show(indexName), data)
	if err != nil {
		return err
	}
	dir := path.Dir(indexName)
	per := make(map[string]map[string]bool, len(idx.Shards))
	for t, s := range idx.WeightMap {
		if per[s] == nil {
			per[s] = make(map[string]bool)
		}
		per[s][t] = true
	}
	for _, s := range idx.Shards {
		if err := c.openShard(src, path.Join(dir, s), parse, per[s]); err != nil {
			return err
		}
	}
	c.format = fmt.Sprintf("%s, %d shards", c.format, len(idx.Shards))
	return nil
}

// fileErr reports a file that could not be read, without repeating its path
// (fs errors carry the path too).
func fileErr(file string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if errors.Is(err, fs.ErrNotExist) {
		return &FileError{File: file, Err: fmt.Errorf("missing file: %w", err)}
	}
	return &FileError{File: file, Err: err}
}

// readLimited reads a small file, refusing one larger than limit before
// reading it.
func readLimited(fsys fs.FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > limit {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d accepted", ErrMalformed, st.Size(), limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: more than the %d bytes accepted", ErrMalformed, limit)
	}
	return b, nil
}

// Load opens the checkpoint a researcher names:
//
//   - "" — the embedded tiny Polish GPT-2 (see OpenEmbedded); no disk or
//     network access. "tiny-pl-gpt2" and "tiny-pl-llama" (or "embedded:"
//     and the name) name the embedded models (see Embedded), unless a local
//     directory has that name.
//   - a local directory — a path that exists, or any name starting with
//     "/", "./", "../" or "~/" (see Open).
//   - a Hugging Face hub id, "owner/model" or "owner/model@revision" — found
//     in, or downloaded into, the shared Hugging Face cache (see the package
//     documentation for the environment variables honoured and the Options).
func Load(ctx context.Context, name string, opts ...Option) (*Checkpoint, error) {
	if name == "" {
		return OpenEmbedded()
	}
	if strings.HasPrefix(name, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %s: %w", name, err)
		}
		name = filepath.Join(home, name[2:])
	}
	if filepath.IsAbs(name) || strings.HasPrefix(name, "./") || strings.HasPrefix(name, "../") || name == "." || name == ".." {
		return Open(name)
	}
	if st, err := os.Stat(name); err == nil && st.IsDir() {
		return Open(name)
	}
	if _, ok := embeddedWeights[strings.TrimPrefix(name, "embedded:")]; ok {
		return OpenEmbeddedModel(name)
	}
	return loadHub(ctx, name, opts...)
}

// ID identifies the weights for notes and evidence: "owner/model@commit" for
// a hub model, the absolute directory for a local one, and
// "embedded:tiny-pl-gpt2" for the embedded model.
func (c *Checkpoint) ID() string { return c.id }

// Name is a short name for messages: "tiny-pl-gpt2", the directory's base
// name, or the hub id without revision.
func (c *Checkpoint) Name() string { return c.name }

// Dir is the directory the files are in ("" for the embedded model; see
// EmbeddedDir for an on-disk copy).
func (c *Checkpoint) Dir() string { return c.dir }

// Format describes the weights file layout, e.g. "safetensors",
// "safetensors (sharded), 3 shards" or "pytorch".
func (c *Checkpoint) Format() string { return c.format }

// Config returns the parsed config.json.
func (c *Checkpoint) Config() *Config { return c.config }

// Files returns the checkpoint's files, for readers of the small ones
// (tokenizer.json, vocab.json, merges.txt, tokenizer_config.json,
// generation_config.json). For the embedded model it holds only those small
// files; the weights are reached through Tensor.
func (c *Checkpoint) Files() fs.FS { return c.files }

// Names returns the tensor names, sorted.
func (c *Checkpoint) Names() []string { return slices.Clone(c.names) }

// Lookup returns the named tensor, or false.
func (c *Checkpoint) Lookup(name string) (*Tensor, bool) {
	t, ok := c.tensors[name]
	return t, ok
}

// Tensor returns the named tensor, or an error naming the tensor and the
// checkpoint.
func (c *Checkpoint) Tensor(name string) (*Tensor, error) {
	if t, ok := c.tensors[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("checkpoint: %s has no tensor %q (%d tensors)", c.id, name, len(c.tensors))
}

// Close unmaps the checkpoint's files. It is safe to call more than once.
func (c *Checkpoint) Close() error {
	c.mu.Lock()
	closers := c.closers
	c.closers, c.regions = nil, nil
	c.mu.Unlock()
	var errs []error
	for _, f := range closers {
		errs = append(errs, f())
	}
	return errors.Join(errs...)
}

// String describes the checkpoint: id, format and size.
func (c *Checkpoint) String() string {
	return fmt.Sprintf("%s (%s, %d tensors)", c.id, c.format, len(c.tensors))
}
