// Package weights turns a checkpoint into the matrices an analysis in
// vocabulary space reads (Dar, Geva, Gupta, Berant 2022, "Analyzing
// Transformers in Embedding Space"): per layer the feed-forward keys and
// values, per head W_Q, W_K, W_V and W_O, the embedding, the unembedding E and
// the norms — for GPT-2 and for today's decoder families.
//
// FromCheckpoint picks an architecture adapter by config.json's model_type —
// gpt2, llama (Llama 2, 3, 3.1, 3.2), mistral, qwen2, qwen3, gemma, gemma2,
// gemma3_text, gemma3 (the text model of the multimodal checkpoint) and
// gpt_neox (Pythia) — and checks every tensor's presence, dtype and shape
// against config.json before anything is read, so a mismatched file fails at
// open with a message naming the file, the tensor and both shapes rather than
// later inside a projection. Fields config.json omits take the default of
// the family's transformers config class, and Arch.Defaults lists them. A new
// architecture is one new file: an adapter (see the adapter interface in
// weights.go) registered under its model_type; the decoders share
// hfdecoder.go and differ only in how they read their config.
//
// Nothing above this package knows the family: everything that differs is an
// Arch field (KV heads, head width, gated or plain MLP, activation, RMSNorm or
// LayerNorm, rotary base/share/scaling, QK-norm, embedding scale, attention
// scale and softcaps, sandwich norms, parallel residual, sliding windows) or
// a per-layer accessor (Bias, Norm, Sliding, RotaryAt).
//
// Conventions, whatever the file's layout (GPT-2's Conv1D stores in × out,
// nn.Linear stores [out, in]):
//
//   - Matrices act by right-multiplication: W_Q of query head h and W_K, W_V
//     of KV head g are d × d_head, W_O of head h is d_head × d; W_OV = W_V·W_O
//     and W_QK = W_Q·W_Kᵀ. Query head h reads KV head Arch.KVGroup(h), as
//     transformers' repeat_kv arranges grouped-query attention.
//   - FFKeys(l, r) is neuron-major, d_ff × d: row i is neuron i's read
//     direction r — its key for a plain MLP, its gate (r = 0) or up
//     projection (r = 1) for a gated one. FFValues(l) is d_ff × d: row i is
//     what neuron i writes.
//   - E (Unembedding) is Vocab × d: lm_head.weight (embed_out for GPT-NeoX),
//     or the embedding when tied.
//   - Norm gains are the ones applied: Gemma stores γ − 1 and gets 1 + γ.
//   - GPT-NeoX's fused query_key_value is viewed as (heads, 3, d_head).
//
// Names follow what researchers write: head 20.7 is WQ(20, 7) and friends,
// neuron L23/N907 is FFKey(23, r, 907) / FFValue(23, 907). An index outside
// the model is a *RangeError such as
// "weights: layer 7 out of range [0,4) for tiny-pl-gpt2".
//
// Matrices alias the checkpoint's memory-mapped F32 data when they can and
// must be treated as read-only. The vocabulary-sized and MLP matrices of a
// BF16 checkpoint come back as BF16 matrices aliasing the file (see Matrix),
// never converted: opening a Llama-3-8B-shaped checkpoint and asking for its
// embedding, unembedding and every FFKeys keeps the process at a few
// megabytes. Per-head matrices are gathered copies; the values of a decoder
// (down_proj, d × d_ff in the file) are transposed into a fresh matrix of the
// stored precision per FFValues call, while FFValue gathers one column.
package weights
