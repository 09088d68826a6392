package forward

import (
	"fmt"
	"strconv"
	"strings"

	"lenskit.dev/lenskit/project"
)

// Non-finite weights follow the policy of the static views (see
// project.ErrNonFinite): a run never returns NaN or ±Inf as if it were a
// result. A weight that holds one is named, by tensor and position, when the
// model is uploaded; a prompt whose embedding row holds one is refused
// before it runs; and a run whose outputs overflow float32 (finite weights
// too large for float32 products) fails naming the output, instead of
// handing NaN to a softmax, a table or encoding/json.

// nonFiniteWeight is the error for a weight that holds NaN or ±Inf at flat
// index i of a parameter with the given dims (upload's caller adds the
// model's name).
func nonFiniteWeight(name string, dims []int, i int) error {
	where := fmt.Sprintf("value %d", i)
	if len(dims) >= 2 {
		cols := dims[len(dims)-1]
		where = fmt.Sprintf("row %d, column %d", i/cols, i%cols)
	}
	return fmt.Errorf("%s: %w: %s holds NaN or ±Inf", paramName(name), project.ErrNonFinite, where)
}

// paramName turns an uploaded parameter's name ("l3.wq", "l0.k1",
// "final.g") into the words a researcher uses for it.
func paramName(name string) string {
	layer := ""
	if rest, ok := strings.CutPrefix(name, "l"); ok {
		if n, tail, ok := strings.Cut(rest, "."); ok {
			if _, err := strconv.Atoi(n); err == nil {
				layer, name = " of layer "+n, tail
			}
		}
	}
	words := map[string]string{
		"wq": "W_Q (all query heads)", "wk": "W_K (all KV heads)", "wv": "W_V (all KV heads)", "wo": "W_O (all heads)",
		"bq": "the query bias", "bk": "the key bias", "bv": "the value bias", "bo": "the attention output bias",
		"k0": "the MLP's first read direction (key or gate)", "k1": "the MLP's up projection",
		"bk0": "the MLP's first input bias", "bk1": "the MLP's up bias",
		"v": "the MLP's values (down projection)", "bff": "the MLP output bias",
		"n1.g": "the attention norm's gain", "n1.b": "the attention norm's bias",
		"n2.g": "the MLP norm's gain", "n2.b": "the MLP norm's bias",
		"qn.g": "the query norm's gain", "kn.g": "the key norm's gain",
		"pa.g": "the post-attention norm's gain", "pm.g": "the post-MLP norm's gain",
		"final.g": "the final norm's gain", "final.b": "the final norm's bias",
		"unembed": "W_U (the unembedding)",
	}
	if w, ok := words[name]; ok {
		return w + layer
	}
	return name + layer
}

// nonFiniteOutput names the first output of a run that holds NaN or ±Inf,
// or returns nil. Finite weights get here only when their products
// overflow float32.
func nonFiniteOutput(model string, plan []output, outs [][]float32) error {
	for i, o := range plan {
		j := project.FirstNonFinite(outs[i])
		if j < 0 {
			continue
		}
		var what string
		switch o.kind {
		case outResid:
			what = fmt.Sprintf("residual row %d", o.index)
		case outAttn:
			what = fmt.Sprintf("the attention pattern of layer %d", o.index)
		case outHeads:
			what = fmt.Sprintf("the head outputs of layer %d", o.index)
		case outMLP:
			what = fmt.Sprintf("the MLP activations of layer %d", o.index)
		case outLogits:
			what = "the logits"
		default:
			what = "the logit lens"
		}
		return fmt.Errorf("forward: %s: %w: %s hold NaN or ±Inf (value %d): the weights' products overflow float32", model, project.ErrNonFinite, what, j)
	}
	return nil
}
