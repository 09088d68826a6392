// Package synth writes GPT-2-shaped checkpoints in the Hugging Face layout,
// for tests and benchmarks that need a model of a given size, dtype, naming
// convention or file format without downloading one.
//
// Write streams tensors to disk one at a time (random tensors in chunks), so
// a 1.4 GB GPT-2-medium-shaped checkpoint is written with a few megabytes of
// memory. Values are a pure function of (Seed, canonical tensor name), never
// of the format, dtype, naming or sharding, so two checkpoints written with
// different Options but the same Seed hold the same numbers (up to dtype
// rounding) — which is what lets tests compare every variant against one
// reference. A Fill hook replaces the random values, for planting circuits or
// shaping spectra.
//
// Canonical names are transformers' GPT-2 names without the "transformer."
// prefix: "wte.weight", "h.3.mlp.c_fc.weight", "ln_f.bias", and
// "lm_head.weight" for an untied head.
//
// WriteFamily (family.go) does the same for the decoder families —
// llama, mistral, qwen2, qwen3, gemma, gemma2, gemma3_text, gemma3 and
// gpt_neox — in transformers' exact names and layouts, and returns the stored
// values in mathematical form (Raw: per-head W_Q, W_K, W_V, W_O, neuron reads
// and values, effective norm gains) for tests that compute views and forward
// passes by an independent path.
package synth

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"lenskit.dev/lenskit/checkpoint"
)

// Shape is a GPT-2 architecture.
type Shape struct {
	Layers, Heads, DModel, DFF, Vocab, Positions int
}

// Tiny is small enough to write dozens of variants in a test.
var Tiny = Shape{Layers: 2, Heads: 2, DModel: 8, DFF: 32, Vocab: 300, Positions: 16}

// Medium is GPT-2 medium's shape with a 51,200-token vocabulary (about 1.4 GB
// as F32), the size the loader's memory and time budgets are stated for.
var Medium = Shape{Layers: 24, Heads: 16, DModel: 1024, DFF: 4096, Vocab: 51200, Positions: 1024}

// LMHead says how the output embedding is stored.
type LMHead int

const (
	// LMHeadAbsent: tied (tie_word_embeddings true), no lm_head.weight
	// stored — what save_pretrained writes to safetensors.
	LMHeadAbsent LMHead = iota
	// LMHeadTiedCopy: tied, and lm_head.weight stored with the same values
	// (in a torch file it shares wte's storage, as torch.save writes tied
	// parameters).
	LMHeadTiedCopy
	// LMHeadUntied: tie_word_embeddings false and an lm_head.weight of its
	// own.
	LMHeadUntied
)

// Naming selects the tensor naming variant.
type Naming struct {
	Prefix  bool   // "transformer." before every transformer tensor (GPT2LMHeadModel)
	LMHead  LMHead // how the output embedding is stored
	Buffers bool   // also store h.L.attn.bias (U8 causal mask) and h.L.attn.masked_bias
}

// Format is the weights file format.
type Format int

const (
	Safetensors Format = iota // model.safetensors
	PyTorch                   // pytorch_model.bin, torch.save's zip layout
)

// Options describe the checkpoint to write. The zero value of every field
// but Shape is usable.
type Options struct {
	Shape
	DType  checkpoint.DType // F32 (default), F16, BF16 or F64
	Seed   uint64
	Naming Naming
	Format Format
	// Shards > 1 splits the tensors into that many files of similar size
	// plus an index (model.safetensors.index.json or
	// pytorch_model.bin.index.json).
	Shards int
	// Fill, when set, supplies the values of every parameter (not of the
	// buffers): name is canonical, dst has the tensor's element count in
	// row-major order and holds the default random values on entry, so a
	// hook may change only what it cares about. For a tied LMHeadTiedCopy
	// the head repeats wte's values.
	Fill func(name string, shape []int, dst []float32)
	// Tokenizer also writes a synthetic byte-level BPE vocabulary
	// (vocab.json, merges.txt, tokenizer.json, tokenizer_config.json) of
	// exactly Shape.Vocab entries; it needs Vocab ≥ 257.
	Tokenizer bool
	// ModelType is config.json's model_type, "gpt2" when empty.
	ModelType string
}

// A Spec is one tensor of a synthesized checkpoint.
type Spec struct {
	Name  string // canonical name (no prefix)
	Shape []int
	DType checkpoint.DType // as stored
	// Parameter is false for the buffers.
	Parameter bool
}

// Specs lists the tensors Write stores for o, in file order.
func Specs(o Options) []Spec {
	s, dt := o.Shape, o.dtype()
	d, ff := s.DModel, s.DFF
	p := func(name string, shape ...int) Spec { return Spec{name, shape, dt, true} }
	out := []Spec{p("wte.weight", s.Vocab, d), p("wpe.weight", s.Positions, d)}
	for l := range s.Layers {
		h := fmt.Sprintf("h.%d.", l)
		out = append(out,
			p(h+"ln_1.weight", d), p(h+"ln_1.bias", d),
			p(h+"attn.c_attn.weight", d, 3*d), p(h+"attn.c_attn.bias", 3*d),
			p(h+"attn.c_proj.weight", d, d), p(h+"attn.c_proj.bias", d),
			p(h+"ln_2.weight", d), p(h+"ln_2.bias", d),
			p(h+"mlp.c_fc.weight", d, ff), p(h+"mlp.c_fc.bias", ff),
			p(h+"mlp.c_proj.weight", ff, d), p(h+"mlp.c_proj.bias", d),
		)
		if o.Naming.Buffers {
			out = append(out,
				Spec{h + "attn.bias", []int{1, 1, s.Positions, s.Positions}, checkpoint.U8, false},
				Spec{h + "attn.masked_bias", []int{}, checkpoint.F32, false})
		}
	}
	out = append(out, p("ln_f.weight", d), p("ln_f.bias", d))
	if o.Naming.LMHead != LMHeadAbsent {
		out = append(out, p("lm_head.weight", s.Vocab, d))
	}
	return out
}

func (o Options) dtype() checkpoint.DType {
	if o.DType == "" {
		return checkpoint.F32
	}
	return o.DType
}

// StoredName is the name Write gives a canonical tensor under o's naming.
func (o Options) StoredName(canonical string) string {
	if o.Naming.Prefix && canonical != "lm_head.weight" {
		return "transformer." + canonical
	}
	return canonical
}

// Values returns the float32 values Write stores for the canonical tensor
// name before dtype rounding: the Fill hook's output, or the default random
// values. Tests use it as the reference every variant is compared with.
func Values(o Options, name string, shape []int) []float32 {
	n := 1
	for _, d := range shape {
		n *= d
	}
	dst := make([]float32, n)
	src := name
	if name == "lm_head.weight" && o.Naming.LMHead == LMHeadTiedCopy {
		src = "wte.weight"
	}
	r := newStream(o.Seed, src)
	r.fill(dst)
	if o.Fill != nil {
		o.Fill(src, shape, dst)
	}
	return dst
}

// stream generates the default values of one tensor: N(0, 0.02²) for
// weights and biases, 1 + N(0, 0.02²) for layer-norm gains, from a PCG seeded
// by Seed and the FNV hash of the name. Chunked calls to fill continue the
// same sequence.
type stream struct {
	rng    *rand.Rand
	offset float32
}

func newStream(seed uint64, name string) *stream {
	h := fnv.New64a()
	h.Write([]byte(name))
	s := &stream{rng: rand.New(rand.NewPCG(seed, h.Sum64()))}
	if isGain(name) {
		s.offset = 1
	}
	return s
}

func isGain(name string) bool {
	return name == "ln_f.weight" || (len(name) > 11 && (name[len(name)-11:] == "ln_1.weight" || name[len(name)-11:] == "ln_2.weight"))
}

func (s *stream) fill(dst []float32) {
	for i := range dst {
		dst[i] = s.offset + float32(s.rng.NormFloat64()*0.02)
	}
}

// Write writes config.json and the weights (and, with o.Tokenizer, the tokenizer
// files) into dir, creating it if needed.
func Write(dir string, o Options) error {
	if err := o.validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	if err := writeConfig(dir, o); err != nil {
		return err
	}
	if o.Tokenizer {
		if err := WriteTokenizer(dir, o.Vocab); err != nil {
			return err
		}
	}
	specs := Specs(o)
	groups := shard(specs, o.Shards)
	var names []string
	for i, g := range groups {
		var file string
		switch {
		case len(groups) == 1 && o.Format == Safetensors:
			file = checkpoint.SafetensorsFile
		case len(groups) == 1:
			file = checkpoint.TorchFile
		case o.Format == Safetensors:
			file = fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(groups))
		default:
			file = fmt.Sprintf("pytorch_model-%05d-of-%05d.bin", i+1, len(groups))
		}
		names = append(names, file)
		var err error
		if o.Format == Safetensors {
			err = writeSafetensors(filepath.Join(dir, file), o, g)
		} else {
			err = writeTorch(filepath.Join(dir, file), o, g)
		}
		if err != nil {
			return err
		}
	}
	if len(groups) > 1 {
		return writeIndex(dir, o, groups, names)
	}
	return nil
}

func (o Options) validate() error {
	s := o.Shape
	if s.Layers <= 0 || s.Heads <= 0 || s.DModel <= 0 || s.DFF <= 0 || s.Vocab <= 0 || s.Positions <= 0 {
		return fmt.Errorf("synth: every dimension must be positive: %+v", s)
	}
	if s.DModel%s.Heads != 0 {
		return fmt.Errorf("synth: d_model %d is not a multiple of %d heads", s.DModel, s.Heads)
	}
	switch o.dtype() {
	case checkpoint.F32, checkpoint.F16, checkpoint.BF16, checkpoint.F64:
	default:
		return fmt.Errorf("synth: dtype %s: want F32, F16, BF16 or F64", o.DType)
	}
	if o.Tokenizer && s.Vocab < 257 {
		return fmt.Errorf("synth: a byte-level vocabulary needs at least 257 entries, not %d", s.Vocab)
	}
	return nil
}

func writeConfig(dir string, o Options) error {
	mt := o.ModelType
	if mt == "" {
		mt = "gpt2"
	}
	cfg := map[string]any{
		"architectures":        []string{"GPT2LMHeadModel"},
		"model_type":           mt,
		"activation_function":  "gelu_new",
		"layer_norm_epsilon":   1e-5,
		"n_layer":              o.Layers,
		"n_head":               o.Heads,
		"n_embd":               o.DModel,
		"n_inner":              o.DFF,
		"vocab_size":           o.Vocab,
		"n_positions":          o.Positions,
		"n_ctx":                o.Positions,
		"tie_word_embeddings":  o.Naming.LMHead != LMHeadUntied,
		"bos_token_id":         o.Vocab - 1,
		"eos_token_id":         o.Vocab - 1,
		"torch_dtype":          map[checkpoint.DType]string{checkpoint.F32: "float32", checkpoint.F16: "float16", checkpoint.BF16: "bfloat16", checkpoint.F64: "float64"}[o.dtype()],
		"lenskit_synth_seed":   o.Seed,
		"lenskit_synth_naming": fmt.Sprintf("%+v", o.Naming),
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, checkpoint.ConfigFile), append(b, '\n'), 0o644)
}

// shard splits specs into n consecutive groups of about equal byte size.
func shard(specs []Spec, n int) [][]Spec {
	if n <= 1 {
		return [][]Spec{specs}
	}
	if n > len(specs) {
		n = len(specs)
	}
	var total int64
	for _, s := range specs {
		total += bytesOf(s)
	}
	groups := make([][]Spec, 0, n)
	var cur []Spec
	var acc int64
	for i, s := range specs {
		cur = append(cur, s)
		acc += bytesOf(s)
		left := len(specs) - i - 1
		needGroups := n - len(groups) - 1
		if needGroups > 0 && (acc*int64(n) >= total*int64(len(groups)+1) || left == needGroups) {
			groups = append(groups, cur)
			cur = nil
		}
	}
	return append(groups, cur)
}

func bytesOf(s Spec) int64 {
	n := int64(s.DType.Size())
	for _, d := range s.Shape {
		n *= int64(d)
	}
	return n
}

func writeIndex(dir string, o Options, groups [][]Spec, files []string) error {
	wm := make(map[string]string)
	var total int64
	for i, g := range groups {
		for _, s := range g {
			wm[o.StoredName(s.Name)] = files[i]
			total += bytesOf(s)
		}
	}
	b, err := json.MarshalIndent(map[string]any{"metadata": map[string]any{"total_size": total}, "weight_map": wm}, "", "  ")
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	name := checkpoint.SafetensorsIndexFile
	if o.Format == PyTorch {
		name = checkpoint.TorchIndexFile
	}
	return os.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o644)
}

// chunk is how many elements are generated and encoded at a time when no
// Fill hook needs the whole tensor.
const chunk = 1 << 16

// emit writes the stored bytes of one tensor to w.
func emit(w *bufio.Writer, o Options, s Spec) error {
	if !s.Parameter {
		return emitBuffer(w, o, s)
	}
	if o.Fill != nil {
		return encode(w, s.DType, Values(o, s.Name, s.Shape))
	}
	src := s.Name
	if s.Name == "lm_head.weight" && o.Naming.LMHead == LMHeadTiedCopy {
		src = "wte.weight"
	}
	r := newStream(o.Seed, src)
	buf := make([]float32, chunk)
	for left := int(bytesOf(s)) / s.DType.Size(); left > 0; {
		n := min(left, chunk)
		r.fill(buf[:n])
		if err := encode(w, s.DType, buf[:n]); err != nil {
			return err
		}
		left -= n
	}
	return nil
}

func emitBuffer(w *bufio.Writer, o Options, s Spec) error {
	if s.DType == checkpoint.F32 { // masked_bias, a scalar
		return encode(w, checkpoint.F32, []float32{-1e4})
	}
	p := o.Positions // causal mask: row i has ones in columns 0..i
	row := make([]byte, p)
	for i := range p {
		row[i] = 1
		if _, err := w.Write(row); err != nil {
			return err
		}
	}
	return nil
}

func encode(w *bufio.Writer, dt checkpoint.DType, v []float32) error {
	var b [8]byte
	for _, x := range v {
		var n int
		switch dt {
		case checkpoint.F32:
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
			n = 4
		case checkpoint.F16:
			binary.LittleEndian.PutUint16(b[:], checkpoint.F32ToF16(x))
			n = 2
		case checkpoint.BF16:
			binary.LittleEndian.PutUint16(b[:], checkpoint.F32ToBF16(x))
			n = 2
		case checkpoint.F64:
			binary.LittleEndian.PutUint64(b[:], math.Float64bits(float64(x)))
			n = 8
		}
		if _, err := w.Write(b[:n]); err != nil {
			return err
		}
	}
	return nil
}
