#!/usr/bin/python3
"""Golden logits of lenskit's embedded models, computed with PyTorch.

Run from lenskit/forward (Debian 12: apt-get install python3-torch python3-numpy):

    /usr/bin/python3 testdata/golden/make_golden.py

It reads testdata/golden/prompts.json (token ids written by the Go test with
LENSKIT_WRITE_GOLDEN_PROMPTS=1, so that no tokenizer is needed here), loads
each model's model.safetensors with its own parser (no transformers, no
safetensors package: neither is installable offline), runs the model as the
Hugging Face modeling files define it, in float32 on the CPU, and writes
testdata/golden/<model>.json: for every prompt position the logits of 512
fixed vocabulary columns (a seeded sample plus the argmax), the logsumexp over
the whole vocabulary and the argmax.

Each step cites the line of transformers it follows (modeling_gpt2.py and
modeling_llama.py as of transformers 4.46).
"""

import json
import math
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
EMBEDDED = os.path.join(HERE, "..", "..", "..", "checkpoint", "embedded")


def load_safetensors(path):
    """Parses a safetensors file: 8-byte little-endian header length, a JSON
    header of name -> {dtype, shape, data_offsets}, then the raw data."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        raw = data[base + lo : base + hi]
        if info["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype="<f4").copy()
        elif info["dtype"] == "BF16":
            # bfloat16 is the top 16 bits of a float32.
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        else:
            raise SystemExit(f"{path}: {name}: dtype {info['dtype']} not handled")
        out[name] = torch.from_numpy(arr.reshape(info["shape"]).astype(np.float32))
    return out


def gelu_new(x):
    # activations.py NewGELUActivation
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def gpt2_forward(w, cfg, ids):
    p = "transformer." if "transformer.wte.weight" in w else ""
    d, H = cfg["n_embd"], cfg["n_head"]
    dh = d // H
    eps = cfg["layer_norm_epsilon"]
    T = len(ids)
    ln = lambda x, name: torch.nn.functional.layer_norm(x, (d,), w[name + ".weight"], w[name + ".bias"], eps)
    # GPT2Model.forward: hidden_states = inputs_embeds + position_embeds
    h = w[p + "wte.weight"][ids] + w[p + "wpe.weight"][torch.arange(T)]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(cfg["n_layer"]):
        q = f"{p}h.{l}."
        # GPT2Block: residual + attn(ln_1(hidden_states))
        a = ln(h, q + "ln_1")
        # GPT2Attention: query, key, value = c_attn(hidden).split(split_size, dim=2); Conv1D is x @ W + b
        qkv = a @ w[q + "attn.c_attn.weight"] + w[q + "attn.c_attn.bias"]
        Q, K, V = qkv.split(d, dim=1)
        Q, K, V = (t.view(T, H, dh).transpose(0, 1) for t in (Q, K, V))  # _split_heads
        # _attn: attn_weights = q @ k^T / sqrt(d_head), causal mask, softmax
        s = Q @ K.transpose(-1, -2) / math.sqrt(dh)
        s = torch.where(causal, s, torch.tensor(torch.finfo(s.dtype).min))
        z = torch.softmax(s, dim=-1) @ V
        z = z.transpose(0, 1).reshape(T, d)  # _merge_heads
        h = h + z @ w[q + "attn.c_proj.weight"] + w[q + "attn.c_proj.bias"]
        # GPT2MLP: c_proj(act(c_fc(x)))
        m = ln(h, q + "ln_2")
        m = gelu_new(m @ w[q + "mlp.c_fc.weight"] + w[q + "mlp.c_fc.bias"])
        h = h + m @ w[q + "mlp.c_proj.weight"] + w[q + "mlp.c_proj.bias"]
    h = ln(h, p + "ln_f")
    # GPT2LMHeadModel: lm_logits = lm_head(hidden_states), lm_head tied to wte
    u = w.get("lm_head.weight", w[p + "wte.weight"]) if not cfg.get("tie_word_embeddings", True) else w[p + "wte.weight"]
    return h @ u.T


def rms(x, weight, eps):
    # LlamaRMSNorm: variance = x.pow(2).mean(-1); x * rsqrt(variance + eps); weight * x
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    # modeling_llama.rotate_half
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def llama_forward(w, cfg, ids):
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    G = cfg.get("num_key_value_heads", H)
    dh = cfg.get("head_dim", d // H)
    eps = cfg["rms_norm_eps"]
    theta = cfg.get("rope_theta", 10000.0)
    T = len(ids)
    # LlamaRotaryEmbedding: inv_freq = 1 / base^(arange(0, dim, 2)/dim); emb = cat(freqs, freqs)
    inv = 1.0 / (theta ** (torch.arange(0, dh, 2, dtype=torch.int64).float() / dh))
    freqs = torch.arange(T).float()[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    h = w["model.embed_tokens.weight"][ids]
    for l in range(cfg["num_hidden_layers"]):
        q = f"model.layers.{l}."
        a = rms(h, w[q + "input_layernorm.weight"], eps)
        # LlamaAttention: q_proj/k_proj/v_proj (nn.Linear: x @ W^T), view(T, heads, d_head).transpose
        Q = (a @ w[q + "self_attn.q_proj.weight"].T).view(T, H, dh).transpose(0, 1)
        K = (a @ w[q + "self_attn.k_proj.weight"].T).view(T, G, dh).transpose(0, 1)
        V = (a @ w[q + "self_attn.v_proj.weight"].T).view(T, G, dh).transpose(0, 1)
        # apply_rotary_pos_emb: q * cos + rotate_half(q) * sin
        Q = Q * cos + rotate_half(Q) * sin
        K = K * cos + rotate_half(K) * sin
        # repeat_kv: each KV head serves H/G consecutive query heads
        K = K.repeat_interleave(H // G, dim=0)
        V = V.repeat_interleave(H // G, dim=0)
        s = Q @ K.transpose(-1, -2) / math.sqrt(dh)  # eager_attention_forward: * scaling
        s = torch.where(causal, s, torch.tensor(torch.finfo(s.dtype).min))
        z = (torch.softmax(s, dim=-1) @ V).transpose(0, 1).reshape(T, H * dh)
        h = h + z @ w[q + "self_attn.o_proj.weight"].T
        # LlamaMLP: down_proj(act_fn(gate_proj(x)) * up_proj(x)), act silu
        m = rms(h, w[q + "post_attention_layernorm.weight"], eps)
        g = torch.nn.functional.silu(m @ w[q + "mlp.gate_proj.weight"].T)
        h = h + (g * (m @ w[q + "mlp.up_proj.weight"].T)) @ w[q + "mlp.down_proj.weight"].T
    h = rms(h, w["model.norm.weight"], eps)
    u = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else w["lm_head.weight"]
    return h @ u.T


def main():
    torch.set_num_threads(1)
    prompts = json.load(open(os.path.join(HERE, "prompts.json")))
    for model, plist in sorted(prompts.items()):
        d = os.path.join(EMBEDDED, model)
        cfg = json.load(open(os.path.join(d, "config.json")))
        w = load_safetensors(os.path.join(d, "model.safetensors"))
        fwd = {"gpt2": gpt2_forward, "llama": llama_forward}[cfg["model_type"]]
        V = cfg["vocab_size"]
        rng = np.random.default_rng(2026)
        cols = sorted(set(rng.choice(V, 500, replace=False).tolist()))
        out = {"model": model, "torch": torch.__version__, "prompts": []}
        per = []
        with torch.no_grad():
            for p in plist:
                logits = fwd(w, cfg, torch.tensor(p["ids"]))
                per.append((p["ids"], logits))
                cols = sorted(set(cols) | set(logits.argmax(-1).tolist()))
        cols = cols[:512] if len(cols) > 512 else cols
        out["columns"] = cols
        for ids, logits in per:
            out["prompts"].append({
                "ids": ids,
                # float32 logits need 9 significant digits to round-trip.
                "logits": [[float(f"{float(x):.9g}") for x in row[cols]] for row in logits],
                "logsumexp": [float(x) for x in torch.logsumexp(logits.double(), dim=-1)],
                "argmax": logits.argmax(-1).tolist(),
            })
        path = os.path.join(HERE, model + ".json")
        with open(path, "w") as f:
            json.dump(out, f)
            f.write("\n")
        print(f"wrote {path}: {len(plist)} prompts, {len(cols)} columns", file=sys.stderr)


if __name__ == "__main__":
    main()
