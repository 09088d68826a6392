// Command lkbench-open measures how long opening a GPT-2-medium-shaped
// checkpoint takes and how much memory it costs, before any projection, and
// prints a table.
//
// It writes the checkpoint itself (24 layers, d=1024, 16 heads, d_ff 4096,
// vocabulary 51,200, random F32: 1.42 GB) with lenskit/checkpoint/synth, then
// runs itself once per measurement in a fresh process that only opens the
// checkpoint (checkpoint.Load + weights.FromCheckpoint, which checks every
// shape against config.json) and reports the time and VmRSS/VmHWM from
// /proc/self/status, so neither the writer's memory nor an earlier run's
// page-table state is counted. The budget stated for lenskit is ≤ 1 s and
// ≤ 200 MB RSS.
//
// Usage:
//
//	lkbench-open [-dir DIR] [-runs 5] [-dtype F32] [-format safetensors|pytorch] [-shards 1] [-keep] [-touch]
//
// With -dir naming an existing checkpoint it is opened as is; otherwise one
// is written into DIR (or a temporary directory, removed afterwards unless
// -keep). -touch also reads the whole unembedding E after opening and
// reports the memory then, to show what a first projection pages in.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"lenskit.dev/internal/benchdata"
	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/checkpoint/synth"
	"lenskit.dev/lenskit/weights"
)

type result struct {
	OpenMS       float64
	RSSMB        float64
	HWMMB        float64
	TouchMS      float64 `json:",omitempty"`
	TouchRSSMB   float64 `json:",omitempty"`
	TouchSum     float64 `json:",omitempty"` // keeps the read from being optimized away
	Tensors      int
	Format, Arch string
}

func main() {
	dir := flag.String("dir", "", "checkpoint directory (written if it does not exist)")
	runs := flag.Int("runs", 5, "fresh-process measurements")
	dtype := flag.String("dtype", "F32", "dtype of a written checkpoint: F32, F16, BF16")
	format := flag.String("format", "safetensors", "format of a written checkpoint: safetensors or pytorch")
	shards := flag.Int("shards", 1, "shards of a written checkpoint")
	keep := flag.Bool("keep", false, "keep a checkpoint written into a temporary directory")
	touch := flag.Bool("touch", false, "also read all of E after opening")
	child := flag.String("child", "", "internal: open this directory and print a JSON result")
	flag.Parse()

	if *child != "" {
		if err := measure(*child, *touch); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := run(*dir, *runs, checkpoint.DType(*dtype), *format, *shards, *keep, *touch); err != nil {
		fmt.Fprintln(os.Stderr, "lkbench-open:", err)
		os.Exit(1)
	}
}

func run(dir string, runs int, dtype checkpoint.DType, format string, shards int, keep, touch bool) error {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "lkbench-open-*")
		if err != nil {
			return err
		}
		dir = tmp
		if !keep {
			defer os.RemoveAll(tmp)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, checkpoint.ConfigFile)); err != nil {
		o := synth.Options{Shape: synth.Medium, DType: dtype, Seed: 1, Shards: shards, Naming: synth.Naming{Prefix: true}}
		if format == "pytorch" {
			o.Format = synth.PyTorch
		}
		start := time.Now()
		if err := synth.Write(dir, o); err != nil {
			return err
		}
		fmt.Printf("wrote %s in %v\n", dir, time.Since(start).Round(time.Millisecond))
	}
	var size int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			size += fi.Size()
		}
		return nil
	})
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var rows []result
	for range runs {
		args := []string{"-child", dir}
		if touch {
			args = append(args, "-touch")
		}
		out, err := exec.Command(self, args...).Output()
		if err != nil {
			return fmt.Errorf("child: %w", err)
		}
		var r result
		if err := json.Unmarshal(bytes.TrimSpace(out), &r); err != nil {
			return fmt.Errorf("child output %q: %w", out, err)
		}
		rows = append(rows, r)
	}
	fmt.Printf("\n%s: %s, %s, %d tensors, %.2f GB on disk\n\n", dir, rows[0].Arch, rows[0].Format, rows[0].Tensors, float64(size)/1e9)
	fmt.Printf("| run | open (Load + FromCheckpoint) | VmRSS after open | VmHWM (peak) |")
	if touch {
		fmt.Printf(" read all of E | VmRSS after E |")
	}
	fmt.Printf("\n|----:|-----:|-----:|-----:|")
	if touch {
		fmt.Printf("-----:|-----:|")
	}
	fmt.Println()
	for i, r := range rows {
		fmt.Printf("| %d | %.2f ms | %.1f MB | %.1f MB |", i+1, r.OpenMS, r.RSSMB, r.HWMMB)
		if touch {
			fmt.Printf(" %.0f ms | %.1f MB |", r.TouchMS, r.TouchRSSMB)
		}
		fmt.Println()
	}
	return nil
}

func measure(dir string, touch bool) error {
	start := time.Now()
	c, err := checkpoint.Load(context.Background(), dir)
	if err != nil {
		return err
	}
	m, err := weights.FromCheckpoint(c)
	if err != nil {
		return err
	}
	defer m.Close()
	r := result{OpenMS: float64(time.Since(start).Microseconds()) / 1e3, Tensors: len(c.Names()), Format: c.Format(), Arch: m.Arch().String()}
	r.RSSMB, r.HWMMB = status()
	if touch {
		t := time.Now()
		e, err := m.Unembedding()
		if err != nil {
			return err
		}
		var s float32
		for _, v := range e.Data {
			s += v
		}
		r.TouchMS = float64(time.Since(t).Microseconds()) / 1e3
		r.TouchRSSMB, _ = status()
		r.TouchSum = float64(s)
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// status returns VmRSS and VmHWM in MB (-1 when unknown).
func status() (rss, hwm float64) {
	r, h, err := benchdata.Memory()
	if err != nil {
		return -1, -1
	}
	return float64(r) / 1024, float64(h) / 1024
}
