package main

import (
	"flag"
	"fmt"
	"io"

	"lenskit.dev/lenskit"
)

// runLens prints the logit lens of a text: every residual row (after the
// embedding, after each attention and MLP sub-layer) read through the
// final norm applied to that row's own residual and the unembedding — a
// table of top tokens, or with --json the contract
// {"ids", "tokens", "rows": [{"name", "positions": [{"top": [{"id", "token", "p"}]}]}]}.
func runLens(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lens", flag.ContinueOnError)
	fs.SetOutput(stderr)
	model := fs.String("model", "", modelUsage)
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	bos := fs.Bool("bos", false, "put the tokenizer's beginning-of-sequence token before the text (none is added otherwise)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: lenskit lens [--model M] [--json] [--bos] "TEXT"`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	switch fs.NArg() {
	case 0:
		return fmt.Errorf("%w: lens needs the text to run the model on", errUsage)
	case 1:
	default:
		return fmt.Errorf("%w: lens takes one text (quote it); got %d arguments", errUsage, fs.NArg())
	}
	text := fs.Arg(0)
	if text == "" {
		return fmt.Errorf("%w: %v", errUsage, lenskit.ErrEmptyPrompt)
	}
	m, err := lenskit.Load(*model)
	if err != nil {
		return err
	}
	defer m.Close()
	var opts []lenskit.TextOption
	if *bos {
		opts = append(opts, lenskit.WithBOS())
	}
	r := m.LogitLens(text, opts...)
	if err := r.Err(); err != nil {
		return err
	}
	for _, w := range r.Prompt.Warnings {
		fmt.Fprintln(stderr, "lenskit: warning:", w)
	}
	if *asJSON {
		return emit(stdout, r, true)
	}
	// The tables, without the warnings (already on standard error).
	_, err = io.WriteString(stdout, r.View().String())
	return err
}
