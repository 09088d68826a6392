#!/usr/bin/python3
"""Writes the torch.save fixtures the checkpoint tests read.

Run with Debian's python3-torch (1.13): /usr/bin/python3 make_fixtures.py
The tests never run Python; they read the files this script wrote and
expected.json, which lists every parameter's exact values.

Model: a GPT-2 laid out exactly as transformers' GPT2LMHeadModel names it
(Conv1D weights stored in x out, tied lm_head sharing wte's storage, the
attn.bias / attn.masked_bias buffers), 2 layers, d=8, 2 heads, d_ff=16,
vocabulary 24, 8 positions. Parameter k (in state_dict order) holds
((7*i + 13*k) % 101 - 50) / 64 at flat index i: multiples of 1/64 below 1,
exact in float32, float16 and bfloat16, so every dtype compares exactly.
"""
import collections
import json
import os

import torch
from torch import nn

L, D, H, FF, V, P = 2, 8, 2, 16, 24, 8


class Conv1D(nn.Module):
    def __init__(self, nf, nx):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("bias", torch.tril(torch.ones(P, P, dtype=torch.uint8)).view(1, 1, P, P))
        self.register_buffer("masked_bias", torch.tensor(-1e4))
        self.c_attn = Conv1D(3 * D, D)
        self.c_proj = Conv1D(D, D)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_fc = Conv1D(FF, D)
        self.c_proj = Conv1D(D, FF)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(D)
        self.attn = Attention()
        self.ln_2 = nn.LayerNorm(D)
        self.mlp = MLP()


class GPT2Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, D)
        self.wpe = nn.Embedding(P, D)
        self.h = nn.ModuleList([Block() for _ in range(L)])
        self.ln_f = nn.LayerNorm(D)


class GPT2LMHeadModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.transformer = GPT2Model()
        self.lm_head = nn.Linear(D, V, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied


def fill(model):
    expected = collections.OrderedDict()
    with torch.no_grad():
        for k, (name, p) in enumerate(model.named_parameters()):
            i = torch.arange(p.numel(), dtype=torch.int64)
            vals = (((7 * i + 13 * k) % 101) - 50).to(torch.float32) / 64
            p.copy_(vals.view_as(p))
            expected[name] = {"shape": list(p.shape), "values": vals.tolist()}
    return expected


config = {
    "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_layer": L, "n_head": H,
    "n_embd": D, "n_inner": FF, "vocab_size": V, "n_positions": P, "n_ctx": P,
    "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new", "tie_word_embeddings": True,
}

here = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
model = GPT2LMHeadModel()
expected = fill(model)
with open(os.path.join(here, "expected.json"), "w") as f:
    json.dump({"torch": torch.__version__, "config": config, "parameters": expected}, f)


def save(dirname, state, **kw):
    d = os.path.join(here, dirname)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    torch.save(state, os.path.join(d, "pytorch_model.bin"), **kw)


save("gpt2-zip-f32", model.state_dict())
save("gpt2-legacy-f32", model.state_dict(), _use_new_zipfile_serialization=False)
half = GPT2LMHeadModel()
half.load_state_dict(model.state_dict())
save("gpt2-zip-f16", half.half().state_dict())
bf = GPT2LMHeadModel()
bf.load_state_dict(model.state_dict())
save("gpt2-zip-bf16", bf.to(torch.bfloat16).state_dict())

# A tensor that starts inside its storage (x[1] has storage_offset 4) next to
# the whole storage, and a transposed (non-contiguous) one.
x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
torch.save(collections.OrderedDict([("row1", x[1]), ("all", x)]), os.path.join(here, "offset_view.bin"))
torch.save({"t": x.t()}, os.path.join(here, "noncontig.bin"))
# A whole pickled module, not a state dict: must be refused.
torch.save(nn.Linear(2, 2), os.path.join(here, "whole_module.bin"))
print("wrote fixtures with torch", torch.__version__)
