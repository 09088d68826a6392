package project

import (
	"errors"
	"math"
)

// The eigenvalues of a small real non-symmetric matrix, for the copying
// score of a head (the eigenvalues of its d_head × d_head OV product).
// The method is the classic one (EISPACK's balanc, elmhes and hqr, as in
// Numerical Recipes §11.5–11.6): balance the matrix so that rows and
// columns have similar norms, reduce it to upper Hessenberg form by
// Gaussian elimination with pivoting, then run Francis double-shift QR
// iterations on the Hessenberg matrix until every eigenvalue has split off
// as a 1 × 1 (real) or 2 × 2 (complex pair) block. Everything is float64;
// for the ≤ 256 × 256 matrices of a head it takes well under a second.

// errNoConvergence: the QR iterations did not split off an eigenvalue.
var errNoConvergence = errors.New("project: eigenvalues: QR iteration did not converge")

// maxEigenIter bounds the QR sweeps spent on one eigenvalue (Numerical
// Recipes stops at 30; exceptional shifts come at 10 and 20).
const maxEigenIter = 60

// eigenvalues returns the n eigenvalues of the n × n matrix a (which is not
// changed), complex pairs adjacent with the positive imaginary part first.
// The order is otherwise that of the deflation, not sorted.
func eigenvalues(a dmat) ([]complex128, error) {
	n := a.n
	if a.m != n {
		return nil, errors.New("project: eigenvalues of a non-square matrix")
	}
	if n == 0 {
		return nil, nil
	}
	for _, x := range a.v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, errors.New("project: eigenvalues: matrix holds NaN or ±Inf")
		}
	}
	// One-based copy, as in the published algorithms, so that the index
	// arithmetic can be checked against them line by line.
	h := make([][]float64, n+1)
	for i := 1; i <= n; i++ {
		h[i] = make([]float64, n+1)
		for j := 1; j <= n; j++ {
			h[i][j] = a.at(i-1, j-1)
		}
	}
	balance(h, n)
	hessenberg(h, n)
	wr := make([]float64, n+1)
	wi := make([]float64, n+1)
	if err := hqr(h, n, wr, wi); err != nil {
		return nil, err
	}
	out := make([]complex128, n)
	for i := 1; i <= n; i++ {
		out[i-1] = complex(wr[i], wi[i])
	}
	return out, nil
}

// balance scales rows and columns by powers of 2 (exact in binary floating
// point) until each row and its column have comparable norms; eigenvalues
// are unchanged and their computation becomes more accurate.
func balance(a [][]float64, n int) {
	const radix = 2.0
	const sqrdx = radix * radix
	for done := false; !done; {
		done = true
		for i := 1; i <= n; i++ {
			var r, c float64
			for j := 1; j <= n; j++ {
				if j != i {
					c += math.Abs(a[j][i])
					r += math.Abs(a[i][j])
				}
			}
			if c == 0 || r == 0 {
				continue
			}
			g := r / radix
			f := 1.0
			s := c + r
			for c < g {
				f *= radix
				c *= sqrdx
			}
			g = r * radix
			for c > g {
				f /= radix
				c /= sqrdx
			}
			if (c+r)/f < 0.95*s {
				done = false
				g = 1 / f
				for j := 1; j <= n; j++ {
					a[i][j] *= g
				}
				for j := 1; j <= n; j++ {
					a[j][i] *= f
				}
			}
		}
	}
}

// hessenberg reduces a to upper Hessenberg form by stabilised elementary
// similarity transformations (Gaussian elimination with pivoting) and
// clears the entries below the subdiagonal.
func hessenberg(a [][]float64, n int) {
	for m := 2; m < n; m++ {
		x := 0.0
		i := m
		for j := m; j <= n; j++ {
			if math.Abs(a[j][m-1]) > math.Abs(x) {
				x = a[j][m-1]
				i = j
			}
		}
		if i != m {
			for j := m - 1; j <= n; j++ {
				a[i][j], a[m][j] = a[m][j], a[i][j]
			}
			for j := 1; j <= n; j++ {
				a[j][i], a[j][m] = a[j][m], a[j][i]
			}
		}
		if x != 0 {
			for i := m + 1; i <= n; i++ {
				y := a[i][m-1]
				if y == 0 {
					continue
				}
				y /= x
				a[i][m-1] = y
				for j := m; j <= n; j++ {
					a[i][j] -= y * a[m][j]
				}
				for j := 1; j <= n; j++ {
					a[j][m] += y * a[j][i]
				}
			}
		}
	}
	// The multipliers left below the subdiagonal are not part of H.
	for i := 3; i <= n; i++ {
		for j := 1; j < i-1; j++ {
			a[i][j] = 0
		}
	}
}

// hqr finds the eigenvalues of the upper Hessenberg matrix a (destroyed)
// by Francis double-shift QR: real parts in wr, imaginary parts in wi.
func hqr(a [][]float64, n int, wr, wi []float64) error {
	var anorm float64
	for i := 1; i <= n; i++ {
		for j := max(i-1, 1); j <= n; j++ {
			anorm += math.Abs(a[i][j])
		}
	}
	nn := n
	t := 0.0 // accumulated exceptional shifts
	for nn >= 1 {
		its := 0
		var l int
		for {
			// Look for a single small subdiagonal element.
			for l = nn; l >= 2; l-- {
				s := math.Abs(a[l-1][l-1]) + math.Abs(a[l][l])
				if s == 0 {
					s = anorm
				}
				if math.Abs(a[l][l-1])+s == s {
					a[l][l-1] = 0
					break
				}
			}
			x := a[nn][nn]
			if l == nn { // one root found
				wr[nn] = x + t
				wi[nn] = 0
				nn--
				break
			}
			y := a[nn-1][nn-1]
			w := a[nn][nn-1] * a[nn-1][nn]
			if l == nn-1 { // two roots found
				p := 0.5 * (y - x)
				q := p*p + w
				z := math.Sqrt(math.Abs(q))
				x += t
				if q >= 0 { // a real pair
					z = p + math.Copysign(z, p)
					wr[nn-1], wr[nn] = x+z, x+z
					if z != 0 {
						wr[nn] = x - w/z
					}
					wi[nn-1], wi[nn] = 0, 0
				} else { // a complex pair
					wr[nn-1], wr[nn] = x+p, x+p
					wi[nn-1], wi[nn] = z, -z
				}
				nn -= 2
				break
			}
			if its == maxEigenIter {
				return errNoConvergence
			}
			if its == 10 || its == 20 || its == 40 { // exceptional shift
				t += x
				for i := 1; i <= nn; i++ {
					a[i][i] -= x
				}
				s := math.Abs(a[nn][nn-1]) + math.Abs(a[nn-1][nn-2])
				x = 0.75 * s
				y = x
				w = -0.4375 * s * s
			}
			its++
			// Form the shift and look for two consecutive small
			// subdiagonal elements.
			var m int
			var p, q, r, z float64
			for m = nn - 2; m >= l; m-- {
				z = a[m][m]
				r = x - z
				s := y - z
				p = (r*s-w)/a[m+1][m] + a[m][m+1]
				q = a[m+1][m+1] - z - r - s
				r = a[m+2][m+1]
				s = math.Abs(p) + math.Abs(q) + math.Abs(r)
				p /= s
				q /= s
				r /= s
				if m == l {
					break
				}
				u := math.Abs(a[m][m-1]) * (math.Abs(q) + math.Abs(r))
				v := math.Abs(p) * (math.Abs(a[m-1][m-1]) + math.Abs(z) + math.Abs(a[m+1][m+1]))
				if u+v == v {
					break
				}
			}
			for i := m + 2; i <= nn; i++ {
				a[i][i-2] = 0
				if i != m+2 {
					a[i][i-3] = 0
				}
			}
			// The double QR step on rows l..nn, columns m..nn.
			for k := m; k <= nn-1; k++ {
				if k != m {
					p = a[k][k-1]
					q = a[k+1][k-1]
					r = 0
					if k != nn-1 {
						r = a[k+2][k-1]
					}
					x = math.Abs(p) + math.Abs(q) + math.Abs(r)
					if x != 0 {
						p /= x
						q /= x
						r /= x
					}
				}
				s := math.Copysign(math.Sqrt(p*p+q*q+r*r), p)
				if s == 0 {
					continue
				}
				if k == m {
					if l != m {
						a[k][k-1] = -a[k][k-1]
					}
				} else {
					a[k][k-1] = -s * x
				}
				p += s
				x = p / s
				y = q / s
				z = r / s
				q /= p
				r /= p
				for j := k; j <= nn; j++ {
					p = a[k][j] + q*a[k+1][j]
					if k != nn-1 {
						p += r * a[k+2][j]
						a[k+2][j] -= p * z
					}
					a[k+1][j] -= p * y
					a[k][j] -= p * x
				}
				mmin := min(nn, k+3)
				for i := l; i <= mmin; i++ {
					p = x*a[i][k] + y*a[i][k+1]
					if k != nn-1 {
						p += z * a[i][k+2]
						a[i][k+2] -= p * r
					}
					a[i][k+1] -= p * q
					a[i][k] -= p
				}
			}
			if l >= nn-1 {
				break
			}
		}
	}
	return nil
}
