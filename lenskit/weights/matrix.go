package weights

import (
	"fmt"
	"math"
)

// Matrix is a dense row-major matrix of float32 values. It is the unit in
// which weights leave this package: every accessor returns a Matrix (or a
// vector) whose layout is documented at the accessor, so that callers never
// have to know which framework wrote the checkpoint.
//
// The values are held one of two ways. Usually Data holds them as float32
// (aliasing a memory-mapped F32 checkpoint, or a converted copy). A large
// matrix stored as bfloat16 — the embedding, the unembedding and the MLP
// matrices of today's BF16 checkpoints — is instead held as its raw bfloat16
// bits in BF16, aliasing the mapped file, with Data nil: a 128,256 × 4,096
// embedding is 1 GB as BF16 and would be 2 GB more as a float32 copy. Every
// bfloat16 value is exactly a float32 value (the top 16 bits), so both
// representations describe the same numbers; Row, RowInto, At and Col work
// on either, and engines read BF16 directly.
//
// Either slice may alias a memory-mapped checkpoint; treat both as read-only.
type Matrix struct {
	Rows, Cols int
	Data       []float32 // len(Data) == Rows*Cols, element (i, j) at Data[i*Cols+j]; nil when BF16 holds the values
	BF16       []uint16  // bfloat16 bits, same layout, when the values are stored as BF16; nil otherwise
}

// NewMatrix returns a zeroed rows × cols float32 matrix.
func NewMatrix(rows, cols int) Matrix {
	return Matrix{Rows: rows, Cols: cols, Data: make([]float32, rows*cols)}
}

// IsBF16 reports whether the values are held as bfloat16 bits (BF16) rather
// than float32 (Data).
func (m Matrix) IsBF16() bool { return m.Data == nil && m.BF16 != nil }

// BF16ToF32 converts bfloat16 bits to the float32 value they denote (exact).
func BF16ToF32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// Row returns row i. For a float32 matrix the slice aliases m.Data; for a
// BF16 matrix it is a fresh float32 copy — use RowInto in loops.
func (m Matrix) Row(i int) []float32 {
	if m.IsBF16() {
		return m.RowInto(make([]float32, m.Cols), i)
	}
	return m.Data[i*m.Cols : (i+1)*m.Cols : (i+1)*m.Cols]
}

// RowInto writes row i into dst (len ≥ Cols) as float32 and returns
// dst[:Cols].
func (m Matrix) RowInto(dst []float32, i int) []float32 {
	dst = dst[:m.Cols]
	if m.IsBF16() {
		for j, b := range m.BF16[i*m.Cols : (i+1)*m.Cols] {
			dst[j] = BF16ToF32(b)
		}
		return dst
	}
	copy(dst, m.Data[i*m.Cols:(i+1)*m.Cols])
	return dst
}

// At returns element (i, j).
func (m Matrix) At(i, j int) float32 {
	if m.IsBF16() {
		return BF16ToF32(m.BF16[i*m.Cols+j])
	}
	return m.Data[i*m.Cols+j]
}

// Col returns a copy of column j.
func (m Matrix) Col(j int) []float32 {
	out := make([]float32, m.Rows)
	for i := range out {
		out[i] = m.At(i, j)
	}
	return out
}

// Slice returns rows [lo, hi) as a matrix aliasing m.
func (m Matrix) Slice(lo, hi int) Matrix {
	out := Matrix{Rows: hi - lo, Cols: m.Cols}
	if m.IsBF16() {
		out.BF16 = m.BF16[lo*m.Cols : hi*m.Cols : hi*m.Cols]
	} else {
		out.Data = m.Data[lo*m.Cols : hi*m.Cols : hi*m.Cols]
	}
	return out
}

// F32 returns m with its values as float32: m itself when it already is,
// else a converted copy (which costs twice the BF16 memory: meant for small
// matrices and tests).
func (m Matrix) F32() Matrix {
	if !m.IsBF16() {
		return m
	}
	out := NewMatrix(m.Rows, m.Cols)
	for i, b := range m.BF16 {
		out.Data[i] = BF16ToF32(b)
	}
	return out
}

// T returns the transpose as a new float32 matrix.
func (m Matrix) T() Matrix {
	t := NewMatrix(m.Cols, m.Rows)
	row := make([]float32, m.Cols)
	for i := 0; i < m.Rows; i++ {
		for j, v := range m.RowInto(row, i) {
			t.Data[j*m.Rows+i] = v
		}
	}
	return t
}

// String describes the shape (and storage), not the contents.
func (m Matrix) String() string {
	if m.IsBF16() {
		return fmt.Sprintf("Matrix[%d×%d BF16]", m.Rows, m.Cols)
	}
	return fmt.Sprintf("Matrix[%d×%d]", m.Rows, m.Cols)
}
