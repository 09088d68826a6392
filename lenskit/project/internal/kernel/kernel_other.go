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

func sgemmBF16x6x64(a *uint16, lda int, b *uint16, kp int, odd int, acc int, out *float32, ldo int) {
	panic("unreachable: no assembly on this platform")
}

func cvtBF16(dst *float32, src *uint16, n int) {
	panic("unreachable: no assembly on this platform")
}

var gemvBF16Asm [GemvMaxDirs]func(e *uint16, lde int, dirs *float32, dq int, lanes *float32)
