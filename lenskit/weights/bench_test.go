package weights_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"lenskit.dev/internal/benchdata"
	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/checkpoint/synth"
	"lenskit.dev/lenskit/weights"
)

var (
	mediumOnce sync.Once
	mediumDir  string
	mediumErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if mediumDir != "" {
		os.RemoveAll(mediumDir)
	}
	os.Exit(code)
}

// medium writes the GPT-2-medium-shaped F32 checkpoint (24 layers, d=1024,
// 16 heads, d_ff 4096, vocabulary 51,200; 1.42 GB) once per test process.
func medium(b *testing.B) string {
	mediumOnce.Do(func() {
		mediumDir, mediumErr = os.MkdirTemp("", "lenskit-medium-*")
		if mediumErr != nil {
			return
		}
		start := time.Now()
		mediumErr = synth.Write(mediumDir, synth.Options{Shape: synth.Medium, Seed: 1, Naming: synth.Naming{Prefix: true}})
		fmt.Fprintf(os.Stderr, "wrote GPT-2-medium-shaped checkpoint in %v\n", time.Since(start).Round(time.Millisecond))
	})
	if mediumErr != nil {
		b.Fatal(mediumErr)
	}
	return mediumDir
}

// openResult is what the child process reports.
type openResult struct {
	OpenSeconds float64
	VmRSSkB     int64
	VmHWMkB     int64
	Tensors     int
	// With LENSKIT_OPEN_ACCESS set, the child then asks for the embedding,
	// the unembedding and every layer's FFKeys and reports the memory
	// after that, and whether each came back as aliased BF16.
	AccessRSSkB int64
	AccessBF16  bool
}

// BenchmarkOpenMedium measures opening a GPT-2-medium-shaped checkpoint
// before any projection: checkpoint.Load (config, header parse, mmap) plus
// weights.FromCheckpoint (adapter and shape checks). The budget is ≤ 1 s and
// ≤ 200 MB RSS. ns/op is measured in this process, where the checkpoint was
// just written; the reported child-ms, child-RSS-MB and child-peak-RSS-MB
// come from a fresh process (the test binary re-run as TestOpenChild) that
// does nothing but open, so the writer's memory is not counted.
func BenchmarkOpenMedium(b *testing.B) {
	dir := medium(b)
	ctx := context.Background()
	for b.Loop() {
		c, err := checkpoint.Load(ctx, dir)
		if err != nil {
			b.Fatal(err)
		}
		m, err := weights.FromCheckpoint(c)
		if err != nil {
			b.Fatal(err)
		}
		m.Close()
	}
	b.StopTimer()
	r, err := openInChild(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.OpenSeconds*1e3, "child-ms")
	b.ReportMetric(float64(r.VmRSSkB)/1024, "child-RSS-MB")
	b.ReportMetric(float64(r.VmHWMkB)/1024, "child-peak-RSS-MB")
}

func openInChild(dir string, env ...string) (openResult, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestOpenChild$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), "LENSKIT_OPEN_CHILD="+dir), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return openResult{}, fmt.Errorf("child: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "LENSKIT_OPEN_RESULT "); ok {
			var r openResult
			err := json.Unmarshal([]byte(rest), &r)
			return r, err
		}
	}
	return openResult{}, fmt.Errorf("child printed no result:\n%s", out)
}

// TestOpenChild is the child half of BenchmarkOpenMedium; it does nothing
// unless LENSKIT_OPEN_CHILD names a checkpoint directory.
func TestOpenChild(t *testing.T) {
	dir := os.Getenv("LENSKIT_OPEN_CHILD")
	if dir == "" {
		t.Skip("only run by BenchmarkOpenMedium")
	}
	start := time.Now()
	c, err := checkpoint.Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := weights.FromCheckpoint(c)
	if err != nil {
		t.Fatal(err)
	}
	r := openResult{OpenSeconds: time.Since(start).Seconds(), Tensors: len(c.Names())}
	r.VmRSSkB, r.VmHWMkB = procStatus(t)
	if os.Getenv("LENSKIT_OPEN_ACCESS") != "" {
		r.AccessBF16 = true
		var keep []weights.Matrix
		for _, get := range []func() (weights.Matrix, error){m.Embedding, m.Unembedding} {
			x, err := get()
			if err != nil {
				t.Fatal(err)
			}
			keep = append(keep, x)
		}
		for l := range m.Arch().Layers {
			for rd := range m.Arch().Reads() {
				x, err := m.FFKeys(l, rd)
				if err != nil {
					t.Fatal(err)
				}
				keep = append(keep, x)
			}
		}
		for _, x := range keep {
			r.AccessBF16 = r.AccessBF16 && x.IsBF16()
		}
		r.AccessRSSkB, _ = procStatus(t)
	}
	b, _ := json.Marshal(r)
	fmt.Printf("LENSKIT_OPEN_RESULT %s\n", b)
	m.Close()
}

func procStatus(t *testing.T) (rss, hwm int64) {
	rss, hwm, err := benchdata.Memory()
	if err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	return rss, hwm
}
