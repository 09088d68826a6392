// Package weights turns a checkpoint into the matrices an analysis in
// vocabulary space reads (Dar, Geva, Gupta, Berant 2022, "Analyzing
// Transformers in Embedding Space"): per layer the feed-forward keys and
// values, per head W_Q, W_K, W_V and W_O, the embedding, the unembedding E and
// the final layer norm.
//
// FromCheckpoint picks an architecture adapter by config.json's model_type
// (only "gpt2" exists so far) and checks every tensor's presence, dtype and
// shape against config.json before anything is read, so a mismatched file
// fails at open with a message naming the file, the tensor and both shapes
// rather than later inside a projection. A new architecture is one new file:
// an adapter (see the adapter interface in weights.go) registered under its
// model_type.
//
// Conventions are those of the seed notebook and of transformers' GPT-2,
// whose Conv1D layers store in × out matrices applied as x·W:
//
//   - FFKeys(l) is mlp.c_fc.weight, d × d_ff; neuron i's key is column i.
//   - FFValues(l) is mlp.c_proj.weight, d_ff × d; neuron i's value is row i.
//   - c_attn.weight is d × 3d with columns [Q | K | V]; head h owns columns
//     h·d_head … (h+1)·d_head−1 of each third (the seed's
//     W_Q, W_K, W_V = c_attn.chunk(3, dim=-1), then reshape(d, heads, d_head)).
//   - W_O of head h is rows h·d_head … (h+1)·d_head−1 of attn.c_proj.weight.
//   - E (Unembedding) is Vocab × d: lm_head.weight, or wte when tied.
//
// Names follow what researchers write: head 20.7 is WQ(20, 7) and friends,
// neuron L23/N907 is FFKey(23, 907) / FFValue(23, 907), W_OV = W_V·W_O and
// W_QK = W_Q·W_Kᵀ. An index outside the model is a *RangeError such as
// "weights: layer 7 out of range [0,4) for tiny-pl-gpt2".
//
// Matrices alias the checkpoint's memory-mapped F32 data when they can and
// must be treated as read-only; F16, BF16 and F64 tensors are converted to
// float32 on first use, once per tensor. Per-head W_Q, W_K, W_V and single
// keys and values are gathered copies.
package weights
