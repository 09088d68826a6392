#!/usr/bin/python3
"""The seed notebook's algorithm, run with torch on the embedded tiny Polish GPT-2.

This is lenskit's parity oracle: it reproduces the seed notebook's
display_top_tokens (neurons) and w_vo / w_qk (heads) — the dense V×V product,
approx_topk's threshold search (th0=1, min_k=500, max_k=250000, 10
iterations) and get_top_entries' after-the-fact filters — and writes what
they return to golden.json. lenskit's tests compare against that file and do
not need Python. Regenerate with (Debian's python3-torch, numpy):

    /usr/bin/python3 lenskit/testdata/seed/seed_reference.py \
        lenskit/checkpoint/embedded/tiny-pl-gpt2 lenskit/testdata/seed/pl-top5000.tokens \
        > lenskit/testdata/seed/golden.json
"""
import json
import struct
import sys

import numpy as np
import torch

model_dir, token_list_path = sys.argv[1], sys.argv[2]


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", name
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[8 + n + a : 8 + n + b], dtype=np.float32).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


byte_decoder = {v: k for k, v in bytes_to_unicode().items()}
vocab = json.load(open(f"{model_dir}/vocab.json", encoding="utf-8"))
id_to_token = {i: t for t, i in vocab.items()}
V = len(id_to_token)


def decode(i):
    t = id_to_token[i]
    if t == "<|endoftext|>":
        return t
    return bytearray(byte_decoder[c] for c in t).decode("utf-8", errors="replace")


# The seed's tokens_list: forms stripped of the space marker and lowercased.
tokens_list = set()
with open(token_list_path, encoding="utf-8") as f:
    lines = f.read().splitlines()
for line in lines[4:]:
    count, form = line.split("\t", 1)
    tokens_list.add(json.loads(form))

w = load_safetensors(f"{model_dir}/model.safetensors")
cfg = json.load(open(f"{model_dir}/config.json"))
L, H, d = cfg["n_layer"], cfg["n_head"], cfg["n_embd"]
hs = d // H
emb = w["transformer.wte.weight"].T  # d × V, as model.get_output_embeddings().weight.T
emb_inv = emb.T

K_heads = torch.stack([w[f"transformer.h.{j}.mlp.c_fc.weight"].T for j in range(L)])
V_heads = torch.stack([w[f"transformer.h.{j}.mlp.c_proj.weight"] for j in range(L)])
qkv = torch.stack([w[f"transformer.h.{j}.attn.c_attn.weight"] for j in range(L)])
W_Q, W_K, W_V = qkv.chunk(3, dim=-1)
W_O = torch.stack([w[f"transformer.h.{j}.attn.c_proj.weight"] for j in range(L)])
W_Q_heads = W_Q.reshape(L, d, H, hs).permute(0, 2, 1, 3)
W_K_heads = W_K.reshape(L, d, H, hs).permute(0, 2, 1, 3)
W_V_heads = W_V.reshape(L, d, H, hs).permute(0, 2, 1, 3)
W_O_heads = W_O.reshape(L, H, hs, d)


def top_tokens(v, k, only_ascii=True, only_from_list=None):
    v = v.clone()
    ignored = []
    if only_ascii:
        ignored.extend([key for val, key in vocab.items() if not val.strip("Ġ▁").isascii()])
    if only_from_list:
        ignored.extend([key for val, key in vocab.items() if val.strip("Ġ▁ ").lower() not in only_from_list])
    ignored = list(set(ignored))
    v[ignored] = -np.inf
    values, indices = torch.topk(v, k=k)
    return [[int(i), float(x)] for i, x in zip(indices, values)]


def approx_topk(mat, min_k=500, max_k=250_000, th0=10, max_iters=10):
    _get_actual_k = lambda th, th_max: torch.nonzero((mat > th) & (mat < th_max)).shape[0]
    th_max = np.inf
    left, right = 0, th0
    while True:
        actual_k = _get_actual_k(right, th_max)
        if actual_k <= max_k:
            break
        left, right = right, right * 2
    if min_k <= actual_k <= max_k:
        th = right
    else:
        for _ in range(max_iters):
            mid = (left + right) / 2
            actual_k = _get_actual_k(mid, th_max)
            if min_k <= actual_k <= max_k:
                break
            if actual_k > max_k:
                left = mid
            else:
                right = mid
        th = mid
    return torch.nonzero((mat > th) & (mat < th_max)).tolist(), float(th)


def get_top_entries(tmp, all_high_pos, only_ascii=False, only_alnum=False):
    remaining = all_high_pos
    if only_ascii:
        remaining = [x for x in remaining if decode(x[0]).strip("Ġ▁").isascii() and decode(x[1]).strip("Ġ▁").isascii()]
    if only_alnum:
        remaining = [x for x in remaining if decode(x[0]).strip("Ġ▁ ").isalnum() and decode(x[1]).strip("Ġ▁ ").isalnum()]
    if not remaining:
        return []
    pos_val = tmp[[*zip(*remaining)]]
    best = np.array(remaining)[torch.argsort(-pos_val)[:50]]
    return [[int(a), int(b), float(tmp[a, b])] for a, b in best]


out = {"model": model_dir.rstrip("/").split("/")[-1], "token_list": token_list_path.split("/")[-1], "neurons": [], "heads": []}
for layer, i in [(0, 7), (1, 100), (2, 345), (3, 907), (3, 12)]:
    for use_list in (False, True):
        lst = tokens_list if use_list else None
        out["neurons"].append({
            "layer": layer, "index": i, "list": use_list,
            "K": top_tokens(K_heads[layer, i] @ emb, 30, only_from_list=lst),
            "V": top_tokens(V_heads[layer, i] @ emb, 30, only_from_list=lst),
            "-K": top_tokens(-K_heads[layer, i] @ emb, 30, only_from_list=lst),
            "-V": top_tokens(-V_heads[layer, i] @ emb, 30, only_from_list=lst),
        })
for layer, h in [(0, 1), (1, 3), (2, 4), (3, 7)]:
    for kind in ("OV", "QK"):
        if kind == "OV":
            tmp = emb_inv @ (W_V_heads[layer, h] @ W_O_heads[layer, h]) @ emb
        else:
            tmp = emb_inv @ (W_Q_heads[layer, h] @ W_K_heads[layer, h].T) @ emb_inv.T
        pos, th = approx_topk(tmp, th0=1)
        for alnum in (False, True):
            out["heads"].append({
                "layer": layer, "head": h, "kind": kind, "ascii": True, "alnum": alnum,
                "threshold": th, "candidates": len(pos),
                "pairs": get_top_entries(tmp, pos, only_ascii=True, only_alnum=alnum),
            })
json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
print()
