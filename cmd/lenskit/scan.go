package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"lenskit.dev/lenskit"
	"lenskit.dev/lenskit/catalogue"
)

// runScan is `lenskit scan --model X -o DIR [--k K] [--shard i/n] [filters]`
// and `lenskit scan merge -o DIR`: the catalogue of a whole model (see
// package catalogue) as Parquet tables and manifest.json in DIR.
func runScan(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "merge" {
		return runScanMerge(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	var c common
	c.register(fs, catalogue.DefaultK)
	out := fs.String("o", "", "output directory (created; a scan stopped before resumes there)")
	shard := fs.String("shard", "", "compute only shard i/n of the layers (0-based, e.g. 3/8) and do not merge; then run 'lenskit scan merge -o DIR'")
	same := fs.Bool("exclude-same", false, "drop pairs of the same token (case and spaces ignored)")
	fuzzy := fs.Bool("exclude-fuzzy", false, "drop pairs of near-identical tokens")
	quiet := fs.Bool("quiet", false, "no line per layer on standard error")
	headsOnly := fs.Bool("heads-only", false, "leave the neurons out: a catalogue of the heads alone")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("%w: scan needs -o DIR", errUsage)
	}
	opts := []lenskit.CatalogueOption{lenskit.CatalogueK(c.k)}
	if *shard != "" {
		s, err := catalogue.ParseShard(*shard)
		if err != nil {
			return fmt.Errorf("%w: %s", errUsage, strings.TrimPrefix(err.Error(), "catalogue: "))
		}
		opts = append(opts, lenskit.CatalogueShard(s.Index, s.Count))
	}
	if c.k < 1 || c.k > catalogue.MaxK {
		return fmt.Errorf("%w: --k must be 1 … %d", errUsage, catalogue.MaxK)
	}
	if !*quiet {
		opts = append(opts, lenskit.CatalogueLog(stderr))
	}
	if *headsOnly {
		opts = append(opts, lenskit.CatalogueHeadsOnly())
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
	cat := m.Lens(filters...).Catalogue(*out, opts...)
	if err := cat.Err(); err != nil {
		return err
	}
	if c.asJSON {
		return printJSON(stdout, cat.Report)
	}
	r := cat.Report
	fmt.Fprintf(stdout, "catalogue of %s in %s: layers %d–%d of %d (%d computed, %d kept, %d recomputed)\n",
		r.Manifest.Model, *out, r.Layers[0], r.Layers[1]-1, r.Manifest.Layers, len(r.Computed), len(r.Skipped), len(r.Recomputed))
	fmt.Fprintf(stdout, "time: heads %s, neurons %s, writing %s, merging %s\n", r.HeadTime.Round(time.Millisecond),
		r.NeuronTime.Round(time.Millisecond), r.WriteTime.Round(time.Millisecond), r.MergeTime.Round(time.Millisecond))
	if r.Merged {
		printTables(stdout, r.Manifest)
	} else {
		fmt.Fprintf(stdout, "shard %s done; when every shard is, run: lenskit scan merge -o %s\n", *shard, *out)
	}
	return nil
}

func runScanMerge(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scan merge", flag.ContinueOnError)
	out := fs.String("o", "", "the catalogue directory the shards wrote into")
	asJSON := fs.Bool("json", false, "print the manifest as JSON")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("%w: scan merge needs -o DIR", errUsage)
	}
	m, err := catalogue.Merge(*out)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, m)
	}
	fmt.Fprintf(stdout, "merged %d layers of %s in %s\n", m.Layers, m.Model, *out)
	printTables(stdout, m)
	return nil
}

func printTables(w io.Writer, m *catalogue.Manifest) {
	if m.Merged == nil {
		return
	}
	for _, name := range catalogue.Tables {
		fi := m.Merged.Tables[name]
		fmt.Fprintf(w, "  %-16s %10d rows  %s\n", name, fi.Rows, humanBytes(fi.Bytes))
	}
	fmt.Fprintf(w, "  %-16s k %d, filter %s, processing %s, weights %s\n", catalogue.ManifestFile, m.K, m.Filter,
		or(m.Processing, "raw"), m.WeightsHash)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
