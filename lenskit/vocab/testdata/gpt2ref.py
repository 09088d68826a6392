#!/usr/bin/env python3
"""Independent reference for lenskit/vocab's tokenizer tests.

This is OpenAI's original GPT-2 encoder algorithm (encoder.py from the gpt-2
repository: the pre-tokenization regex with its look-ahead, evaluated by the
`regex` module, and the "merge every occurrence of the lowest-ranked bigram"
loop), fed from the model's vocab.json and merges.txt, with added tokens split
off first as Hugging Face tokenizers does. It shares no code with the Go
implementation, so agreement on the whole corpus is evidence that both are right.

It writes two fixtures that the Go tests read (Python is not needed to run the
tests, only to regenerate them):

  pl_reference.txt   per-block SHA-256 digests of the ids of every line of the
                     corpus, plus the full ids of a sample of lines
  tricky_reference.jsonl  hand-picked strings (contractions, whitespace runs,
                     digits, punctuation, diacritics, special tokens) and ids

Usage: python3 gpt2ref.py MODEL_DIR CORPUS OUT_DIR
"""
import hashlib
import json
import struct
import sys

import regex

PAT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2 ** 8):
        if b not in bs:
            bs.append(b)
            cs.append(2 ** 8 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def get_pairs(word):
    return {(word[i], word[i + 1]) for i in range(len(word) - 1)}


class Encoder:
    def __init__(self, model_dir):
        with open(f"{model_dir}/vocab.json", encoding="utf-8") as f:
            self.encoder = json.load(f)
        with open(f"{model_dir}/merges.txt", encoding="utf-8") as f:
            lines = f.read().split("\n")
        merges = [tuple(l.split(" ")) for l in lines if l and not l.startswith("#version")]
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.byte_encoder = bytes_to_unicode()
        self.cache = {}
        self.specials = ["<|endoftext|>"]

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token)
        pairs = get_pairs(word)
        if not pairs:
            return [token]
        while True:
            bigram = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if bigram not in self.ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                new_word.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        self.cache[token] = list(word)
        return self.cache[token]

    def encode_plain(self, text):
        ids = []
        for tok in regex.findall(PAT, text):
            tok = "".join(self.byte_encoder[b] for b in tok.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(tok))
        return ids

    def encode(self, text):
        parts = [text]
        for sp in self.specials:
            nxt = []
            for p in parts:
                if isinstance(p, int):
                    nxt.append(p)
                    continue
                pieces = p.split(sp)
                for k, piece in enumerate(pieces):
                    if k:
                        nxt.append(self.encoder[sp])
                    nxt.append(piece)
            parts = nxt
        ids = []
        for p in parts:
            if isinstance(p, int):
                ids.append(p)
            elif p:
                ids.extend(self.encode_plain(p))
        return ids


TRICKY = [
    "zażółć gęślą jaźń",
    "Zażółć Gęślą Jaźń!",
    "ZAŻÓŁĆ GĘŚLĄ JAŹŃ",
    "Pchnąć w tę łódź jeża lub ośm skrzyń fig.",
    "don't we'll they've I'm she'd it's you're DON'T",
    "'s's 'S",
    "hello   world",
    "a\n\nb",
    "  leading and trailing  ",
    "tab\tseparated\t\tcols",
    "line\r\nbreak",
    "x \n y",
    "trailing newline\n",
    "1234567 3.14 -42 ½ ²",
    "e-mail: bero@main.elektron.com.pl :-) (-; ;>",
    "<|endoftext|>",
    "tekst<|endoftext|>dalszy tekst",
    " <|endoftext|> ",
    "<|endoftext",
    "Привет, мир! Ελληνικά café naïve",
    "日本語のテキスト",
    "emoji 🙂👍🏽 ok",
    "a\u00a0b\u2003c",
    "combining: e\u0301 o\u0308",
    "!!!???...,,,",
    "C++ std::vector<int> x[3] = {1, 2, 3};",
    "",
    " ",
    "   ",
    "\n",
]


def ids_digest(lines_ids):
    h = hashlib.sha256()
    for ids in lines_ids:
        for i in ids:
            h.update(struct.pack("<I", i))
        h.update(b"\xff\xff\xff\xff")
    return h.hexdigest()


def main():
    model_dir, corpus, out_dir = sys.argv[1:4]
    enc = Encoder(model_dir)
    with open(corpus, "rb") as f:
        data = f.read()
    lines = data.decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    block = 2000
    sample_every = 293
    all_ids = [enc.encode(l) for l in lines]
    with open(f"{out_dir}/pl_reference.txt", "w", encoding="utf-8") as out:
        out.write("# Generated by gpt2ref.py from tiny-pl-gpt2 vocab.json+merges.txt and corpus/pl.txt.\n")
        out.write(f"lines {len(lines)}\n")
        out.write(f"tokens {sum(len(x) for x in all_ids)}\n")
        out.write(f"block {block}\n")
        for b in range(0, len(lines), block):
            out.write(f"digest {b} {ids_digest(all_ids[b:b + block])}\n")
        for n in range(0, len(lines), sample_every):
            out.write(f"sample {n} " + " ".join(map(str, all_ids[n])) + "\n")
    with open(f"{out_dir}/tricky_reference.jsonl", "w", encoding="utf-8") as out:
        for t in TRICKY:
            out.write(json.dumps({"text": t, "ids": enc.encode(t)}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
