// Package vocab is a GPT-2-family model's vocabulary, read the way
// researchers already have it: every token id with its forms, the tokenizer
// that turns text into ids, the filters that choose which tokens take part
// in a vocabulary-space projection, and token lists built from corpora.
//
// # Forms of a token
//
// For token id 4279 of the tiny Polish GPT-2:
//
//	Raw      "ĠÅĤ"   the vocabulary entry, byte-level spelled, as in the files
//	Bytes    20 c5 82 the bytes it stands for
//	Text     " ł"    those bytes as UTF-8 (invalid bytes as <0xC5> escapes)
//	Display  "ł"     the seed notebook's table form: leading space dropped,
//	                 "#" before tokens that continue a word ("#ów")
//	Form     "ł"     lower case, trimmed: what token lists and pair filters compare
//
// # Tokenizer
//
// Load reads tokenizer.json, or vocab.json + merges.txt. Both describe GPT-2
// byte-level BPE, and the package implements it itself: GPT-2's
// pre-tokenization pattern as a hand-written scanner (Go's regexp has no
// look-ahead), then byte-level symbols merged by rank. go-huggingface's
// pure-Go hftokenizer was tried first and is not used: its ByteLevel
// pre-tokenizer ignores use_regex and splits on spaces only, so it gives
// the wrong ids for contractions inside words (28 of the 147,967 lines of
// corpus/pl.txt), and it is about ten times slower (see
// TestHFTokenizerComparison and BenchmarkHFTokenizerCorpusLines). Our ids
// equal those of an independent reference — OpenAI's encoder.py algorithm,
// testdata/gpt2ref.py — on every line of that corpus, for both file
// formats (TestReferenceCorpus).
//
// # Bad input
//
// Tokenizer files come from strangers. Each file is size-checked before it
// is read, and each fault is a *FileError naming the file, the place in it,
// and what is wrong; nothing panics. The cases, each tested in
// TestLoadBadInput:
//
//	fault                                        error (each prefixed "vocab: ")
//	no tokenizer.json, no vocab.json             tokenizer.json: no tokenizer.json, and no vocab.json + merges.txt either: file does not exist
//	vocab.json without merges.txt                merges.txt: open merges.txt: file does not exist
//	empty file                                   tokenizer.json: file is empty
//	truncated file                               tokenizer.json: line 22, column 3: unexpected end of JSON input
//	file over the size limit (256 MiB for        tokenizer.json: file is 1099511627776 bytes, over the 268435456-byte limit for this file
//	  tokenizer.json, 128 MiB vocab/merges),
//	  checked on Stat before reading
//	not JSON                                     tokenizer.json: line 2, column 11: invalid character 'x' looking for beginning of value
//	wrong field type                             tokenizer.json: field model.type at line 1, column 21: number value where string was expected
//	not byte-level BPE (WordPiece, Unigram,      tokenizer.json: model.type: "WordPiece" is not supported: lenskit reads byte-level BPE tokenizers (the GPT-2 family)
//	  Metaspace, a normalizer, byte_fallback,    tokenizer.json: pre_tokenizer: type "Metaspace" is not supported: ...
//	  dropout, use_regex false)                  tokenizer.json: model.dropout: 0.1: BPE dropout makes encoding random; lenskit needs it off
//	id negative, fractional, a string,           tokenizer.json: model.vocab["ab"]: id -3 is negative
//	  or beyond 4 Mi                             tokenizer.json: model.vocab["ab"]: id is the string "256", not a number
//	duplicate token                              tokenizer.json: model.vocab["ab"]: duplicate token (ids 256 and 259)
//	duplicate id                                 vocab.json: vocab["Ġab"]: id 256 is already the id of "ab"
//	id out of range (ids must be 0..n-1)         tokenizer.json: model.vocab["Ġab"]: id 300 out of range: there are 259 tokens, so ids must be 0..258
//	added token clashing with an entry           tokenizer.json: added_tokens[1]: id 5 is "ą" in the vocabulary but "<|x|>" here
//	                                             tokenizer.json: added_tokens[0]: added token "ab" has id 259 but the vocabulary gives it id 256
//	malformed merge                              merges.txt: line 4: "abc" is not two tokens separated by one space
//	blank line inside merges.txt                 merges.txt: line 2: blank line
//	merge part or result not in the vocabulary   tokenizer.json: model.merges[2]: the merged token "ba" is not in the vocabulary
//	duplicate merge                              tokenizer.json: model.merges[2]: duplicate of the merge at model.merges[0]
//	unk_token not in the vocabulary              tokenizer.json: model.unk_token: "<unk>" is not in the vocabulary
//	malformed tokenizer_config.json              tokenizer_config.json: added_tokens_decoder["x"]: key is not a token id in [0, 4194304)
//
// Corpus and parquet readers report their files the same way ("pl.txt:
// line 2: ...", "train.parquet: column texts: no such column (the file has:
// id, text)"); parquet footers and column sizes are checked against the
// file, and every page header of the column is checked against its column
// chunk, before the parquet decoder allocates for them; a panic inside the
// decoder is recovered and reported as a malformed file. Token lists read
// by LoadTokenList report the line of any malformed entry.
//
// # Filters
//
// Filters select token ids before any computation (Vocab.Select), pair
// filters exclude (source, target) pairs inside the head-view loops, and both
// describe themselves with a stable String that findings record:
// "alnum+list(pl.txt,top=5000)", "exclude-same+exclude-fuzzy".
package vocab
