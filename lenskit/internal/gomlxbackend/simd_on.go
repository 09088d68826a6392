//go:build goexperiment.simd

package gomlxbackend

// SIMD reports whether GOEXPERIMENT=simd was set at build time, which
// the Go backend's AVX2/AVX-512 matrix kernels need.
const SIMD = true
