package project

import (
	"math"
	"sort"
)

// Small dense float64 linear algebra for the d_head × d_head matrices of a
// head view. Jacobi methods are used because they are short, need no
// pivoting heuristics, and are accurate to full precision on the small,
// well-scaled matrices that occur here; a 64×64 problem takes well under a
// millisecond.

// dmat is a dense row-major n×m float64 matrix.
type dmat struct {
	n, m int
	v    []float64
}

func newDmat(n, m int) dmat { return dmat{n, m, make([]float64, n*m)} }

func (a dmat) at(i, j int) float64     { return a.v[i*a.m+j] }
func (a dmat) set(i, j int, x float64) { a.v[i*a.m+j] = x }

func identity(n int) dmat {
	a := newDmat(n, n)
	for i := range n {
		a.set(i, i, 1)
	}
	return a
}

// mul returns a·b.
func (a dmat) mul(b dmat) dmat {
	c := newDmat(a.n, b.m)
	for i := range a.n {
		for k := range a.m {
			x := a.at(i, k)
			if x == 0 {
				continue
			}
			row := b.v[k*b.m : (k+1)*b.m]
			out := c.v[i*c.m : (i+1)*c.m]
			for j, y := range row {
				out[j] += x * y
			}
		}
	}
	return c
}

// t returns the transpose.
func (a dmat) t() dmat {
	c := newDmat(a.m, a.n)
	for i := range a.n {
		for j := range a.m {
			c.set(j, i, a.at(i, j))
		}
	}
	return c
}

// frob returns the Frobenius norm.
func (a dmat) frob() float64 {
	var s float64
	for _, x := range a.v {
		s += x * x
	}
	return math.Sqrt(s)
}

// cholesky returns the upper triangular R with a = Rᵀ·R, and false when a
// is not numerically positive definite (a pivot below 1e-13 of the largest
// diagonal entry): the factor it came from is rank-deficient.
func cholesky(a dmat) (dmat, bool) {
	n := a.n
	r := newDmat(n, n)
	var maxDiag float64
	for i := range n {
		maxDiag = math.Max(maxDiag, a.at(i, i))
	}
	if !(maxDiag > 0) {
		return r, false
	}
	for j := range n {
		d := a.at(j, j)
		for k := range j {
			d -= r.at(k, j) * r.at(k, j)
		}
		if !(d > 1e-13*maxDiag) {
			return r, false
		}
		rjj := math.Sqrt(d)
		r.set(j, j, rjj)
		for i := j + 1; i < n; i++ {
			x := a.at(j, i)
			for k := range j {
				x -= r.at(k, j) * r.at(k, i)
			}
			r.set(j, i, x/rjj)
		}
	}
	return r, true
}

// upperInverse returns the inverse of the upper triangular r.
func upperInverse(r dmat) dmat {
	n := r.n
	inv := newDmat(n, n)
	for j := range n {
		// Solve r·x = e_j by back substitution; x is column j.
		for i := j; i >= 0; i-- {
			x := 0.0
			if i == j {
				x = 1
			}
			for k := i + 1; k <= j; k++ {
				x -= r.at(i, k) * inv.at(k, j)
			}
			inv.set(i, j, x/r.at(i, i))
		}
	}
	return inv
}

// svdJacobi returns a = u·diag(s)·vᵀ with s descending, by one-sided
// (Hestenes) Jacobi rotations on the columns of a. Columns are kept as
// contiguous rows internally, so each rotation streams memory.
func svdJacobi(a dmat) (u dmat, s []float64, v dmat) {
	n, m := a.m, a.n  // n columns of length m
	cols := a.t()     // row j = column j of a
	vt := identity(n) // row j = column j of v
	for sweep := 0; sweep < 100; sweep++ {
		rotated := false
		for p := 0; p < n; p++ {
			up := cols.v[p*m : (p+1)*m]
			for q := p + 1; q < n; q++ {
				uq := cols.v[q*m : (q+1)*m]
				var alpha, beta, gamma float64
				for i, x := range up {
					y := uq[i]
					alpha += x * x
					beta += y * y
					gamma += x * y
				}
				if gamma == 0 || math.Abs(gamma) <= 1e-15*math.Sqrt(alpha*beta) {
					continue
				}
				rotated = true
				zeta := (beta - alpha) / (2 * gamma)
				t := math.Copysign(1, zeta) / (math.Abs(zeta) + math.Sqrt(1+zeta*zeta))
				c := 1 / math.Sqrt(1+t*t)
				sn := c * t
				for i, x := range up {
					y := uq[i]
					up[i] = c*x - sn*y
					uq[i] = sn*x + c*y
				}
				vp, vq := vt.v[p*n:(p+1)*n], vt.v[q*n:(q+1)*n]
				for i, x := range vp {
					y := vq[i]
					vp[i] = c*x - sn*y
					vq[i] = sn*x + c*y
				}
			}
		}
		if !rotated {
			break
		}
	}
	s = make([]float64, n)
	for j := range n {
		col := cols.v[j*m : (j+1)*m]
		var norm float64
		for _, x := range col {
			norm += x * x
		}
		norm = math.Sqrt(norm)
		s[j] = norm
		if norm > 0 {
			for i := range col {
				col[i] /= norm
			}
		}
	}
	// Sort by singular value, permuting u and v alike.
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(x, y int) bool { return s[idx[x]] > s[idx[y]] })
	u, v = newDmat(m, n), newDmat(n, n)
	s2 := make([]float64, n)
	for newj, oldj := range idx {
		s2[newj] = s[oldj]
		for i := range m {
			u.set(i, newj, cols.v[oldj*m+i])
		}
		for i := range n {
			v.set(i, newj, vt.v[oldj*n+i])
		}
	}
	return u, s2, v
}
