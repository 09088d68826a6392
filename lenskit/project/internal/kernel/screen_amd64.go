//go:build amd64 && !purego

package kernel

//go:generate sh -c "go run gen/screen_main.go > screen_amd64.s"

//go:noescape
func dotI8x12x32mm(a *int8, b *uint8, kq int, corr *int32, out *int32, mm *int32)

//go:noescape
func dotI8x12x32cols(a *int8, b *uint8, kq int, corr *int32, out *int32, hi *int32, lo *int32) uint32

//go:noescape
func dot64x32(a *float32, b *float32, n int, acc *float64)

//go:noescape
func dot64fx32(a *float32, b *float64, n int, acc *float64)

//go:noescape
func dotI8x12x32colsm(a *int8, b *uint8, kq int, corr *int32, out *int32, hi *int32, lo *int32, scale *float32, center *float32, mom *float32) uint32
