// Package kernel holds the register-tiled inner loops of lenskit's CPU
// engine: an int8 screening tile (12 rows × 32 columns, AVX512-VNNI), an
// f32 GEMM tile (6 rows × 64 columns, AVX-512 FMA) and, for matrices held
// as bfloat16 (bf16.go), a VDPBF16PS GEMM tile (6 × 64, AVX512_BF16) and a
// streaming GEMV that converts on load. Each has a portable Go twin; the
// assembly is used only when the CPU has the instructions.
//
// Why assembly and not simd/archsimd: on this project's machines (AMD EPYC,
// Zen 4) an archsimd 6×32 f32 FMA tile ran at 25–28 GFLOP/s per core, a
// quarter of the 114 GFLOP/s FMA peak measured on the same core: the Go
// register allocator uses 15 vector registers and emits the 213 form of FMA,
// so every accumulation costs a 512-bit register move. The assembly tiles
// use 26–29 of the 32 registers with the accumulate-in-place (231) forms.
package kernel

import "golang.org/x/sys/cpu"

// Tile shapes.
const (
	I8Rows  = 12 // rows of A per int8 tile
	I8Cols  = 32 // columns of B per int8 tile
	F32Rows = 6  // rows of A per f32 tile
	F32Cols = 64 // packed columns of B per f32 tile
)

// HasAVX512 reports whether the f32 assembly tile (and the BF16 GEMV and
// conversion) runs on this CPU; HasVNNI whether the int8 one does.
var (
	HasAVX512 = useAsm && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL
	HasVNNI   = HasAVX512 && cpu.X86.HasAVX512VNNI
)

// DotI8 computes one 12×32 screening tile. The panels are packed in groups of
// four coordinates ("quads") so that one VPDPBUSD adds four products:
//
//	a: for each quad q, for each row r < 12: a[r][4q:4q+4]            (48 bytes per quad)
//	b: for each quad q, for each column c < 32: b[c][4q:4q+4] + 128  (128 bytes per quad)
//
// B is stored offset by +128 as unsigned bytes because the instruction
// multiplies unsigned by signed bytes; corr[r] must be 128·Σ_k a[r][k] so
// that out[r*32+c] = Σ_k a[r][k]·b[c][k] exactly (int32 cannot overflow for
// kq·4 ≤ 16384 coordinates). The return value is the tile's maximum.
func DotI8(a []int8, b []uint8, kq int, corr *[I8Rows]int32, out *[I8Rows * I8Cols]int32) int32 {
	if kq <= 0 {
		clear(out[:])
		m := int32(-1 << 31)
		for r := range I8Rows {
			for c := range I8Cols {
				out[r*I8Cols+c] = -corr[r]
				m = max(m, -corr[r])
			}
		}
		return m
	}
	_ = a[I8Rows*4*kq-1]
	_ = b[I8Cols*4*kq-1]
	if HasVNNI {
		return dotI8x12x32(&a[0], &b[0], kq, &corr[0], &out[0])
	}
	return dotI8Generic(a, b, kq, corr, out)
}

func dotI8Generic(a []int8, b []uint8, kq int, corr *[I8Rows]int32, out *[I8Rows * I8Cols]int32) int32 {
	m := int32(-1 << 31)
	for r := range I8Rows {
		for c := range I8Cols {
			var s int32
			for q := range kq {
				ar := a[q*48+r*4 : q*48+r*4+4]
				bc := b[q*128+c*4 : q*128+c*4+4]
				s += int32(ar[0])*int32(bc[0]) + int32(ar[1])*int32(bc[1]) +
					int32(ar[2])*int32(bc[2]) + int32(ar[3])*int32(bc[3])
			}
			s -= corr[r]
			out[r*I8Cols+c] = s
			m = max(m, s)
		}
	}
	return m
}

// Sgemm computes out[r*ldo+c] = Σ_k a[r*lda+k]·b[k*64+c] for r < 6, c < 64:
// six rows of a row-major A (read in place, no packing) against one panel
// of B packed as k rows of 64 floats. Sums run over k in order, so results
// do not depend on the CPU path beyond FMA rounding.
func Sgemm(a []float32, lda int, b []float32, k int, out []float32, ldo int) {
	if k <= 0 {
		for r := range F32Rows {
			clear(out[r*ldo : r*ldo+F32Cols])
		}
		return
	}
	_ = a[(F32Rows-1)*lda+k-1]
	_ = b[k*F32Cols-1]
	_ = out[(F32Rows-1)*ldo+F32Cols-1]
	if HasAVX512 {
		sgemm6x64(&a[0], lda*4, &b[0], k, &out[0], ldo*4)
		return
	}
	sgemmGeneric(a, lda, b, k, out, ldo)
}

func sgemmGeneric(a []float32, lda int, b []float32, k int, out []float32, ldo int) {
	var acc [F32Cols]float32
	for r := range F32Rows {
		clear(acc[:])
		row := a[r*lda : r*lda+k]
		for kk, av := range row {
			bk := b[kk*F32Cols : (kk+1)*F32Cols]
			for c := range acc {
				acc[c] += av * bk[c]
			}
		}
		copy(out[r*ldo:r*ldo+F32Cols], acc[:])
	}
}

// Gemv2 computes, for the 4 rows e[r*lde : r*lde+d] of a row-major matrix,
// out[2r] = row·x and out[2r+1] = row·y: the two projections of an MLP
// neuron (key and value) share one pass over the unembedding. The sums are
// float32 in an order that depends on the CPU path; callers that need exact
// scores rescore their candidates (see project.Neuron).
func Gemv2(e []float32, lde int, x, y []float32, out *[8]float32) {
	d := len(x)
	_ = e[3*lde+d-1]
	_ = y[d-1]
	if HasAVX512 && d%16 == 0 && d > 0 {
		sgemv4x2(&e[0], lde*4, &x[0], &y[0], d, &out[0])
		return
	}
	for r := range 4 {
		row := e[r*lde : r*lde+d]
		var sx, sy float32
		for k, v := range row {
			sx += v * x[k]
			sy += v * y[k]
		}
		out[2*r], out[2*r+1] = sx, sy
	}
}
