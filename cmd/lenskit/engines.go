package main

import (
	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/project/gomlxengine"
)

// gomlxEngine is the GoMLX engine the benchmark compares with lenskit's CPU
// engine: the pure-Go backend (built with GOEXPERIMENT=simd for its AVX-512
// kernels).
func gomlxEngine() (project.Engine, error) { return gomlxengine.New("go") }
