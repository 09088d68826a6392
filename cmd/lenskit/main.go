// Command lenskit reads a transformer language model's weights in
// vocabulary space.
//
// Usage:
//
//	lenskit neuron --layer L --index I [flags]   the four-column projection of neuron L<L>/N<I>
//	lenskit ov --layer L --head H [flags]        top source → target pairs of head L.H's W_OV
//	lenskit qk --layer L --head H [--offset D]   top query ↔ key pairs of head L.H's W_QK (at offset δ = D)
//	lenskit info [--json]                        the model's family, shape, rotary, norms, tokenizer
//	lenskit tokens --corpus FILE [--top N] -o F  build a token list from text files
//	lenskit scan -o DIR [--k K] [--shard i/n]    the catalogue of every head and neuron: Parquet + manifest.json
//	lenskit scan merge -o DIR                    join a sharded scan's parts into the tables
//	lenskit find WORD [--k K] [--json]           neurons and heads that write or read a word most (exact)
//	lenskit notes <command> ...                  findings about heads and neurons (lenskit notes help)
//	lenskit bench [flags]                        the projection benchmark table
//	lenskit lens [--json] [--bos] "TEXT"         the logit lens of a text
//
// Common flags: --model (hub id, directory, or empty for the embedded tiny
// Polish GPT-2; tiny-pl-llama for the embedded Llama), --k, --json, the
// weight processing --fold-norms, --fold-final-norm, --center-unembed, and the token filters --ascii, --alnum,
// --no-brackets, --tokens FILE (a token list written by `lenskit tokens`),
// --corpus FILE (repeatable; tokens seen in the text) with --top N; for
// heads also --bottom, --exclude-same and --exclude-fuzzy.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks errors that are the caller's fault; they exit with 2.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	var err error
	switch args[0] {
	case "neuron":
		err = runNeuron(args[1:], stdout, stderr)
	case "ov", "qk":
		err = runHead(args[0], args[1:], stdout, stderr)
	case "tokens":
		err = runTokens(args[1:], stdout, stderr)
	case "encode":
		err = runEncode(args[1:], stdout, stderr)
	case "info":
		err = runInfo(args[1:], stdout, stderr)
	case "notes":
		err = runNotes(args[1:], stdout, stderr)
	case "scan":
		err = runScan(args[1:], stdout, stderr)
	case "find":
		err = runFind(args[1:], stdout, stderr)
	case "bench-catalogue": // the measuring process of bench's catalogue rows
		err = runBenchCatalogue(args[1:], stdout, stderr)
	case "bench":
		err = runBench(args[1:], stdout, stderr)
	case "lens":
		err = runLens(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "lenskit: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "lenskit:", message(err))
		return 2
	default:
		fmt.Fprintln(stderr, "lenskit:", message(err))
		return 1
	}
}

// message is the error's text without a leading "lenskit: " (the facade's
// own errors carry it; the command adds it to every line).
func message(err error) string { return strings.TrimPrefix(err.Error(), "lenskit: ") }

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: lenskit <command> [flags]

  neuron --layer L --index I   four-column vocabulary projection of MLP neuron L<L>/N<I>
  ov --layer L --head H        top source → target pairs of head L.H's W_OV
  qk --layer L --head H        top query ↔ key pairs of head L.H's W_QK (--offset δ for rotary models)
  info                         the model's family, shape, rotary, norms, tokenizer (--json)
  tokens --corpus FILE -o OUT  build a token list from text files
  encode [--model M]           token ids of each line of standard input, as JSON lines
  scan -o DIR [--k K]          catalogue of every head and neuron as Parquet tables (--shard i/n; scan merge -o DIR)
  find WORD                    neurons and heads that write or read a word most, exact (--k, --json)
  notes <command>              findings about heads and neurons (lenskit notes help)
  bench                        projection benchmark table
  lens "TEXT"                  logit lens of a text: top tokens of every residual row (--json, --bos)

Run 'lenskit <command> -h' for a command's flags.
`)
}
