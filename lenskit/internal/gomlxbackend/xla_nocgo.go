//go:build !cgo

package gomlxbackend

import "github.com/gomlx/compute"

// go-xla loads PJRT plugins through cgo (dlopen); a program built with
// CGO_ENABLED=0 keeps the pure-Go backend and reports XLA as unavailable.

func newXLA(cfg string) (compute.Backend, error) { return nil, ErrNoCgo }

func installedPlugins() map[string]string { return nil }
