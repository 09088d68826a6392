//go:build amd64 && !purego

package kernel

//go:generate sh -c "go run gen/main.go > kernel_amd64.s"

const useAsm = true

//go:noescape
func dotI8x12x32(a *int8, b *uint8, kq int, corr *int32, out *int32) int32

//go:noescape
func sgemm6x64(a *float32, lda int, b *float32, k int, out *float32, ldo int)

//go:noescape
func sgemv4x2(e *float32, lde int, x, y *float32, d int, out *float32)

//go:noescape
func sgemmBF16x6x64(a *uint16, lda int, b *uint16, kp int, odd int, acc int, out *float32, ldo int)

//go:noescape
func cvtBF16(dst *float32, src *uint16, n int)

// The streaming GEMV kernels, one per number of directions m (rows rows
// of E at a time: 4 for m ≤ 4, else 2).

//go:noescape
func gemvBF16x4x1(e *uint16, lde int, dirs *float32, dq int, lanes *float32)

//go:noescape
func gemvBF16x4x2(e *uint16, lde int, dirs *float32, dq int, lanes *float32)

//go:noescape
func gemvBF16x4x3(e *uint16, lde int, dirs *float32, dq int, lanes *float32)

//go:noescape
func gemvBF16x4x4(e *uint16, lde int, dirs *float32, dq int, lanes *float32)

//go:noescape
func gemvBF16x2x5(e *uint16, lde int, dirs *float32, dq int, lanes *float32)

//go:noescape
func gemvBF16x2x6(e *uint16, lde int, dirs *float32, dq int, lanes *float32)

//go:noescape
func gemvBF16x2x7(e *uint16, lde int, dirs *float32, dq int, lanes *float32)

//go:noescape
func gemvBF16x2x8(e *uint16, lde int, dirs *float32, dq int, lanes *float32)

// gemvBF16Asm holds the GEMV kernels indexed by m−1.
var gemvBF16Asm = [GemvMaxDirs]func(e *uint16, lde int, dirs *float32, dq int, lanes *float32){
	gemvBF16x4x1, gemvBF16x4x2, gemvBF16x4x3, gemvBF16x4x4,
	gemvBF16x2x5, gemvBF16x2x6, gemvBF16x2x7, gemvBF16x2x8,
}
