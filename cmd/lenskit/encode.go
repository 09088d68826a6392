package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/vocab"
)

// stdin is what encode reads; tests replace it.
var stdin io.Reader = os.Stdin

// maxEncodeLine bounds one input line (one text).
const maxEncodeLine = 256 << 20

// loadTokenizer loads only the tokenizer of the model named: from a local
// directory its files alone (no weights needed), otherwise through the
// checkpoint package (the embedded models, the hub). The embedding's size,
// config.json's vocab_size, bounds the vocabulary as it is read.
func loadTokenizer(name string, stderr io.Writer) (*vocab.Vocab, error) {
	var files fs.FS
	var cfg *checkpoint.Config
	show := name
	if st, err := os.Stat(name); err == nil && st.IsDir() {
		files = os.DirFS(name)
		if data, err := fs.ReadFile(files, checkpoint.ConfigFile); err == nil {
			if cfg, err = checkpoint.ParseConfig(filepath.Join(name, checkpoint.ConfigFile), data); err != nil {
				return nil, err
			}
		}
	} else {
		ck, err := checkpoint.Load(context.Background(), name, checkpoint.WithProgress(checkpoint.TextProgress(stderr)),
			checkpoint.WithLockWait(func(msg string) { fmt.Fprintln(stderr, msg) }))
		if err != nil {
			return nil, err
		}
		defer ck.Close()
		files, cfg, show = ck.Files(), ck.Config(), ck.Name()
	}
	rows := 0
	if cfg != nil {
		rows = cfg.VocabSize
	}
	v, err := vocab.LoadOptions{MaxTokens: rows}.Load(files)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", show, err)
	}
	return v, nil
}

// runEncode is `lenskit encode`: the model's tokenizer over standard input,
// one text per line (split at "\n"; a "\r" before it belongs to the text),
// one JSON object {"ids": [...], "tokens": [...]} per line on standard
// output, tokens being the raw vocabulary entries ("Ġdom", "▁dom", "<0x0A>").
// No special tokens are added, as Hugging Face's encode(...,
// add_special_tokens=False). Only the tokenizer is loaded (see
// loadTokenizer).
func runEncode(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("encode", flag.ContinueOnError)
	model := fs.String("model", "", modelUsage)
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	v, err := loadTokenizer(*model, stderr)
	if err != nil {
		return err
	}
	br := bufio.NewReaderSize(stdin, 1<<16)
	bw := bufio.NewWriterSize(stdout, 1<<16)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	type line struct {
		IDs    []int    `json:"ids"`
		Tokens []string `json:"tokens"`
	}
	var text []byte
	for n := 1; ; n++ {
		text = text[:0]
		var err error
		for {
			var chunk []byte
			chunk, err = br.ReadSlice('\n')
			text = append(text, chunk...)
			if len(text) > maxEncodeLine {
				return fmt.Errorf("standard input: line %d: longer than %d bytes", n, maxEncodeLine)
			}
			if err != bufio.ErrBufferFull {
				break
			}
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("standard input: %w", err)
		}
		if len(text) == 0 && err == io.EOF {
			break
		}
		if text[len(text)-1] == '\n' {
			text = text[:len(text)-1]
		}
		if !utf8.Valid(text) {
			return fmt.Errorf("standard input: line %d: not valid UTF-8 (tokenizers encode Unicode text)", n)
		}
		ids, encErr := v.Encode(string(text))
		if encErr != nil {
			return fmt.Errorf("standard input: line %d: %w", n, encErr)
		}
		out := line{IDs: ids, Tokens: make([]string, len(ids))}
		if out.IDs == nil {
			out.IDs = []int{}
		}
		for i, id := range ids {
			out.Tokens[i] = v.Raw(id)
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
		if br.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	return bw.Flush()
}
