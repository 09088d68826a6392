package forward

// A float64 forward pass written directly from the families' equations and
// reading raw tensors by their Hugging Face names — an independent path
// from the weights package's adapters (no transposes, head gathering or KV
// grouping are shared). Each step names the line of transformers' modeling
// file it follows.

import (
	"fmt"
	"math"
	"testing"
)

// refConfig is what the reference needs of a config.json, read by the
// tests themselves.
type refConfig struct {
	family     string // "gpt2" or "decoder" (Llama-style: llama, mistral, qwen2, qwen3, gemma*)
	layers     int
	heads      int
	kvHeads    int
	dModel     int
	dHead      int
	vocab      int
	eps        float64
	act        string
	tied       bool
	prefix     string // "transformer." or "model."
	theta      float64
	localTheta float64 // sliding layers' rope base (Gemma 3); 0 = theta
	rotDims    int     // rotated coordinates per head (0 = dHead)

	qkNorm       bool
	gemmaNorm    bool    // RMSNorm weights stored as γ − 1
	embedScale   float64 // 0 = 1
	attnScale    float64 // 0 = 1/√dHead
	attnSoftcap  float64
	finalSoftcap float64
	sandwich     bool
	sliding      []bool // per layer
	window       int
	parallel     bool // GPT-NeoX style x + attn(ln1 x) + mlp(ln2 x)
	biases       bool // q/k/v (and o for gpt2) biases present
}

// rawGetter returns a tensor's values as float64 and its shape, by name.
type rawGetter func(name string) ([]float64, []int)

// refForward returns the logits (T × V) and the residual rows (1 + 2L, each
// T × d) for ids.
func refForward(t testing.TB, c refConfig, get rawGetter, ids []int) (logits [][]float64, rows [][][]float64) {
	t.Helper()
	T, d := len(ids), c.dModel
	x := make([][]float64, T)
	if c.family == "gpt2" {
		// modeling_gpt2.py GPT2Model.forward: inputs_embeds + position_embeds.
		wte, _ := get(c.prefix + "wte.weight")
		wpe, _ := get(c.prefix + "wpe.weight")
		for p, id := range ids {
			x[p] = make([]float64, d)
			for i := range d {
				x[p][i] = wte[id*d+i] + wpe[p*d+i]
			}
		}
	} else {
		// LlamaModel.forward: inputs_embeds = embed_tokens(input_ids);
		// GemmaModel: hidden_states = inputs_embeds * normalizer (√d).
		e, _ := get(c.prefix + "embed_tokens.weight")
		s := c.embedScale
		if s == 0 {
			s = 1
		}
		for p, id := range ids {
			x[p] = make([]float64, d)
			for i := range d {
				x[p][i] = e[id*d+i] * s
			}
		}
	}
	snapshot := func() [][]float64 {
		out := make([][]float64, T)
		for p := range x {
			out[p] = append([]float64(nil), x[p]...)
		}
		return out
	}
	rows = append(rows, snapshot())
	for l := range c.layers {
		var attnOut, mlpIn [][]float64
		if c.family == "gpt2" {
			attnOut = refGPT2Attention(c, get, l, refLayerNorm(x, get, fmt.Sprintf("%sh.%d.ln_1", c.prefix, l), c.eps))
		} else {
			attnOut = refDecoderAttention(c, get, l, refRMS(x, get, fmt.Sprintf("%slayers.%d.input_layernorm.weight", c.prefix, l), c.eps, c.gemmaNorm))
			if c.sandwich {
				// Gemma2DecoderLayer: hidden_states = post_attention_layernorm(hidden_states)
				attnOut = refRMS(attnOut, get, fmt.Sprintf("%slayers.%d.post_attention_layernorm.weight", c.prefix, l), c.eps, c.gemmaNorm)
			}
		}
		after := addRows(x, attnOut)
		mlpIn = after
		if c.parallel {
			mlpIn = x
		}
		var mlpOut [][]float64
		if c.family == "gpt2" {
			mlpOut = refGPT2MLP(c, get, l, refLayerNorm(mlpIn, get, fmt.Sprintf("%sh.%d.ln_2", c.prefix, l), c.eps))
		} else {
			name := "post_attention_layernorm"
			if c.sandwich {
				name = "pre_feedforward_layernorm"
			}
			mlpOut = refGatedMLP(c, get, l, refRMS(mlpIn, get, fmt.Sprintf("%slayers.%d.%s.weight", c.prefix, l, name), c.eps, c.gemmaNorm))
			if c.sandwich {
				mlpOut = refRMS(mlpOut, get, fmt.Sprintf("%slayers.%d.post_feedforward_layernorm.weight", c.prefix, l), c.eps, c.gemmaNorm)
			}
		}
		x = after
		rows = append(rows, snapshot())
		x = addRows(x, mlpOut)
		rows = append(rows, snapshot())
	}
	var final [][]float64
	var u []float64
	if c.family == "gpt2" {
		final = refLayerNorm(x, get, c.prefix+"ln_f", c.eps)
		u, _ = get(c.prefix + "wte.weight")
		if !c.tied {
			u, _ = get("lm_head.weight")
		}
	} else {
		final = refRMS(x, get, c.prefix+"norm.weight", c.eps, c.gemmaNorm)
		u, _ = get(c.prefix + "embed_tokens.weight")
		if !c.tied {
			u, _ = get("lm_head.weight")
		}
	}
	// lm_head: logits = hidden_states @ W_Uᵀ; Gemma 2/3 then
	// logits = tanh(logits / cap) * cap.
	logits = make([][]float64, T)
	for p := range T {
		logits[p] = make([]float64, c.vocab)
		for v := range c.vocab {
			s := 0.0
			for i := range d {
				s += final[p][i] * u[v*d+i]
			}
			if c.finalSoftcap > 0 {
				s = c.finalSoftcap * math.Tanh(s/c.finalSoftcap)
			}
			logits[p][v] = s
		}
	}
	return logits, rows
}

func addRows(a, b [][]float64) [][]float64 {
	out := make([][]float64, len(a))
	for p := range a {
		out[p] = make([]float64, len(a[p]))
		for i := range a[p] {
			out[p][i] = a[p][i] + b[p][i]
		}
	}
	return out
}

// refLayerNorm is torch.nn.LayerNorm: (x − mean)/√(var + eps)·w + b with
// the biased variance.
func refLayerNorm(x [][]float64, get rawGetter, name string, eps float64) [][]float64 {
	w, _ := get(name + ".weight")
	b, _ := get(name + ".bias")
	out := make([][]float64, len(x))
	for p, r := range x {
		mean, v := 0.0, 0.0
		for _, e := range r {
			mean += e
		}
		mean /= float64(len(r))
		for _, e := range r {
			v += (e - mean) * (e - mean)
		}
		v /= float64(len(r))
		out[p] = make([]float64, len(r))
		for i, e := range r {
			out[p][i] = (e-mean)/math.Sqrt(v+eps)*w[i] + b[i]
		}
	}
	return out
}

// refRMS is LlamaRMSNorm (weight · x/√(mean(x²) + eps)) or GemmaRMSNorm
// (x/√(mean(x²) + eps) · (1 + weight)).
func refRMS(x [][]float64, get rawGetter, name string, eps float64, gemma bool) [][]float64 {
	w, _ := get(name)
	return rmsWith(x, w, eps, gemma)
}

func rmsWith(x [][]float64, w []float64, eps float64, gemma bool) [][]float64 {
	out := make([][]float64, len(x))
	for p, r := range x {
		ms := 0.0
		for _, e := range r {
			ms += e * e
		}
		ms /= float64(len(r))
		out[p] = make([]float64, len(r))
		for i, e := range r {
			g := w[i]
			if gemma {
				g = 1 + g
			}
			out[p][i] = e / math.Sqrt(ms+eps) * g
		}
	}
	return out
}

// refGPT2Attention follows GPT2Attention: query, key, value =
// c_attn(hidden).split(split_size, dim=2) (Conv1D: x·W + b); _split_heads;
// attn_weights = q·kᵀ / √d_head, causal mask, softmax; attn_output = A·v;
// _merge_heads; c_proj.
func refGPT2Attention(c refConfig, get rawGetter, l int, x [][]float64) [][]float64 {
	p := fmt.Sprintf("%sh.%d.attn.", c.prefix, l)
	w, _ := get(p + "c_attn.weight") // d × 3d
	b, _ := get(p + "c_attn.bias")
	ow, _ := get(p + "c_proj.weight") // d × d
	ob, _ := get(p + "c_proj.bias")
	d, H, dh, T := c.dModel, c.heads, c.dHead, len(x)
	qkv := make([][]float64, T)
	for t := range T {
		qkv[t] = make([]float64, 3*d)
		for j := range 3 * d {
			s := b[j]
			for i := range d {
				s += x[t][i] * w[i*3*d+j]
			}
			qkv[t][j] = s
		}
	}
	z := make([][]float64, T)
	for t := range T {
		z[t] = make([]float64, d)
	}
	scale := c.attnScale
	if scale == 0 {
		scale = 1 / math.Sqrt(float64(dh))
	}
	for h := range H {
		for q := range T {
			sc := make([]float64, q+1)
			for k := 0; k <= q; k++ {
				s := 0.0
				for i := range dh {
					s += qkv[q][h*dh+i] * qkv[k][d+h*dh+i]
				}
				sc[k] = s * scale
			}
			softmax(sc)
			for k, a := range sc {
				for i := range dh {
					z[q][h*dh+i] += a * qkv[k][2*d+h*dh+i]
				}
			}
		}
	}
	out := make([][]float64, T)
	for t := range T {
		out[t] = make([]float64, d)
		for j := range d {
			s := ob[j]
			for i := range d {
				s += z[t][i] * ow[i*d+j]
			}
			out[t][j] = s
		}
	}
	return out
}

// refGPT2MLP follows GPT2MLP: c_proj(act(c_fc(x))).
func refGPT2MLP(c refConfig, get rawGetter, l int, x [][]float64) [][]float64 {
	p := fmt.Sprintf("%sh.%d.mlp.", c.prefix, l)
	fw, fshape := get(p + "c_fc.weight") // d × ff
	fb, _ := get(p + "c_fc.bias")
	pw, _ := get(p + "c_proj.weight") // ff × d
	pb, _ := get(p + "c_proj.bias")
	d, ff := c.dModel, fshape[1]
	out := make([][]float64, len(x))
	for t, r := range x {
		h := make([]float64, ff)
		for j := range ff {
			s := fb[j]
			for i := range d {
				s += r[i] * fw[i*ff+j]
			}
			h[j] = refAct(c.act, s)
		}
		out[t] = make([]float64, d)
		for j := range d {
			s := pb[j]
			for i := range ff {
				s += h[i] * pw[i*d+j]
			}
			out[t][j] = s
		}
	}
	return out
}

// linear is nn.Linear: y = x·Wᵀ + b with W [out, in].
func linear(x []float64, w []float64, b []float64, out int) []float64 {
	in := len(x)
	y := make([]float64, out)
	for o := range out {
		s := 0.0
		if b != nil {
			s = b[o]
		}
		for i := range in {
			s += x[i] * w[o*in+i]
		}
		y[o] = s
	}
	return y
}

// refDecoderAttention follows LlamaAttention.forward (and Qwen3's,
// Gemma 2/3's): q/k/v_proj; .view(hidden_shape) per head; Qwen3/Gemma 3
// q_norm, k_norm per head; apply_rotary_pos_emb (q·cos + rotate_half(q)·sin,
// inv_freq = 1/θ^(2i/dim)); repeat_kv; scores·scaling; Gemma 2 softcap
// tanh(s/c)·c; causal (and sliding-window) mask; softmax; A·v; o_proj.
func refDecoderAttention(c refConfig, get rawGetter, l int, x [][]float64) [][]float64 {
	p := fmt.Sprintf("%slayers.%d.self_attn.", c.prefix, l)
	qw, _ := get(p + "q_proj.weight")
	kw, _ := get(p + "k_proj.weight")
	vw, _ := get(p + "v_proj.weight")
	ow, _ := get(p + "o_proj.weight")
	var qb, kb, vb, ob []float64
	if c.biases {
		qb, _ = get(p + "q_proj.bias")
		kb, _ = get(p + "k_proj.bias")
		vb, _ = get(p + "v_proj.bias")
	}
	H, G, dh, T, d := c.heads, c.kvHeads, c.dHead, len(x), c.dModel
	var qn, kn []float64
	if c.qkNorm {
		qn, _ = get(p + "q_norm.weight")
		kn, _ = get(p + "k_norm.weight")
	}
	theta := c.theta
	sliding := c.sliding != nil && c.sliding[l]
	if sliding && c.localTheta > 0 {
		theta = c.localTheta
	}
	dims := c.rotDims
	if dims == 0 {
		dims = dh
	}
	rope := func(v []float64, pos int) {
		half := dims / 2
		out := append([]float64(nil), v...)
		for i := range half {
			w := 1 / math.Pow(theta, float64(2*i)/float64(dims))
			cs, sn := math.Cos(float64(pos)*w), math.Sin(float64(pos)*w)
			out[i] = v[i]*cs - v[i+half]*sn
			out[i+half] = v[i+half]*cs + v[i]*sn
		}
		copy(v, out)
	}
	Q := make([][][]float64, T) // [t][h][dh]
	K := make([][][]float64, T)
	V := make([][][]float64, T)
	for t := range T {
		q := linear(x[t], qw, qb, H*dh)
		k := linear(x[t], kw, kb, G*dh)
		v := linear(x[t], vw, vb, G*dh)
		Q[t], K[t], V[t] = make([][]float64, H), make([][]float64, G), make([][]float64, G)
		for h := range H {
			Q[t][h] = q[h*dh : (h+1)*dh]
			if c.qkNorm {
				Q[t][h] = rmsWith([][]float64{Q[t][h]}, qn, c.eps, c.gemmaNorm)[0]
			}
			rope(Q[t][h], t)
		}
		for g := range G {
			K[t][g] = k[g*dh : (g+1)*dh]
			if c.qkNorm {
				K[t][g] = rmsWith([][]float64{K[t][g]}, kn, c.eps, c.gemmaNorm)[0]
			}
			rope(K[t][g], t)
			V[t][g] = v[g*dh : (g+1)*dh]
		}
	}
	scale := c.attnScale
	if scale == 0 {
		scale = 1 / math.Sqrt(float64(dh))
	}
	z := make([][]float64, T)
	for t := range T {
		z[t] = make([]float64, H*dh)
	}
	for h := range H {
		g := h / (H / G) // repeat_kv: query heads h·G/H … share KV head h/(H/G)
		for q := range T {
			sc := make([]float64, q+1)
			for k := 0; k <= q; k++ {
				s := 0.0
				for i := range dh {
					s += Q[q][h][i] * K[k][g][i]
				}
				s *= scale
				if c.attnSoftcap > 0 {
					s = c.attnSoftcap * math.Tanh(s/c.attnSoftcap)
				}
				if sliding && q-k >= c.window {
					s = math.Inf(-1)
				}
				sc[k] = s
			}
			softmax(sc)
			for k, a := range sc {
				for i := range dh {
					z[q][h*dh+i] += a * V[k][g][i]
				}
			}
		}
	}
	if c.biases {
		ob, _ = getOptional(get, p+"o_proj.bias")
	}
	out := make([][]float64, T)
	for t := range T {
		out[t] = linear(z[t], ow, ob, d)
	}
	return out
}

func getOptional(get rawGetter, name string) ([]float64, []int) {
	defer func() { _ = recover() }()
	return get(name)
}

// refGatedMLP follows LlamaMLP: down_proj(act_fn(gate_proj(x)) * up_proj(x)).
func refGatedMLP(c refConfig, get rawGetter, l int, x [][]float64) [][]float64 {
	p := fmt.Sprintf("%slayers.%d.mlp.", c.prefix, l)
	gw, gs := get(p + "gate_proj.weight")
	uw, _ := get(p + "up_proj.weight")
	dw, _ := get(p + "down_proj.weight")
	ff := gs[0]
	out := make([][]float64, len(x))
	for t, r := range x {
		g := linear(r, gw, nil, ff)
		u := linear(r, uw, nil, ff)
		for i := range g {
			g[i] = refAct(c.act, g[i]) * u[i]
		}
		out[t] = linear(g, dw, nil, c.dModel)
	}
	return out
}

// refAct is transformers' ACT2FN.
func refAct(name string, x float64) float64 {
	switch name {
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast":
		return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
	case "gelu":
		return 0.5 * x * (1 + math.Erf(x/math.Sqrt2))
	case "silu", "swish":
		return x / (1 + math.Exp(-x))
	case "relu":
		return max(x, 0)
	}
	panic("reference: activation " + name)
}

func softmax(x []float64) {
	m := math.Inf(-1)
	for _, v := range x {
		m = max(m, v)
	}
	s := 0.0
	for i, v := range x {
		x[i] = math.Exp(v - m)
		s += x[i]
	}
	for i := range x {
		x[i] /= s
	}
}
