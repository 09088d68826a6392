//go:build !goexperiment.simd

package gomlxengine

// simdBuild reports whether GOEXPERIMENT=simd was set at build time, which
// the Go backend's AVX2/AVX-512 matrix kernels need.
const simdBuild = false
