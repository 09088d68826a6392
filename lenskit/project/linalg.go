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

// symEig returns the eigenvalues (descending) and eigenvectors (columns of
// v) of the symmetric matrix a, by cyclic Jacobi rotations.
func symEig(a dmat) (vals []float64, v dmat) {
	n := a.n
	w := dmat{n, n, append([]float64(nil), a.v...)}
	v = identity(n)
	for sweep := 0; sweep < 100; sweep++ {
		var off, diag float64
		for i := range n {
			diag += w.at(i, i) * w.at(i, i)
			for j := i + 1; j < n; j++ {
				off += w.at(i, j) * w.at(i, j)
			}
		}
		if off <= 1e-30*diag || off == 0 {
			break
		}
		for p := 0; p < n; p++ {
			for q := p + 1; q < n; q++ {
				apq := w.at(p, q)
				if apq == 0 {
					continue
				}
				app, aqq := w.at(p, p), w.at(q, q)
				theta := (aqq - app) / (2 * apq)
				t := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				c := 1 / math.Sqrt(t*t+1)
				s := t * c
				for k := range n {
					akp, akq := w.at(k, p), w.at(k, q)
					w.set(k, p, c*akp-s*akq)
					w.set(k, q, s*akp+c*akq)
				}
				for k := range n {
					apk, aqk := w.at(p, k), w.at(q, k)
					w.set(p, k, c*apk-s*aqk)
					w.set(q, k, s*apk+c*aqk)
				}
				for k := range n {
					vkp, vkq := v.at(k, p), v.at(k, q)
					v.set(k, p, c*vkp-s*vkq)
					v.set(k, q, s*vkp+c*vkq)
				}
			}
		}
	}
	vals = make([]float64, n)
	for i := range n {
		vals[i] = w.at(i, i)
	}
	return sortEig(vals, v)
}

// svdJacobi returns a = u·diag(s)·vᵀ with s descending, by one-sided
// (Hestenes) Jacobi rotations on the columns of a.
func svdJacobi(a dmat) (u dmat, s []float64, v dmat) {
	n := a.m
	u = dmat{a.n, a.m, append([]float64(nil), a.v...)}
	v = identity(n)
	for sweep := 0; sweep < 100; sweep++ {
		rotated := false
		for p := 0; p < n; p++ {
			for q := p + 1; q < n; q++ {
				var alpha, beta, gamma float64
				for i := range u.n {
					up, uq := u.at(i, p), u.at(i, q)
					alpha += up * up
					beta += uq * uq
					gamma += up * uq
				}
				if gamma == 0 || math.Abs(gamma) <= 1e-15*math.Sqrt(alpha*beta) {
					continue
				}
				rotated = true
				zeta := (beta - alpha) / (2 * gamma)
				t := math.Copysign(1, zeta) / (math.Abs(zeta) + math.Sqrt(1+zeta*zeta))
				c := 1 / math.Sqrt(1+t*t)
				sn := c * t
				for i := range u.n {
					up, uq := u.at(i, p), u.at(i, q)
					u.set(i, p, c*up-sn*uq)
					u.set(i, q, sn*up+c*uq)
				}
				for i := range n {
					vp, vq := v.at(i, p), v.at(i, q)
					v.set(i, p, c*vp-sn*vq)
					v.set(i, q, sn*vp+c*vq)
				}
			}
		}
		if !rotated {
			break
		}
	}
	s = make([]float64, n)
	for j := range n {
		var norm float64
		for i := range u.n {
			norm += u.at(i, j) * u.at(i, j)
		}
		norm = math.Sqrt(norm)
		s[j] = norm
		if norm > 0 {
			for i := range u.n {
				u.set(i, j, u.at(i, j)/norm)
			}
		}
	}
	// Sort by singular value, permuting u and v alike.
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(x, y int) bool { return s[idx[x]] > s[idx[y]] })
	u2, v2 := newDmat(u.n, n), newDmat(n, n)
	s2 := make([]float64, n)
	for newj, oldj := range idx {
		s2[newj] = s[oldj]
		for i := range u.n {
			u2.set(i, newj, u.at(i, oldj))
		}
		for i := range n {
			v2.set(i, newj, v.at(i, oldj))
		}
	}
	return u2, s2, v2
}

func sortEig(vals []float64, v dmat) ([]float64, dmat) {
	n := len(vals)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(x, y int) bool { return vals[idx[x]] > vals[idx[y]] })
	vals2 := make([]float64, n)
	v2 := newDmat(v.n, n)
	for newj, oldj := range idx {
		vals2[newj] = vals[oldj]
		for i := range v.n {
			v2.set(i, newj, v.at(i, oldj))
		}
	}
	return vals2, v2
}
