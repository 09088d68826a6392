//go:build !amd64 || purego

package kernel

func dotI8x12x32mm(a *int8, b *uint8, kq int, corr *int32, out *int32, mm *int32) {
	panic("unreachable: no assembly on this platform")
}

func dotI8x12x32cols(a *int8, b *uint8, kq int, corr *int32, out *int32, hi *int32, lo *int32) uint32 {
	panic("unreachable: no assembly on this platform")
}

func dot64x32(a *float32, b *float32, n int, acc *float64) {
	panic("unreachable: no assembly on this platform")
}

func dot64fx32(a *float32, b *float64, n int, acc *float64) {
	panic("unreachable: no assembly on this platform")
}

func dotI8x12x32colsm(a *int8, b *uint8, kq int, corr *int32, out *int32, hi *int32, lo *int32, scale *float32, center *float32, mom *float32) uint32 {
	panic("unreachable: no assembly on this platform")
}
