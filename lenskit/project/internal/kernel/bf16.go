package kernel

import (
	"fmt"
	"math"

	"golang.org/x/sys/cpu"
)

// BF16 kernels. Today's checkpoints store their large matrices (E, W_U, the
// MLP matrices) as bfloat16, and lenskit keeps those as raw bits aliasing
// the mapped file (weights.Matrix.BF16), so the engine must multiply them
// without a float32 copy. Two kernels do:
//
//   - SgemmBF16, a 6×64 register tile of VDPBF16PS (AVX512_BF16) for
//     E·W with W's values themselves bfloat16 (raw weights of a BF16
//     checkpoint): one instruction multiplies 16 pairs of bfloat16 and adds
//     them into 16 float32 lanes, twice the multiply-adds of an f32 FMA,
//     with both operands read as 16 bits.
//   - GemvBF16, a streaming product of E's rows with up to 8 float32
//     directions, converting each 16-value chunk on load (VPMOVZXWD,
//     VPSLLD) and accumulating with f32 FMAs: bounded by memory bandwidth,
//     not arithmetic.
//
// Go's assembler does not know VDPBF16PS; the generator emits its bytes.

// Shapes of the BF16 kernels.
const (
	BF16Rows    = 6  // rows of A per BF16 tile
	BF16Cols    = 64 // packed columns of B per BF16 tile
	GemvMaxDirs = 8  // most directions one GemvBF16 pass takes
)

// HasBF16 reports whether the BF16 GEMM tile runs in assembly. Without it
// SgemmBF16 runs its Go twin, which computes the same bits but is much
// slower than converting A to float32 and using Sgemm; callers choose.
var HasBF16 = HasAVX512 && cpu.X86.HasAVX512BF16

// minNormal32 is the smallest normal float32; VDPBF16PS reads smaller
// magnitudes as zero and flushes smaller results to zero.
const minNormal32 = 0x1p-126

// ConvertBF16 writes the float32 value of each bfloat16 in src to dst
// (len(dst) ≥ len(src)). The conversion is exact: a bfloat16 is the top
// half of a float32.
func ConvertBF16(dst []float32, src []uint16) {
	n := len(src)
	dst = dst[:n]
	i := 0
	if HasAVX512 && n >= 64 {
		i = n &^ 63
		cvtBF16(&dst[0], &src[0], i)
	}
	for ; i < n; i++ {
		dst[i] = math.Float32frombits(uint32(src[i]) << 16)
	}
}

// IsBF16 reports whether v is exactly a bfloat16 value that VDPBF16PS reads
// as itself: the low 16 bits are zero and v is not subnormal (the
// instruction reads subnormal inputs as zero). NaN and ±Inf qualify.
func IsBF16(v float32) bool {
	b := math.Float32bits(v)
	return b&0xffff == 0 && (b&0x7f800000 != 0 || b&0x7fffffff == 0)
}

// BF16PanelLen is the length of one B panel packed by PackBF16 for d
// coordinates: ⌈d/2⌉ pairs × 64 columns × 2 values.
func BF16PanelLen(d int) int { return (d + 1) / 2 * BF16Cols * 2 }

// PackBF16 packs columns [c0, c0+64) of the d × m row-major matrix w into
// dst (len ≥ BF16PanelLen(d)) for SgemmBF16: for each pair p of
// coordinates (2p, 2p+1), for each column c, the bfloat16 bits of
// w[2p][c0+c] then of w[2p+1][c0+c]. Columns at or past m, and the second
// half of the last pair when d is odd, are +0. It reports false when some
// value fails IsBF16; dst is then partly written and must not be used.
func PackBF16(dst []uint16, w []float32, d, m, c0 int) bool {
	dst = dst[:BF16PanelLen(d)]
	clear(dst)
	cols := min(BF16Cols, m-c0)
	for k := range d {
		base := k/2*2*BF16Cols + k%2
		row := w[k*m+c0 : k*m+c0+cols]
		for c, v := range row {
			if !IsBF16(v) {
				return false
			}
			dst[base+2*c] = uint16(math.Float32bits(v) >> 16)
		}
	}
	return true
}

// SgemmBF16 computes the tile out[r*ldo+c] = Σ_k a[r*lda+k]·b[k][c] for
// r < 6, c < 64: six rows of A as bfloat16 bits, read in place, against
// one panel of B packed by PackBF16 for d coordinates. With accumulate
// the sums continue from out's values instead of +0: a product computed
// in blocks of coordinates — a[k0:] against b[k0*BF16Cols:] for k0 even,
// every block but the last of even length — has the bits of one call.
//
// Every path computes the same bits, those of VDPBF16PS (the Go twin
// emulates it; TestSgemmBF16BitIdentical checks the assembly against it):
// starting from +0, for each pair p = 0, 1, … in order,
//
//	acc ← acc + a[2p+1]·b[2p+1], then acc ← acc + a[2p]·b[2p]
//
// (a[d] = b[d] = 0 when d is odd), each product exact, each sum rounded
// once to nearest even; subnormal inputs are read as zero and subnormal
// sums flushed to zero. So with n = 2⌈d/2⌉ steps and u = 2⁻²⁴,
//
//	|out − Σ_k a_k·b_k| ≤ γ_n·Σ_k |a_k·b_k| + 2⁻¹²⁶·(Σ_k |b_k| + n),  γ_n = n·u/(1−n·u),
//
// the usual bound of recursive summation plus what flushing can lose (a
// subnormal a_k drops at most 2⁻¹²⁶·|b_k|, a flushed sum at most 2⁻¹²⁶).
// PackBF16 keeps subnormals out of B. NaN and Inf propagate as in any
// float32 sum.
func SgemmBF16(a []uint16, lda int, b []uint16, d int, out []float32, ldo int, accumulate bool) {
	if d <= 0 {
		if !accumulate {
			for r := range BF16Rows {
				clear(out[r*ldo : r*ldo+BF16Cols])
			}
		}
		return
	}
	_ = a[(BF16Rows-1)*lda+d-1]
	_ = b[BF16PanelLen(d)-1]
	_ = out[(BF16Rows-1)*ldo+BF16Cols-1]
	if HasBF16 {
		acc := 0
		if accumulate {
			acc = 1
		}
		sgemmBF16x6x64(&a[0], lda*2, &b[0], d/2, d%2, acc, &out[0], ldo*4)
		return
	}
	sgemmBF16Generic(a, lda, b, d, out, ldo, accumulate)
}

func sgemmBF16Generic(a []uint16, lda int, b []uint16, d int, out []float32, ldo int, accumulate bool) {
	kp := (d + 1) / 2
	var acc [BF16Cols]float32
	for r := range BF16Rows {
		o := out[r*ldo : r*ldo+BF16Cols]
		clear(acc[:])
		if accumulate {
			for c, v := range o {
				acc[c] = daz32(v)
			}
		}
		row := a[r*lda : r*lda+d]
		for p := range kp {
			xe, xo := dazBF16(row[2*p]), float32(0)
			if 2*p+1 < d {
				xo = dazBF16(row[2*p+1])
			}
			bp := b[p*2*BF16Cols : (p+1)*2*BF16Cols]
			for c := range acc {
				s := dpStep(acc[c], xo, dazBF16(bp[2*c+1]))
				acc[c] = dpStep(s, xe, dazBF16(bp[2*c]))
			}
		}
		copy(o, acc[:])
	}
}

// daz32 returns v, or a zero of its sign when v is subnormal.
func daz32(v float32) float32 {
	if abs32(v) < minNormal32 {
		return float32(math.Copysign(0, float64(v)))
	}
	return v
}

// dazBF16 returns the value of bfloat16 bits b as VDPBF16PS reads it: a
// subnormal is read as a zero of its sign.
func dazBF16(b uint16) float32 {
	if b&0x7f80 == 0 {
		b &= 0x8000
	}
	return math.Float32frombits(uint32(b) << 16)
}

// dpStep is one step of VDPBF16PS: acc + x·y with the product exact and
// the sum rounded once to nearest even (with an unbounded exponent), a
// result below the smallest normal flushed to a zero of its sign. acc, x
// and y are zero, normal, Inf or NaN (never subnormal).
func dpStep(acc, x, y float32) float32 {
	p := x * y
	// A normal product of two bfloat16 values (8-bit significands) is
	// exact in float32, and then one float32 addition rounds the exact sum
	// once; a sum below the smallest normal is then exact too (both terms
	// are multiples of 2⁻¹⁴⁹), so flushing it needs no rounding decision.
	if ap := abs32(p); ap >= minNormal32 && ap <= math.MaxFloat32 || p == 0 && (x == 0 || y == 0) {
		s := acc + p
		if abs32(s) < minNormal32 {
			return float32(math.Copysign(0, float64(s)))
		}
		return s
	}
	return dpStepSlow(acc, x, y)
}

// dpStepSlow handles products that are subnormal, underflow or overflow in
// float32 (the instruction still adds them exactly), and NaN.
func dpStepSlow(acc, x, y float32) float32 {
	a, p := float64(acc), float64(x)*float64(y) // both exact in float64
	s := a + p
	if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return float32(s)
	}
	bv := s - a
	t := (a - (s - bv)) + (p - bv) // s + t = a + p exactly (TwoSum)
	// Round s + t to 24 significant bits. Tiny sums are scaled (exactly)
	// into float32's normal range first, so that the rounding sees an
	// unbounded exponent as the hardware's does; |a + p| ≥ 2⁻²⁵².
	scale := 1.0
	if math.Abs(s) < 0x1p-100 {
		scale = 0x1p200
	}
	ss, tt := s*scale, t*scale
	if tt != 0 && math.Float64bits(ss)&(1<<29-1) == 1<<28 {
		// ss is halfway between two float32 values; the exact sum is not,
		// and lies on tt's side.
		ss = math.Nextafter(ss, math.Copysign(math.Inf(1), tt))
	}
	r := float64(float32(ss))
	if math.Abs(r) < minNormal32*scale {
		return float32(math.Copysign(0, s))
	}
	return float32(r / scale)
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// GemvDirs holds 1 to GemvMaxDirs float32 directions of length d packed
// for GemvBF16: per chunk of 16 coordinates, each direction's 16 values
// ([⌈d/16⌉][m][16], zero past d).
type GemvDirs struct {
	m, d   int
	packed []float32
}

// NewGemvDirs packs the m columns of the d × m row-major matrix w as
// directions.
func NewGemvDirs(w []float32, d, m int) (*GemvDirs, error) {
	if m < 1 || m > GemvMaxDirs || d < 0 || len(w) != d*m {
		return nil, fmt.Errorf("kernel: GEMV directions of %d × %d from %d values (want 1 to %d directions)", d, m, len(w), GemvMaxDirs)
	}
	dq := (d + 15) / 16
	g := &GemvDirs{m: m, d: d, packed: make([]float32, max(dq, 1)*m*16)}
	for k := range d {
		q, l := k/16, k%16
		for j := range m {
			g.packed[(q*m+j)*16+l] = w[k*m+j]
		}
	}
	return g, nil
}

// gemvRowsOf is the number of rows of E the GEMV kernel for m directions
// reads at once (gemvRows in gen/main.go).
func gemvRowsOf(m int) int {
	if m <= 4 {
		return 4
	}
	return 2
}

// GemvBF16 computes out[r*m+j] = Σ_k e[r*lde+k]·dir_j[k] for r < rows and
// the m directions of g: rows of E as bfloat16 bits (read in place, each
// converted exactly on load) against float32 directions. It is a streaming
// kernel: every byte of E is read once, whatever m.
//
// Summation order, the same on every path: lane l = k mod 16 accumulates
// the products of coordinates k ≡ l in increasing k, then the 16 lanes are
// added as a tree (l + l⊕8, then ⊕4, ⊕2, ⊕1). The assembly fuses each
// multiply-add (one rounding); the Go twin may or may not (Go's compiler
// decides), so the paths agree within the float32 bound
// γ_d·Σ_k |e_k·dir_k| that both satisfy, not bit for bit.
func GemvBF16(e []uint16, lde, rows int, g *GemvDirs, out []float32) {
	if rows <= 0 {
		return
	}
	m, d := g.m, g.d
	_ = out[rows*m-1]
	if d == 0 {
		clear(out[:rows*m])
		return
	}
	_ = e[(rows-1)*lde+d-1]
	var lanes [4 * 4 * 16]float32 // rows·m ≤ 16 accumulators of 16 lanes
	r := 0
	if HasAVX512 && d >= 16 {
		nr, dq := gemvRowsOf(m), d/16
		kern := gemvBF16Asm[m-1]
		for ; r+nr <= rows; r += nr {
			kern(&e[r*lde], lde*2, &g.packed[0], dq, &lanes[0])
			for i := range nr {
				g.finish(e[(r+i)*lde:(r+i)*lde+d], dq, lanes[i*m*16:(i+1)*m*16], out[(r+i)*m:(r+i+1)*m])
			}
		}
	}
	for ; r < rows; r++ {
		l := lanes[:m*16]
		clear(l)
		g.finish(e[r*lde:r*lde+d], 0, l, out[r*m:(r+1)*m])
	}
}

// finish accumulates the chunks q ≥ q0 of row into lanes ([m][16]) and
// writes each direction's tree-reduced sum to out.
func (g *GemvDirs) finish(row []uint16, q0 int, lanes, out []float32) {
	m := g.m
	for q := q0; q*16 < g.d; q++ {
		chunk := row[q*16 : min(q*16+16, g.d)]
		for l, b := range chunk {
			x := math.Float32frombits(uint32(b) << 16)
			for j := range m {
				lanes[j*16+l] += x * g.packed[(q*m+j)*16+l]
			}
		}
	}
	for j := range m {
		v := lanes[j*16 : j*16+16]
		for h := 8; h >= 1; h /= 2 {
			for l := range h {
				v[l] += v[l+h]
			}
		}
		out[j] = v[0]
	}
}
