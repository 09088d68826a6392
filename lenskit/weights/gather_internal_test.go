package weights

import "testing"

// The tiled transpose equals the definition for shapes that are and are not
// multiples of the tile and of its four-row step.
func TestTransposeTiles(t *testing.T) {
	for _, s := range [][2]int{{1, 1}, {3, 5}, {4, 4}, {130, 7}, {257, 131}, {5, 300}, {128, 256}} {
		rows, cols := s[0], s[1]
		src := make([]uint16, rows*cols)
		for i := range src {
			src[i] = uint16(i)
		}
		dst := make([]uint16, len(src))
		transposeTiles(src, dst, rows, cols)
		for i := range rows {
			for j := range cols {
				if dst[j*rows+i] != src[i*cols+j] {
					t.Fatalf("%d×%d: dst[%d][%d] = %d, want %d", rows, cols, j, i, dst[j*rows+i], src[i*cols+j])
				}
			}
		}
	}
}

// BenchmarkTransposeDownProj is Llama 3 8B's down_proj (4,096 × 14,336
// BF16) made neuron-major, into a reused buffer: the copy alone, without the
// fresh pages FFValues also pays for.
func BenchmarkTransposeDownProj(b *testing.B) {
	rows, cols := 4096, 14336
	src := make([]uint16, rows*cols)
	dst := make([]uint16, len(src))
	b.SetBytes(int64(2 * len(src)))
	for b.Loop() {
		transposeTiles(src, dst, rows, cols)
	}
}
