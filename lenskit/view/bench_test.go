package view

import (
	"fmt"
	"testing"

	"lenskit.dev/lenskit/project"
)

// BenchmarkEChartsPayload is the one-off cost a process pays before its
// first chart: gzip (best compression) and base64 of echarts.min.js.
func BenchmarkEChartsPayload(b *testing.B) {
	js := echartsJS()
	b.SetBytes(int64(len(js)))
	for b.Loop() {
		compressPayload(js)
	}
}

// BenchmarkHeatmapHTML renders a 50 × 50 top-pairs map (the payload is
// already cached, as for every chart after a process's first).
func BenchmarkHeatmapHTML(b *testing.B) {
	h := LayerHeadMap("50 × 50", 50, 50, func(l, h int) (float64, string) {
		return float64(l*h%17) - 8, fmt.Sprintf("·tok%d → ·tok%d", l, h)
	})
	echartsPayload()
	var n int
	for b.Loop() {
		n = len(h.HTML())
	}
	b.ReportMetric(float64(n), "bytes/chart")
}

// BenchmarkPairsHTML and BenchmarkPairsText render a top-1000 pair list.
func benchPairs() (*PairTable, int) {
	r := &project.PairTop{Head: project.HeadID{Layer: 3, Head: 7}, K: 1000}
	for i := range 1000 {
		r.Pairs = append(r.Pairs, project.Pair{Source: i, Target: 999 - i, Score: float32(1000 - i)})
	}
	return Pairs(benchTokens{}, r), 1000
}

type benchTokens struct{}

func (benchTokens) Raw(id int) string     { return fmt.Sprintf("Ġtok%d", id) }
func (benchTokens) Text(id int) string    { return fmt.Sprintf(" tok%d", id) }
func (benchTokens) Display(id int) string { return fmt.Sprintf("tok%d", id) }

func BenchmarkPairsHTML(b *testing.B) {
	t, _ := benchPairs()
	for b.Loop() {
		_ = t.HTML()
	}
}

func BenchmarkPairsText(b *testing.B) {
	t, _ := benchPairs()
	for b.Loop() {
		_ = t.String()
	}
}
