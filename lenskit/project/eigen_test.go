package project

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"slices"
	"testing"
)

// sortEig orders eigenvalues by real part, then imaginary part, for
// comparison with a known spectrum.
func sortEig(v []complex128) []complex128 {
	v = slices.Clone(v)
	slices.SortFunc(v, func(a, b complex128) int {
		if real(a) != real(b) {
			if real(a) < real(b) {
				return -1
			}
			return 1
		}
		switch {
		case imag(a) < imag(b):
			return -1
		case imag(a) > imag(b):
			return 1
		}
		return 0
	})
	return v
}

func matchSpectrum(t *testing.T, name string, got, want []complex128, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d eigenvalues, want %d", name, len(got), len(want))
	}
	// Greedy matching: each expected value takes the nearest unused one.
	used := make([]bool, len(got))
	for _, w := range want {
		best, bi := math.Inf(1), -1
		for i, g := range got {
			if !used[i] && cmplx.Abs(g-w) < best {
				best, bi = cmplx.Abs(g-w), i
			}
		}
		used[bi] = true
		if best > tol*math.Max(1, cmplx.Abs(w)) {
			t.Errorf("%s: eigenvalue %v: nearest computed %v (off by %.3g)", name, w, got[bi], best)
		}
	}
}

func dmatOf(rows [][]float64) dmat {
	a := newDmat(len(rows), len(rows))
	for i, r := range rows {
		for j, x := range r {
			a.set(i, j, x)
		}
	}
	return a
}

// inverse returns a⁻¹ by Gauss–Jordan elimination with partial pivoting
// (test helper for similarity transforms).
func inverse(a dmat) dmat {
	n := a.n
	m := newDmat(n, 2*n)
	for i := range n {
		for j := range n {
			m.set(i, j, a.at(i, j))
		}
		m.set(i, n+i, 1)
	}
	for c := range n {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(m.at(r, c)) > math.Abs(m.at(p, c)) {
				p = r
			}
		}
		for j := range 2 * n {
			x, y := m.at(c, j), m.at(p, j)
			m.set(c, j, y)
			m.set(p, j, x)
		}
		d := m.at(c, c)
		for j := range 2 * n {
			m.set(c, j, m.at(c, j)/d)
		}
		for r := range n {
			if r == c {
				continue
			}
			f := m.at(r, c)
			for j := range 2 * n {
				m.set(r, j, m.at(r, j)-f*m.at(c, j))
			}
		}
	}
	out := newDmat(n, n)
	for i := range n {
		for j := range n {
			out.set(i, j, m.at(i, n+j))
		}
	}
	return out
}

func TestEigenvaluesKnownMatrices(t *testing.T) {
	th := 0.7
	cases := []struct {
		name string
		a    [][]float64
		want []complex128
	}{
		{"1×1", [][]float64{{-3.5}}, []complex128{-3.5}},
		{"zero", [][]float64{{0, 0, 0}, {0, 0, 0}, {0, 0, 0}}, []complex128{0, 0, 0}},
		{"diagonal", [][]float64{{4, 0, 0}, {0, -2, 0}, {0, 0, 1}}, []complex128{4, -2, 1}},
		{"upper triangular", [][]float64{{1, 5, -3}, {0, 2, 7}, {0, 0, 3}}, []complex128{1, 2, 3}},
		{"rotation", [][]float64{{math.Cos(th), -math.Sin(th)}, {math.Sin(th), math.Cos(th)}},
			[]complex128{cmplx.Exp(complex(0, th)), cmplx.Exp(complex(0, -th))}},
		// Companion matrix of (x−1)(x−2)(x−3)(x−4) = x⁴ − 10x³ + 35x² − 50x + 24.
		{"companion", [][]float64{{10, -35, 50, -24}, {1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}}, []complex128{1, 2, 3, 4}},
		// Companion of x³ − 1: the cube roots of unity.
		{"roots of unity", [][]float64{{0, 0, 1}, {1, 0, 0}, {0, 1, 0}},
			[]complex128{1, complex(-0.5, math.Sqrt(3)/2), complex(-0.5, -math.Sqrt(3)/2)}},
		// A Jordan block: a defective matrix with one triple eigenvalue.
		{"jordan", [][]float64{{2, 1, 0}, {0, 2, 1}, {0, 0, 2}}, []complex128{2, 2, 2}},
		// Badly scaled: balancing matters.
		{"badly scaled", [][]float64{{1, 1e8}, {1e-8, 1}}, []complex128{2, 0}},
	}
	for _, c := range cases {
		got, err := eigenvalues(dmatOf(c.a))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		tol := 1e-10
		if c.name == "jordan" {
			tol = 1e-4 // a triple root is only determined to ε^(1/3)
		}
		matchSpectrum(t, c.name, got, c.want, tol)
	}
}

// TestEigenvaluesSimilarity builds P·D·P⁻¹ with a known block-diagonal D
// (real eigenvalues and 2 × 2 rotation-scaling blocks for complex pairs)
// and a random P, for sizes up to 256.
func TestEigenvaluesSimilarity(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{2, 3, 7, 16, 64, 128, 256} {
		d := newDmat(n, n)
		var want []complex128
		for i := 0; i < n; {
			if i+1 < n && r.IntN(2) == 0 {
				re, im := r.NormFloat64(), 0.1+r.Float64()
				d.set(i, i, re)
				d.set(i, i+1, -im)
				d.set(i+1, i, im)
				d.set(i+1, i+1, re)
				want = append(want, complex(re, im), complex(re, -im))
				i += 2
				continue
			}
			x := r.NormFloat64() * 3
			d.set(i, i, x)
			want = append(want, complex(x, 0))
			i++
		}
		p := newDmat(n, n)
		for i := range p.v {
			p.v[i] = r.NormFloat64()
		}
		for i := range n {
			p.set(i, i, p.at(i, i)+4) // keep P well conditioned
		}
		a := p.mul(d).mul(inverse(p))
		got, err := eigenvalues(a)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		matchSpectrum(t, "similarity", got, want, 1e-6)
	}
}

// TestEigenvaluesInvariants checks random matrices against invariants that
// need no reference solver: Σλ = trace(A), Σλ² = trace(A²), complex
// eigenvalues come in conjugate pairs, and an orthogonal matrix's lie on
// the unit circle.
func TestEigenvaluesInvariants(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{5, 33, 100, 256} {
		a := newDmat(n, n)
		for i := range a.v {
			a.v[i] = r.NormFloat64()
		}
		got, err := eigenvalues(a)
		if err != nil {
			t.Fatal(err)
		}
		var s1, s2 complex128
		for _, l := range got {
			s1 += l
			s2 += l * l
		}
		a2 := a.mul(a)
		var tr1, tr2 float64
		for i := range n {
			tr1 += a.at(i, i)
			tr2 += a2.at(i, i)
		}
		if math.Abs(real(s1)-tr1) > 1e-8*float64(n) || math.Abs(imag(s1)) > 1e-8*float64(n) {
			t.Errorf("n=%d: Σλ = %v, trace = %v", n, s1, tr1)
		}
		if math.Abs(real(s2)-tr2) > 1e-7*float64(n*n) || math.Abs(imag(s2)) > 1e-7*float64(n*n) {
			t.Errorf("n=%d: Σλ² = %v, trace(A²) = %v", n, s2, tr2)
		}
		var im float64
		for _, l := range got {
			im += imag(l)
		}
		if math.Abs(im) > 1e-9*float64(n) {
			t.Errorf("n=%d: imaginary parts sum to %v, not 0 (conjugate pairs)", n, im)
		}
		// An orthogonal matrix: Q of the Gram–Schmidt of a.
		q := newDmat(n, n)
		for i, v := range orthonormal(r, n, n) {
			for j, x := range v {
				q.set(i, j, x)
			}
		}
		eq, err := eigenvalues(q)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range eq {
			if math.Abs(cmplx.Abs(l)-1) > 1e-9 {
				t.Errorf("n=%d: orthogonal matrix has |λ| = %v", n, cmplx.Abs(l))
				break
			}
		}
	}
}

func TestEigenvaluesRejectsBadInput(t *testing.T) {
	a := newDmat(2, 2)
	a.set(0, 1, math.NaN())
	if _, err := eigenvalues(a); err == nil {
		t.Error("NaN accepted")
	}
	if _, err := eigenvalues(newDmat(2, 3)); err == nil {
		t.Error("non-square accepted")
	}
}
