package lenskit

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"lenskit.dev/lenskit/weights"
)

// Info describes a model the way `lenskit info` prints it: its family, its
// shape, the equations that differ between families, and its tokenizer.
// The JSON field names are a contract scripts depend on.
type Info struct {
	ID            string      `json:"id"`
	ModelType     string      `json:"model_type"`
	Layers        int         `json:"layers"`
	Heads         int         `json:"heads"`
	KVHeads       int         `json:"kv_heads"`
	DModel        int         `json:"d_model"`
	DHead         int         `json:"d_head"`
	DFF           int         `json:"d_ff"`
	Vocab         int         `json:"vocab"`          // tokenizer size: highest id + 1
	EmbeddingRows int         `json:"embedding_rows"` // may exceed vocab: padding rows take part in no view
	Tied          bool        `json:"tied"`
	Rotary        *RotaryInfo `json:"rotary"` // null for learned positions
	QKNorm        bool        `json:"qk_norm"`
	MLP           string      `json:"mlp"` // "gelu" (plain) or "gated"
	Activation    string      `json:"activation"`
	Norm          string      `json:"norm"` // "layernorm" or "rmsnorm"
	NormEps       float64     `json:"norm_eps"`
	DType         string      `json:"dtype"`
	Tokenizer     string      `json:"tokenizer"` // "byte-level" or "sentencepiece"
	Positions     int         `json:"positions"`
	SlidingWindow int         `json:"sliding_window,omitempty"`
	Defaults      []string    `json:"defaults"` // config.json fields filled with the family's defaults
}

// RotaryInfo is the rotary embedding of Info.
type RotaryInfo struct {
	Theta      float64  `json:"theta"`
	LocalTheta *float64 `json:"local_theta,omitempty"` // sliding-window layers' base (Gemma 3)
	Fraction   float64  `json:"fraction"`
	Dims       int      `json:"dims"`
	Scaling    string   `json:"scaling,omitempty"` // rope_scaling type with its parameters
}

// Info describes the model (zero if it failed to load).
func (m *Model) Info() Info {
	if m.err != nil {
		return Info{}
	}
	a := m.Arch()
	in := Info{
		ID: m.ID(), ModelType: a.ModelType, Layers: a.Layers, Heads: a.Heads, KVHeads: a.KVHeads,
		DModel: a.DModel, DHead: a.DHead, DFF: a.DFF, Vocab: m.Vocab.Len(), EmbeddingRows: a.Vocab,
		Tied: a.Tied, QKNorm: a.QKNorm, MLP: string(a.MLP), Activation: a.Activation, Norm: string(a.Norm),
		NormEps: a.NormEps, DType: a.DType, Tokenizer: m.Vocab.Kind(), Positions: a.Positions,
		SlidingWindow: a.SlidingWindow, Defaults: append([]string{}, a.Defaults...),
	}
	if r := a.Rotary; r != nil {
		ri := &RotaryInfo{Theta: r.Theta, Fraction: r.Fraction, Dims: r.Dims, Scaling: scalingText(r.Scaling)}
		if r.LocalTheta > 0 {
			lt := r.LocalTheta
			ri.LocalTheta = &lt
		}
		in.Rotary = ri
	}
	return in
}

func scalingText(s *weights.RopeScaling) string {
	if s == nil {
		return ""
	}
	t := fmt.Sprintf("%s ×%g", s.Type, s.Factor)
	switch s.Type {
	case "llama3":
		t += fmt.Sprintf(" (low %g, high %g, original %d)", s.LowFreqFactor, s.HighFreqFactor, s.OriginalMaxPositions)
	case "yarn":
		t += fmt.Sprintf(" (β fast %g, slow %g, original %d)", s.BetaFast, s.BetaSlow, s.OriginalMaxPositions)
	}
	return t
}

// String is the aligned text `lenskit info` prints.
func (in Info) String() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	row := func(k string, format string, args ...any) {
		fmt.Fprintf(w, "%s\t"+format+"\n", append([]any{k}, args...)...)
	}
	row("model", "%s", in.ID)
	row("family", "%s", in.ModelType)
	row("layers", "%d", in.Layers)
	if in.KVHeads != in.Heads {
		row("heads", "%d query heads, %d KV heads (grouped-query attention: %d query heads per KV head)", in.Heads, in.KVHeads, in.Heads/max(in.KVHeads, 1))
	} else {
		row("heads", "%d", in.Heads)
	}
	row("d_model, d_head, d_ff", "%d, %d, %d", in.DModel, in.DHead, in.DFF)
	mlp := "plain (K, V)"
	if in.MLP == string(weights.MLPGated) {
		mlp = "gated (gate, up, V)"
	}
	row("MLP", "%s, %s", mlp, in.Activation)
	row("norm", "%s, eps %g", in.Norm, in.NormEps)
	if r := in.Rotary; r != nil {
		s := fmt.Sprintf("RoPE θ %g, %d of %d dims (fraction %g)", r.Theta, r.Dims, in.DHead, r.Fraction)
		if r.LocalTheta != nil {
			s += fmt.Sprintf(", sliding-window layers θ %g", *r.LocalTheta)
		}
		if r.Scaling != "" {
			s += ", scaling " + r.Scaling
		}
		row("positions", "%s, context %d", s, in.Positions)
	} else {
		row("positions", "learned (%d), no query–key offset", in.Positions)
	}
	if in.SlidingWindow > 0 {
		row("sliding window", "%d tokens", in.SlidingWindow)
	}
	row("QK-norm", "%v", in.QKNorm)
	tied := "untied (W_E and W_U differ)"
	if in.Tied {
		tied = "tied (W_U = W_E)"
	}
	row("embeddings", "%s, %s", tied, in.DType)
	row("tokenizer", "%s, %d tokens", in.Tokenizer, in.Vocab)
	if pad := in.EmbeddingRows - in.Vocab; pad > 0 {
		row("padding", "%d embedding rows beyond the tokenizer (%d rows): excluded from every view", pad, in.EmbeddingRows)
	}
	if len(in.Defaults) > 0 {
		row("defaults applied", "%s", strings.Join(in.Defaults, ", "))
	}
	w.Flush()
	return b.String()
}
