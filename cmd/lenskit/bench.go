package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"lenskit.dev/internal/benchdata"
	"lenskit.dev/lenskit"
	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/weights"
)

// runBench prints the projection benchmark table of issue 3: it writes
// (once) GPT-2-medium-shaped checkpoints — random weights, and weights whose
// head spectra decay — then measures, in a fresh child process so that the
// writer's memory does not count, opening the model, a neuron's four
// columns, one head's OV and QK top-50 with and without a filter, the dense
// GEMM rates behind them, the fraction of dense FLOPs pruning saves, and a
// whole-model scan.
func runBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	scan := fs.Bool("scan", true, "include the whole-model scan of all heads (minutes)")
	reps := fs.Int("reps", 5, "repetitions of the fast measurements (median reported)")
	child := fs.Bool("child", false, "internal: run the measurements in this process")
	llama := fs.Bool("llama", true, "include the Llama-3-8B-shaped measurements (writes two ≈3 GB checkpoints once)")
	part := fs.String("part", "gpt2", "internal: which measurements the child runs (gpt2, llama)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *reps < 1 {
		return fmt.Errorf("%w: -reps must be ≥ 1", errUsage)
	}
	if !*child {
		kinds := []benchdata.Kind{benchdata.MediumRandom, benchdata.MediumDecaying}
		parts := []string{"gpt2"}
		if *llama {
			kinds = append(kinds, benchdata.Llama8BRandom, benchdata.Llama8BDecaying)
			parts = append(parts, "llama")
		}
		for _, k := range kinds {
			if _, err := benchdata.Ensure(k, stderr); err != nil {
				return err
			}
		}
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		// Each part in a fresh process, so that one's memory does not count
		// in the other's peak.
		for _, p := range parts {
			cmd := exec.Command(exe, "bench", "-child", "-part="+p, "-scan="+strconv.FormatBool(*scan), "-reps="+strconv.Itoa(*reps))
			cmd.Stdout, cmd.Stderr = stdout, stderr
			if err := cmd.Run(); err != nil {
				return err
			}
			fmt.Fprintln(stdout)
		}
		return nil
	}
	b := &bench{reps: *reps, log: stderr}
	var err error
	switch *part {
	case "gpt2":
		err = b.run(*scan)
	case "llama":
		err = b.llama()
	default:
		err = fmt.Errorf("%w: unknown bench part %q", errUsage, *part)
	}
	if err != nil {
		return err
	}
	b.print(stdout)
	return nil
}

// llama measures issue 8's targets on the Llama-3-8B-shaped checkpoints
// (BF16, untied, GQA 32/8, d_head 128, vocabulary 128,256): open, a gated
// neuron's six columns, one head's OV and QK at δ = 1 with decaying and with
// random spectra, and the memory they take — total and anonymous (the BF16
// embedding and unembedding are mapped from the file, never converted).
func (b *bench) llama() error {
	stopAnon := benchdata.PeakAnonymous()
	for _, k := range []benchdata.Kind{benchdata.Llama8BDecaying, benchdata.Llama8BRandom} {
		dir := benchdata.Dir(k)
		fmt.Fprintf(b.log, "measuring on %s\n", dir)
		t0 := time.Now()
		m, err := lenskit.Load(dir, lenskit.WithEngine(project.CPU()))
		if err != nil {
			return err
		}
		what := string(k)
		b.add(what+": open (config, tensors, shapes, 128,256-token vocabulary)", ms(time.Since(t0)), "≤ 1 s", "")
		lens := m.Lens()
		if k == benchdata.Llama8BDecaying {
			t0 = time.Now()
			if r := lens.Neuron(1, 907).Top(30); r.Err() != nil {
				return r.Err()
			}
			b.add(what+": neuron L1/N907 six columns top-30, first call", ms(time.Since(t0)), "", "includes W_E's and W_U's row norms, once per model")
			d, err := b.median(func() error { return lens.Neuron(1, 907).Top(30).Err() })
			if err != nil {
				return err
			}
			b.add(what+": neuron L1/N907 six columns (gate, up, V, negatives) top-30", ms(d), "≤ 100 ms", "median")
		}
		target := "≤ 1 s"
		if k == benchdata.Llama8BRandom {
			target = "≤ 15 s"
		}
		for _, q := range []*lenskit.HeadQuery{lens.OV(1, 7), lens.QK(1, 7).At(1)} {
			t0 := time.Now()
			r := q.Top(50)
			el := time.Since(t0)
			if r.Err() != nil {
				return r.Err()
			}
			st := r.Stats
			b.add(fmt.Sprintf("%s: head %s top-50", what, r.Title()), ms(el), target,
				fmt.Sprintf("first view of the KV group (factors computed), %.2f%% of dense FLOPs", 100*st.Fraction()))
		}
		t0 = time.Now()
		r := lens.OV(1, 6).Top(50) // same KV group as 1.7: W_E·W_V is reused
		if r.Err() != nil {
			return r.Err()
		}
		b.add(fmt.Sprintf("%s: head %s top-50 after 1.7", what, r.Title()), ms(time.Since(t0)), target, "W_E·W_V of the KV group reused")
		m.Close()
	}
	b.add("Llama-3-8B shape: peak RSS (all of the above)", fmt.Sprintf("%d MB", rssMB("VmHWM")), "≤ 3 GB", "includes the mapped BF16 file pages")
	b.add("Llama-3-8B shape: peak anonymous memory", fmt.Sprintf("%d MB", stopAnon()/1024), "≤ 1.5 GB", "RssAnon sampled every 5 ms")
	return nil
}

type row struct {
	what, measured, target, note string
}

type bench struct {
	reps int
	log  io.Writer
	rows []row
}

func (b *bench) add(what, measured, target, note string) {
	b.rows = append(b.rows, row{what, measured, target, note})
	fmt.Fprintf(b.log, "  %s: %s\n", what, measured)
}

func (b *bench) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "measurement\tmeasured\ttarget\tnote\n")
	fmt.Fprintf(tw, "-----------\t--------\t------\t----\n")
	for _, r := range b.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.what, r.measured, r.target, r.note)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%s, GOMAXPROCS=%d, %s\n", runtime.Version(), runtime.GOMAXPROCS(0), cpuModel())
}

// median runs f b.reps times and returns the median duration.
func (b *bench) median(f func() error) (time.Duration, error) {
	var ds []time.Duration
	for range b.reps {
		t0 := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func (b *bench) run(scan bool) error {
	dir := benchdata.Dir(benchdata.MediumRandom)
	fmt.Fprintf(b.log, "measuring on %s\n", dir)

	t0 := time.Now()
	m, err := lenskit.Load(dir, lenskit.WithEngine(project.CPU()))
	if err != nil {
		return err
	}
	open := time.Since(t0)
	b.add("open GPT-2-medium checkpoint (config, tensors, shapes, vocabulary)", ms(open), "≤ 1 s", "")
	b.add("RSS after open", fmt.Sprintf("%d MB", rssMB("VmRSS")), "≤ 200 MB", "")
	arch := m.Arch()

	// Neuron: the first call also computes E's row norms (once per model).
	all := m.Lens()
	alnum := m.Lens(lenskit.Alnum())
	t0 = time.Now()
	if r := all.Neuron(12, 345).Top(30); r.Err() != nil {
		return r.Err()
	}
	b.add("neuron L12/N345 four columns top-30, first call", ms(time.Since(t0)), "", "includes E's row norms, once per model")
	d, err := b.median(func() error { return all.Neuron(12, 345).Top(30).Err() })
	if err != nil {
		return err
	}
	b.add("neuron L12/N345 four columns top-30", ms(d), "≤ 20 ms", "median")
	d, err = b.median(func() error { return alnum.Neuron(12, 345).Top(30).Err() })
	if err != nil {
		return err
	}
	b.add("neuron L12/N345 four columns top-30, alnum", ms(d), "≤ 20 ms", fmt.Sprintf("%d tokens kept", len(alnum.Tokens())))

	// One head, OV and QK, unfiltered and alnum.
	var perHead time.Duration
	var ovStats project.Stats
	var ovTime time.Duration
	for _, c := range []struct {
		name string
		lens *lenskit.Lens
	}{{"", all}, {", alnum", alnum}} {
		for _, kind := range []project.Kind{project.OV, project.QK} {
			q := c.lens.OV(12, 7)
			if kind == project.QK {
				q = c.lens.QK(12, 7)
			}
			t0 := time.Now()
			r := q.Top(50)
			el := time.Since(t0)
			if r.Err() != nil {
				return r.Err()
			}
			st := r.Stats
			b.add(fmt.Sprintf("head 12.7 %v top-50%s", kind, c.name), ms(el), "≤ 2 s per head",
				fmt.Sprintf("%d×%d tokens, %.1f%% of dense FLOPs, %.0f dense-equivalent GFLOP/s", st.Rows, st.Cols, 100*st.Fraction(), st.DenseFLOPs/el.Seconds()/1e9))
			if c.name == "" {
				perHead += el
				if kind == project.OV {
					ovStats, ovTime = st, el
				}
			}
		}
	}
	b.add("head 12.7 OV+QK top-50 (one head, both views)", ms(perHead), "≤ 2 s", "seed: ≈100 s and ≈20 GB per view here")

	if scan {
		t0 := time.Now()
		all, err := all.Scan(50)
		if err != nil {
			return err
		}
		var spent, dense float64
		for _, r := range all {
			spent += r.Stats.SpentFLOPs
			dense += r.Stats.DenseFLOPs
		}
		b.add(fmt.Sprintf("whole model: %d heads × (OV, QK) top-50", arch.Layers*arch.Heads), time.Since(t0).Round(time.Second).String(), "≤ 10 min",
			fmt.Sprintf("%d views, two at a time, %.1f%% of dense FLOPs", len(all), 100*spent/dense))
	}
	b.add("peak RSS: open, neurons, heads, whole-model scan", fmt.Sprintf("%d MB", rssMB("VmHWM")), "≤ 1.5 GB",
		"includes the mapped pages of E and of every attention weight")

	// GEMM rates: the factor products and a plain sgemm of the screening shape.
	if err := b.gemms(m, ovStats, ovTime); err != nil {
		return err
	}
	b.add("peak RSS after the engine comparison", fmt.Sprintf("%d MB", rssMB("VmHWM")), "",
		"GoMLX keeps its own copy of E")
	b.onText(m) // issue 10: the model on text (bench_ontext.go)
	// issue 9: the catalogue and reverse lookup (bench_catalogue.go)
	b.catalogue(scan)
	m.Close()

	// Pruning on decaying spectra: the synthetic medium model and the trained tiny one.
	if err := b.pruning(benchdata.Dir(benchdata.MediumDecaying), "synthetic medium, decaying spectra", scan); err != nil {
		return err
	}
	return b.pruning("", "tiny-pl-gpt2 (trained)", true)
}

// gemms measures the dense products on each engine available.
func (b *bench) gemms(m *lenskit.Model, ov project.Stats, ovTime time.Duration) error {
	e := m.Space.WE
	wv, err := m.Weights.WV(12, 7)
	if err != nil {
		return err
	}
	engines := []project.Engine{project.CPU()}
	if g, err := gomlxEngine(); err == nil {
		engines = append(engines, g)
	} else {
		fmt.Fprintf(b.log, "  GoMLX engine unavailable: %v\n", err)
	}
	// A plain sgemm of the screening shape: 1024 rows of A against all of B,
	// into a preallocated output where the engine allows it.
	v, err := m.Space.OV(12, 7)
	if err != nil {
		return err
	}
	blk := weights.Matrix{Rows: 1024, Cols: v.A.Cols, Data: v.A.Data[:1024*v.A.Cols]}
	bt := v.B.T()
	out := weights.NewMatrix(blk.Rows, bt.Cols)
	type into interface {
		MatMulInto(x, w, out weights.Matrix) error
	}
	plainGEMM := func(eng project.Engine) error {
		if e, ok := eng.(into); ok {
			return e.MatMulInto(blk, bt, out)
		}
		_, err := eng.MatMul(blk, bt)
		return err
	}
	for _, eng := range engines {
		if _, err := eng.MatMul(e, wv); err != nil { // warm-up (compiles graphs)
			return err
		}
		d, err := b.median(func() error { _, err := eng.MatMul(e, wv); return err })
		if err != nil {
			return err
		}
		fl := 2 * float64(e.Rows) * float64(e.Cols) * float64(wv.Cols)
		b.add(fmt.Sprintf("factor GEMM E·W_V %d×%d·%d×%d [%s]", e.Rows, e.Cols, wv.Rows, wv.Cols, eng.Name()),
			fmt.Sprintf("%.0f GFLOP/s", fl/d.Seconds()/1e9), "", ms(d))
		if err := plainGEMM(eng); err != nil {
			return err
		}
		d, err = b.median(func() error { return plainGEMM(eng) })
		if err != nil {
			return err
		}
		fl = 2 * float64(blk.Rows) * float64(blk.Cols) * float64(bt.Cols)
		plain := fl / d.Seconds() / 1e9
		b.add(fmt.Sprintf("plain sgemm %d×%d·%d×%d [%s]", blk.Rows, blk.Cols, bt.Rows, bt.Cols, eng.Name()),
			fmt.Sprintf("%.0f GFLOP/s", plain), "", "writes the full product")
		eff := ov.DenseFLOPs / ovTime.Seconds() / 1e9
		b.add(fmt.Sprintf("head OV search vs plain sgemm [%s]", eng.Name()), fmt.Sprintf("%.0f%%", 100*eff/plain), "",
			fmt.Sprintf("%.0f dense-equivalent GFLOP/s (int8 screening + exact rescoring, whole search incl. factors)", eff))
	}
	return nil
}

// pruning reports the fraction of dense FLOPs the search spends on a model
// whose head spectra decay.
func (b *bench) pruning(dir, what string, all bool) error {
	m, err := lenskit.Load(dir, lenskit.WithEngine(project.CPU()))
	if err != nil {
		return err
	}
	defer m.Close()
	a := m.Arch()
	lens := m.Lens()
	var fr []float64
	var spent, dense float64
	t0 := time.Now()
	layers := []int{0, a.Layers / 2, a.Layers - 1}
	if all {
		layers = nil
		for l := range a.Layers {
			layers = append(layers, l)
		}
	}
	for _, l := range layers {
		for h := range a.Heads {
			for _, q := range []*lenskit.HeadQuery{lens.OV(l, h), lens.QK(l, h)} {
				r := q.Top(50)
				if r.Err() != nil {
					return r.Err()
				}
				fr = append(fr, r.Stats.Fraction())
				spent += r.Stats.SpentFLOPs
				dense += r.Stats.DenseFLOPs
			}
		}
	}
	slices.Sort(fr)
	b.add(fmt.Sprintf("%s: %d views top-50", what, len(fr)), time.Since(t0).Round(time.Millisecond).String(), "",
		fmt.Sprintf("dense FLOPs spent: %.2f%% overall, median %.2f%%, max %.2f%%", 100*spent/dense, 100*fr[len(fr)/2], 100*fr[len(fr)-1]))
	return nil
}

// rssMB reads a memory figure of this process, "VmRSS" or "VmHWM", in MB.
func rssMB(field string) int {
	rss, hwm, err := benchdata.Memory()
	if err != nil {
		return -1
	}
	if field == "VmHWM" {
		return int(hwm / 1024)
	}
	return int(rss / 1024)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return runtime.GOARCH
}
