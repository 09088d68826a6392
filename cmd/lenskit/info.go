package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"lenskit.dev/lenskit"
)

// runInfo prints what lenskit read from a model: family, shape, rotary,
// norms, tokenizer — as a table, or with --json the object scripts read
// (fields documented at lenskit.Info).
func runInfo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("info", flag.ContinueOnError)
	model := fs.String("model", "", modelUsage)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	m, err := lenskit.Load(*model)
	if err != nil {
		return err
	}
	defer m.Close()
	in := m.Info()
	if *asJSON {
		b, err := json.MarshalIndent(in, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	_, err = io.WriteString(stdout, in.String())
	return err
}
