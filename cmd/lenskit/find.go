package main

import (
	"flag"
	"fmt"
	"io"

	"lenskit.dev/lenskit"
)

// runFind is `lenskit find WORD --model X [--k K] [--json] [filters]`: the
// neurons that write and read the word most and the heads whose OV view
// sends most towards it, exact over every unit (no catalogue needed).
func runFind(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("find", flag.ContinueOnError)
	var c common
	c.register(fs, lenskit.DefaultFindK)
	same := fs.Bool("exclude-same", false, "heads: drop pairs of the same token")
	fuzzy := fs.Bool("exclude-fuzzy", false, "heads: drop pairs of near-identical tokens")
	fs.SetOutput(stderr)
	// The word may come before, between or after the flags.
	var words []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return err
			}
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		if fs.NArg() == 0 {
			break
		}
		words = append(words, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(words) != 1 {
		return fmt.Errorf("%w: find takes one word (quote a phrase), got %d", errUsage, len(words))
	}
	if c.k < 1 {
		return fmt.Errorf("%w: --k must be at least 1", errUsage)
	}
	filters, err := c.filters()
	if err != nil {
		return err
	}
	if *same {
		filters = append(filters, lenskit.ExcludeSame())
	}
	if *fuzzy {
		filters = append(filters, lenskit.ExcludeFuzzy())
	}
	m, err := c.load()
	if err != nil {
		return err
	}
	defer m.Close()
	r := m.Lens(filters...).Find(words[0], c.k)
	if err := r.Err(); err != nil {
		return err
	}
	return emit(stdout, r, c.asJSON)
}
