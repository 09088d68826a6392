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
