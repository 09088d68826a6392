//go:build !amd64 || purego

package kernel

const useAsm = false

func dotI8x12x32(a *int8, b *uint8, kq int, corr *int32, out *int32) int32 {
	panic("unreachable: no assembly on this platform")
}

func sgemm6x64(a *float32, lda int, b *float32, k int, out *float32, ldo int) {
	panic("unreachable: no assembly on this platform")
}

func sgemv4x2(e *float32, lde int, x, y *float32, d int, out *float32) {
	panic("unreachable: no assembly on this platform")
}
