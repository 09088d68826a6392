// Package lenskit reads a transformer language model's weights in
// vocabulary space (Dar, Geva, Gupta and Berant 2022, "Analyzing Transformers
// in Embedding Space"): what an MLP neuron reads and writes, which token
// pairs an attention head maps to each other, and a record of what a
// researcher concluded.
//
// It is the facade notebooks and the lenskit command use; the pipeline
// behind it is one package per step:
//
//	checkpoint → weights → vocab → project → view → notes
//
// A notebook session reads like this:
//
//	m := lenskit.Open("")                       // the embedded tiny Polish GPT-2
//	lens := m.Lens(lenskit.Alnum())             // Unicode letters and digits only
//	lens.Neuron(2, 345).Top(30).Show()          // K | V | −K | −V
//	lens.OV(2, 4).Top(50).Show()                // source → target pairs, shaded
//	lens.OV(2, 4).Top(20).Heatmap().Show()      // source × target heatmap
//
// Errors are values. Open never fails outright: a model that could not be
// loaded carries its error, every query made from it carries it too, and
// Show renders it in place of the result — so a notebook cell never panics
// and the message names what went wrong. Programs that prefer the usual
// style call Load and check Err on results.
package lenskit

import (
	"context"
	"fmt"
	"os"
	"sync"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/vocab"
	"lenskit.dev/lenskit/weights"
)

// Model is a loaded model: its weights, its vocabulary and its vocabulary
// space.
type Model struct {
	Weights *weights.Model
	Vocab   *vocab.Vocab
	Space   *project.Space // raw weights; see Lens for processed ones

	err error

	spacesMu sync.Mutex
	spaces   map[project.Processing]*project.Space

	listsMu sync.Mutex
	lists   map[string]*vocab.TokenList

	vocabHashOnce sync.Once
	vocabHash     string

	text textState // the forward pass, made on first use (ontext.go)
}

// LoadOption configures Load.
type LoadOption func(*loadOptions)

type loadOptions struct {
	engine   project.Engine
	hub      []checkpoint.Option
	progress bool
}

// WithEngine selects the engine for the dense products (default: XLA CUDA
// when a PJRT CUDA plugin is installed, else lenskit's CPU engine).
func WithEngine(e project.Engine) LoadOption { return func(o *loadOptions) { o.engine = e } }

// WithHub passes options to the hub loader (offline mode, cache directory,
// token, progress; see package checkpoint).
func WithHub(opts ...checkpoint.Option) LoadOption {
	return func(o *loadOptions) { o.hub = append(o.hub, opts...) }
}

// Load loads the model a researcher names: "" for the embedded tiny Polish
// GPT-2, a local directory, or a Hugging Face hub id such as
// "sdadas/polish-gpt2-medium" (optionally "@revision"), downloaded into the
// shared Hugging Face cache with progress on standard error.
func Load(name string, opts ...LoadOption) (*Model, error) {
	var o loadOptions
	for _, f := range opts {
		f(&o)
	}
	hubOpts := append([]checkpoint.Option{checkpoint.WithProgress(checkpoint.TextProgress(os.Stderr)),
		checkpoint.WithLockWait(func(msg string) { fmt.Fprintln(os.Stderr, msg) })}, o.hub...)
	ck, err := checkpoint.Load(context.Background(), name, hubOpts...)
	if err != nil {
		return nil, err
	}
	m, err := weights.FromCheckpoint(ck)
	if err != nil {
		ck.Close()
		return nil, err
	}
	// The tokenizer is read knowing the embedding's size, so that a
	// vocabulary larger than it is refused at its first extra entry
	// instead of after parsing the whole file.
	v, err := vocab.LoadOptions{MaxTokens: m.Arch().Vocab}.Load(ck.Files())
	if err != nil {
		ck.Close()
		return nil, fmt.Errorf("lenskit: %s: %w", ck.Name(), err)
	}
	// A padded embedding (more rows than tokens) is normal — Qwen, Gemma
	// and many fine-tunes pad to a multiple of 64 or 128 — and its unused
	// rows take part in no view; a tokenizer with ids beyond the embedding
	// cannot be read through it.
	if a := m.Arch(); v.Len() > a.Vocab {
		ck.Close()
		return nil, &VocabSizeError{Model: ck.Name(), Tokenizer: v.Len(), Embedding: a.Vocab}
	}
	eng := o.engine
	if eng == nil {
		if eng, err = defaultEngine(); err != nil {
			ck.Close()
			return nil, err
		}
	}
	sp, err := project.NewSpace(m, eng, project.Tokens(v.Len()))
	if err != nil {
		ck.Close()
		return nil, err
	}
	return &Model{Weights: m, Vocab: v, Space: sp, lists: map[string]*vocab.TokenList{},
		spaces: map[project.Processing]*project.Space{{}: sp}}, nil
}

// VocabSizeError reports a tokenizer whose vocabulary does not match the
// embedding's rows: every token id must name exactly one row of E.
type VocabSizeError struct {
	Model                string
	Tokenizer, Embedding int
}

func (e *VocabSizeError) Error() string {
	return fmt.Sprintf("lenskit: %s: the tokenizer has %d tokens, more than the embedding's %d rows: token ids %d and up have no embedding",
		e.Model, e.Tokenizer, e.Embedding, e.Embedding)
}

// PaddedRows returns the embedding rows no token uses (rows beyond the
// tokenizer's size), which take part in no view.
func (m *Model) PaddedRows() int {
	if m.err != nil {
		return 0
	}
	return m.Arch().Vocab - m.Vocab.Len()
}

// space returns the vocabulary space with weight processing p, made on
// first use.
func (m *Model) space(p project.Processing) (*project.Space, error) {
	m.spacesMu.Lock()
	defer m.spacesMu.Unlock()
	if sp, ok := m.spaces[p]; ok {
		return sp, nil
	}
	sp, err := project.NewSpace(m.Weights, m.Space.Engine, project.Tokens(m.Vocab.Len()), project.WithProcessing(p))
	if err != nil {
		return nil, err
	}
	m.spaces[p] = sp
	return sp, nil
}

// Open is Load for notebooks: it never returns nil. A model that failed to
// load reports the failure from Err, and every query made from it carries
// the error to its result, where Show displays it.
func Open(name string, opts ...LoadOption) *Model {
	m, err := Load(name, opts...)
	if err != nil {
		return &Model{err: err}
	}
	return m
}

// Err reports why the model could not be loaded, or nil.
func (m *Model) Err() error { return m.err }

// Arch returns the model's shape (zero if it failed to load).
func (m *Model) Arch() weights.Arch {
	if m.err != nil {
		return weights.Arch{}
	}
	return m.Weights.Arch()
}

// ID identifies the weights: "owner/model@commit", a directory, or
// "embedded:tiny-pl-gpt2".
func (m *Model) ID() string {
	if m.err != nil {
		return ""
	}
	return m.Weights.ID()
}

// Close releases the model's memory-mapped files. Results already computed
// stay valid; views and lenses of a closed model must not be used.
func (m *Model) Close() error {
	if m.err != nil {
		return nil
	}
	m.text.close()
	return m.Weights.Close()
}

// String describes the model.
func (m *Model) String() string {
	if m.err != nil {
		return "lenskit model (failed: " + m.err.Error() + ")"
	}
	return fmt.Sprintf("%s (%v, engine %s)", m.Weights.ID(), m.Weights.Arch(), m.Space.Engine.Name())
}
