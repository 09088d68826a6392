package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"lenskit.dev/internal/benchdata"
	"lenskit.dev/lenskit"
	"lenskit.dev/lenskit/project"
)

// catalogue adds the rows of issue 9 to the benchmark table: the whole
// catalogue of the GPT-2-medium-shaped random model (768 head views' top
// and bottom 50 with their statistics, 98,304 neurons' columns, the tables
// written), the heads of the decaying model, a reverse lookup, and the
// peak memory of all that. They are measured in a process of their own
// (`lenskit bench-catalogue`), so that the peak is the catalogue's; scan
// false skips them (minutes). A failure is reported as a row.
func (b *bench) catalogue(scan bool) {
	if !scan {
		return
	}
	fail := func(err error) { b.add("catalogue benchmark", "failed", "", err.Error()) }
	exe, err := os.Executable()
	if err != nil {
		fail(err)
		return
	}
	cmd := exec.Command(exe, "bench-catalogue")
	cmd.Stderr = b.log
	out, err := cmd.StdoutPipe()
	if err != nil {
		fail(err)
		return
	}
	if err := cmd.Start(); err != nil {
		fail(err)
		return
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if f := strings.Split(sc.Text(), "\t"); len(f) == 5 && f[0] == "row" {
			b.rows = append(b.rows, row{f[1], f[2], f[3], f[4]})
		}
	}
	if err := cmd.Wait(); err != nil {
		fail(err)
	}
}

// runBenchCatalogue is the measuring process: one "row\twhat\tmeasured\t
// target\tnote" line per result on standard output.
func runBenchCatalogue(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench-catalogue", flag.ContinueOnError)
	keep := fs.String("o", "", "keep the catalogues in this directory (default: a temporary one, removed)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	row := func(what, measured, target, note string) {
		fmt.Fprintf(stdout, "row\t%s\t%s\t%s\t%s\n", what, measured, target, note)
		fmt.Fprintf(stderr, "  %s: %s\n", what, measured)
	}
	for _, k := range []benchdata.Kind{benchdata.MediumRandom, benchdata.MediumDecaying} {
		if _, err := benchdata.Ensure(k, stderr); err != nil {
			return err
		}
	}
	root := *keep
	if root == "" {
		d, err := os.MkdirTemp("", "lenskit-bench-catalogue-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		root = d
	}
	dur := func(d time.Duration) string {
		if d >= 10*time.Second {
			return d.Round(time.Second).String()
		}
		return d.Round(10 * time.Millisecond).String()
	}

	m, err := lenskit.Load(benchdata.Dir(benchdata.MediumRandom), lenskit.WithEngine(project.CPU()))
	if err != nil {
		return err
	}
	defer m.Close()
	a := m.Arch()
	t0 := time.Now()
	c := m.Lens().Catalogue(filepath.Join(root, "random"), lenskit.CatalogueK(50))
	if err := c.Err(); err != nil {
		return err
	}
	total := time.Since(t0)
	r := c.Report
	views := a.Layers * a.Heads * 2
	row(fmt.Sprintf("catalogue, random: %d heads × (OV, QK) top+bottom 50 with statistics", a.Layers*a.Heads), dur(r.HeadTime), "≤ 6 min",
		fmt.Sprintf("%d views, one dual search each (%.2f s per view)", views, r.HeadTime.Seconds()/float64(views)))
	row(fmt.Sprintf("catalogue, random: all %d neurons, columns top 50 and statistics", a.Layers*a.DFF), dur(r.NeuronTime), "≤ 30 s",
		fmt.Sprintf("%d directions over %d tokens, int8 screening", a.Layers*a.DFF*(len(a.Reads())+1), m.Vocab.Len()))
	var bytes int64
	var rows []string
	for _, name := range []string{"heads.parquet", "pairs.parquet", "neurons.parquet", "tokens.parquet"} {
		fi := c.Manifest.Merged.Tables[name]
		bytes += fi.Bytes
		rows = append(rows, fmt.Sprintf("%s %d", strings.TrimSuffix(name, ".parquet"), fi.Rows))
	}
	row("catalogue, random: writing parts and merging the tables", dur(r.WriteTime+r.MergeTime), "",
		fmt.Sprintf("%.0f MB; rows: %s", float64(bytes)/1e6, strings.Join(rows, ", ")))
	row("catalogue, random: the whole scan, tables written", dur(total), "", "heads + neurons + hashing the weights + writing")
	// Resuming a complete catalogue: every part verified, kept, merged again.
	t0 = time.Now()
	if again := m.Lens().Catalogue(filepath.Join(root, "random"), lenskit.CatalogueK(50)); again.Err() != nil {
		return again.Err()
	}
	row("catalogue, random: a second run (all parts verified and kept)", dur(time.Since(t0)), "", "SHA-256 of every part, merge")

	// Reverse lookup: the first call, then the median of five.
	word := "Warszawa"
	t0 = time.Now()
	f := m.Find(word, 20)
	if f.Err() != nil {
		return f.Err()
	}
	first := time.Since(t0)
	var ds []time.Duration
	for range 5 {
		t0 = time.Now()
		if f := m.Find(word, 20); f.Err() != nil {
			return f.Err()
		}
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	row(fmt.Sprintf("reverse lookup of %q (%d forms' tokens), top 20 of each list", word, len(f.Forms)), dur(ds[2]), "≤ 1 s",
		fmt.Sprintf("first call %s; exact over %d neurons × 2 and %d heads", dur(first), a.Layers*a.DFF, a.Layers*a.Heads))
	row("peak RSS: the random model's catalogue and lookups", fmt.Sprintf("%d MB", rssMB("VmHWM")), "≤ 2 GB",
		"includes the checkpoint's mapped pages (1.4 GB; hashing the weights reads them all)")
	m.Close()

	dm, err := lenskit.Load(benchdata.Dir(benchdata.MediumDecaying), lenskit.WithEngine(project.CPU()))
	if err != nil {
		return err
	}
	defer dm.Close()
	dc := dm.Lens().Catalogue(filepath.Join(root, "decaying"), lenskit.CatalogueK(50), lenskit.CatalogueHeadsOnly())
	if err := dc.Err(); err != nil {
		return err
	}
	row("catalogue, decaying spectra: heads top+bottom 50 with statistics", dur(dc.Report.HeadTime), "≤ 1 min",
		fmt.Sprintf("%d views (heads-only catalogue; tables written in %s)", views, dur(dc.Report.WriteTime+dc.Report.MergeTime)))
	row("peak RSS: both models' catalogues and the lookups", fmt.Sprintf("%d MB", rssMB("VmHWM")), "",
		"both checkpoints' mapped pages (2 × 1.4 GB) count while both were open")
	return nil
}
