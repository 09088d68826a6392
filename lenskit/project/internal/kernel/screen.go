package kernel

// Screening tiles whose epilogue reduces more than DotI8's maximum. The
// tile is DotI8's (12 rows × 32 columns, the same packing and correction);
// only what is reduced differs.

// DotI8MinMax computes the tile as DotI8 does and returns its maximum and
// its minimum: a head view's top k and bottom k are then screened in one
// pass over the int8 products.
func DotI8MinMax(a []int8, b []uint8, kq int, corr *[I8Rows]int32, out *[I8Rows * I8Cols]int32) (mx, mn int32) {
	if kq <= 0 {
		DotI8(a, b, kq, corr, out)
		return tileMinMax(out)
	}
	_ = a[I8Rows*4*kq-1]
	_ = b[I8Cols*4*kq-1]
	if HasVNNI {
		var mm [2]int32
		dotI8x12x32mm(&a[0], &b[0], kq, &corr[0], &out[0], &mm[0])
		return mm[0], mm[1]
	}
	dotI8Generic(a, b, kq, corr, out)
	return tileMinMax(out)
}

func tileMinMax(out *[I8Rows * I8Cols]int32) (mx, mn int32) {
	mx, mn = out[0], out[0]
	for _, v := range out {
		mx, mn = max(mx, v), min(mn, v)
	}
	return mx, mn
}

// DotI8Cols computes the tile as DotI8 does and returns a mask of its
// columns: bit c is set when some row's value in column c is ≥ hi[c] or
// ≤ lo[c]. Many directions (the columns) are screened against a
// vocabulary (the rows) with a threshold of their own each.
func DotI8Cols(a []int8, b []uint8, kq int, corr *[I8Rows]int32, out *[I8Rows * I8Cols]int32, hi, lo *[I8Cols]int32) uint32 {
	if kq > 0 {
		_ = a[I8Rows*4*kq-1]
		_ = b[I8Cols*4*kq-1]
		if HasVNNI {
			return dotI8x12x32cols(&a[0], &b[0], kq, &corr[0], &out[0], &hi[0], &lo[0])
		}
		dotI8Generic(a, b, kq, corr, out)
	} else {
		DotI8(a, b, kq, corr, out)
	}
	var mask uint32
	for c := range I8Cols {
		for r := range I8Rows {
			v := out[r*I8Cols+c]
			if v >= hi[c] || v <= lo[c] {
				mask |= 1 << c
				break
			}
		}
	}
	return mask
}

// DotI8ColsMoments is DotI8Cols that also accumulates, for every column
// c, the power sums of the tile's values as floats: with y = float32(q)·
// scale − center[c], mom[p·32 + c] += y^(p+1) for p = 0…3, the rows in
// order — the moments of many directions' projections over a vocabulary,
// in one pass with their screening. Each operation is rounded on its own
// (never fused), so every path gives the same bits.
func DotI8ColsMoments(a []int8, b []uint8, kq int, corr *[I8Rows]int32, out *[I8Rows * I8Cols]int32, hi, lo *[I8Cols]int32,
	scale float32, center *[I8Cols]float32, mom *[4 * I8Cols]float32) uint32 {
	if kq > 0 && HasVNNI {
		_ = a[I8Rows*4*kq-1]
		_ = b[I8Cols*4*kq-1]
		return dotI8x12x32colsm(&a[0], &b[0], kq, &corr[0], &out[0], &hi[0], &lo[0], &scale, &center[0], &mom[0])
	}
	mask := DotI8Cols(a, b, kq, corr, out, hi, lo)
	for r := range I8Rows {
		for c := range I8Cols {
			y := float32(float32(out[r*I8Cols+c])*scale) - center[c]
			y2 := float32(y * y)
			mom[c] += y
			mom[I8Cols+c] += y2
			mom[2*I8Cols+c] += float32(y2 * y)
			mom[3*I8Cols+c] += float32(y2 * y2)
		}
	}
	return mask
}
