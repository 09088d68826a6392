package gomlxengine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"lenskit.dev/lenskit/internal/gomlxbackend"
	"lenskit.dev/lenskit/project"
)

// within runs f, failing the test if it takes longer than d (a download
// attempt, or a hang in plugin loading, would).
func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("did not return within %v", d)
	}
}

// TestNoPluginNoDownload needs a machine without a PJRT CUDA plugin (or
// without a GPU), like CI and this project's build machines.
func TestNoPluginNoDownload(t *testing.T) {
	if p := CUDAPlugin(); p != "" {
		t.Skipf("a CUDA plugin is installed here (%s)", p)
	}
	for _, name := range []string{"xla:cuda", "xla:cpu", "xla:cuda,allocator=cuda_async", "stablehlo:cuda"} {
		within(t, 20*time.Second, func() {
			eng, err := New(name)
			if err == nil {
				eng.(*Engine).Close()
				t.Fatalf("New(%q) succeeded without a plugin", name)
			}
			if errors.Is(err, gomlxbackend.ErrNoCgo) {
				t.Logf("New(%q): %v", name, err)
				return
			}
			if !errors.Is(err, ErrNoPlugin) {
				t.Errorf("New(%q): %v; want an error wrapping ErrNoPlugin", name, err)
			}
			if !strings.Contains(err.Error(), "never downloads") {
				t.Errorf("New(%q): error does not say that nothing is downloaded: %v", name, err)
			}
			t.Logf("New(%q): %v", name, err)
		})
	}
	for _, name := range []string{"", "xla", "xla:", "onnx", "go:no_such_option", "xla:lib/pjrt_c_api_cuda_plugin.so", "xla:/nonexistent/pjrt_c_api_cuda_plugin.so"} {
		within(t, 20*time.Second, func() {
			if eng, err := New(name); err == nil {
				eng.(*Engine).Close()
				t.Errorf("New(%q) succeeded", name)
			} else {
				t.Logf("New(%q): %v", name, err)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	if p := CUDAPlugin(); p != "" {
		t.Skipf("a CUDA plugin is installed here (%s)", p)
	}
	t.Setenv("GOMLX_BACKEND", "")
	within(t, 20*time.Second, func() {
		eng, err := Default()
		if err != nil {
			t.Fatal(err)
		}
		if eng != project.CPU() {
			t.Errorf("Default() = %s, want the CPU engine %s", eng.Name(), project.CPU().Name())
		}
	})

	t.Setenv("GOMLX_BACKEND", "go")
	eng, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if eng.Name() != "gomlx:go" {
		t.Errorf("with GOMLX_BACKEND=go, Default() = %s", eng.Name())
	}
	eng.(*Engine).Close()

	for _, cfg := range []string{"xla:cuda", "xla", "xla:cpu"} {
		t.Setenv("GOMLX_BACKEND", cfg)
		within(t, 20*time.Second, func() {
			if eng, err := Default(); err == nil {
				t.Errorf("with GOMLX_BACKEND=%s and no plugin, Default() = %s", cfg, eng.Name())
			} else if !strings.Contains(err.Error(), "GOMLX_BACKEND") {
				t.Errorf("with GOMLX_BACKEND=%s: error does not name the variable: %v", cfg, err)
			}
		})
	}
}
