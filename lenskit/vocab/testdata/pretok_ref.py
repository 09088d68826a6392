#!/usr/bin/env python3
"""Reference pre-tokenization for lenskit/vocab's pattern scanners.

The pre-tokenization patterns of GPT-2, Llama 3 (also OpenAI's cl100k_base)
and Qwen 2/3, evaluated by Python's `regex` module (look-ahead, scoped (?i:),
Unicode \\s = White_Space, as Oniguruma in Hugging Face tokenizers and the
regex crate in tiktoken). The Go scanners (pretokenize.go) share no code with
it. JavaScript's \\s differs (it includes U+FEFF and not U+0085), which is
where transformers.js deviates; the deviation texts below pin that down.

Writes pretok_reference.jsonl:
  {"pattern": P, "text": T, "pieces": [...]}   for hard_cases.jsonl and the deviation texts
  {"pattern": P, "corpus_lines": N, "pieces": K, "sha256": H}   over every line of the corpus
     (pieces of a line joined by U+0000, lines ended by U+0001, UTF-8)

Usage: python3 pretok_ref.py CORPUS OUT_DIR   (run from testdata/)
"""
import hashlib
import json
import sys

import regex

PATTERNS = {
    "gpt2": r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    "llama3": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
    "qwen": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
}

# Texts where JavaScript's \s (transformers.js) and Unicode White_Space
# (Oniguruma, regex, the regex crate) split differently, and the case fold
# of U+017F.
DEVIATIONS = [
    "x \u0085y", "x \ufeffy", "1 \ufeff2", "zdanie.\ufeff\ufeff \ufeffx", " \u0085\u0085 ", "a\u0085\u0085\u0085b",
    "it'\u017f here", "IT'S 'Ll 'rE",
]


def main():
    corpus, out_dir = sys.argv[1:3]
    with open("hard_cases.jsonl", encoding="utf-8") as f:
        texts = [json.loads(l) for l in f if l.strip()]
    texts += DEVIATIONS
    with open(corpus, "rb") as f:
        lines = f.read().decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    with open(f"{out_dir}/pretok_reference.jsonl", "w", encoding="utf-8") as out:
        for name, pat in PATTERNS.items():
            rx = regex.compile(pat)
            for t in texts:
                pieces = rx.findall(t)
                assert "".join(pieces) == t, (name, t)
                out.write(json.dumps({"pattern": name, "text": t, "pieces": pieces}, ensure_ascii=True) + "\n")
            h = hashlib.sha256()
            n = 0
            for line in lines:
                pieces = rx.findall(line)
                n += len(pieces)
                h.update("\x00".join(pieces).encode("utf-8"))
                h.update(b"\x01")
            out.write(json.dumps({"pattern": name, "corpus_lines": len(lines), "pieces": n, "sha256": h.hexdigest()}) + "\n")


if __name__ == "__main__":
    main()
