package gomlxengine

import (
	"fmt"
	"testing"
)

func BenchmarkScratchSplit(b *testing.B) {
	for _, sp := range []int{1, 2, 4} {
		b.Run(fmt.Sprint(sp), func(b *testing.B) {
			splitRows = sp
			BenchmarkChunkMax(b)
		})
	}
}
