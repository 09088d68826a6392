package weights

import "fmt"

// Matrix is a dense row-major float32 matrix. It is the unit in which weights
// leave this package: every accessor returns a Matrix (or a vector) whose
// layout is documented at the accessor, so that callers never have to know
// which framework wrote the checkpoint.
//
// Data may alias a memory-mapped checkpoint; treat it as read-only.
type Matrix struct {
	Rows, Cols int
	Data       []float32 // len(Data) == Rows*Cols, element (i, j) at Data[i*Cols+j]
}

// NewMatrix returns a zeroed rows × cols matrix.
func NewMatrix(rows, cols int) Matrix {
	return Matrix{Rows: rows, Cols: cols, Data: make([]float32, rows*cols)}
}

// Row returns row i as a slice aliasing m.Data.
func (m Matrix) Row(i int) []float32 { return m.Data[i*m.Cols : (i+1)*m.Cols : (i+1)*m.Cols] }

// At returns element (i, j).
func (m Matrix) At(i, j int) float32 { return m.Data[i*m.Cols+j] }

// Col returns a copy of column j.
func (m Matrix) Col(j int) []float32 {
	out := make([]float32, m.Rows)
	for i := range out {
		out[i] = m.Data[i*m.Cols+j]
	}
	return out
}

// T returns the transpose as a new matrix.
func (m Matrix) T() Matrix {
	t := NewMatrix(m.Cols, m.Rows)
	for i := 0; i < m.Rows; i++ {
		row := m.Data[i*m.Cols : (i+1)*m.Cols]
		for j, v := range row {
			t.Data[j*m.Rows+i] = v
		}
	}
	return t
}

// String describes the shape, not the contents.
func (m Matrix) String() string { return fmt.Sprintf("Matrix[%d×%d]", m.Rows, m.Cols) }
