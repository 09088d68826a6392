package gomlxengine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
			if errors.Is(err, errNoCgo) {
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

func TestResolvePlugin(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pjrt_c_api_cuda_plugin.so")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	installed := map[string]string{
		"cpu_v0.83.1": "/opt/go-xla/pjrt_c_api_cpu_v0.83.1_plugin.so",
		"cuda13":      "/opt/go-xla/nvidia/pjrt_c_api_cuda13_plugin.so",
		"tpu":         "/opt/tpu/pjrt_c_api_tpu_plugin.so",
	}
	for _, tc := range []struct {
		plugin    string
		installed map[string]string
		want      string // "" = error
	}{
		{"cuda", installed, "/opt/go-xla/nvidia/pjrt_c_api_cuda13_plugin.so"},
		{"cuda", map[string]string{"cuda": "/a/pjrt_c_api_cuda_plugin.so", "cuda13": "/b"}, "/a/pjrt_c_api_cuda_plugin.so"},
		{"cpu", installed, "/opt/go-xla/pjrt_c_api_cpu_v0.83.1_plugin.so"},
		{"tpu", installed, "/opt/tpu/pjrt_c_api_tpu_plugin.so"},
		{"cuda", map[string]string{"cpu": "/x"}, ""},
		{"cuda", nil, ""},
		{"rocm", installed, ""},
		{file, nil, file},
		{filepath.Join(dir, "missing.so"), installed, ""},
		{"nvidia/pjrt_c_api_cuda_plugin.so", installed, ""},
	} {
		got, err := resolvePlugin(tc.plugin, tc.installed)
		if tc.want == "" {
			if err == nil {
				t.Errorf("resolvePlugin(%q) = %q, want an error", tc.plugin, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("resolvePlugin(%q) = %q, %v; want %q", tc.plugin, got, err, tc.want)
		}
	}
}

func TestHasOption(t *testing.T) {
	for _, tc := range []struct {
		opts string
		want bool
	}{
		{"", false},
		{"tf32=true", true},
		{"notf32", true},
		{"allocator=bfc,tf32", true},
		{"allocator=bfc", false},
		{"tf32x=1", false},
	} {
		if got := hasOption(tc.opts, "tf32"); got != tc.want {
			t.Errorf("hasOption(%q, tf32) = %v", tc.opts, got)
		}
	}
}

func TestXLAConfig(t *testing.T) {
	const p = "/usr/local/lib/go-xla/nvidia/pjrt_c_api_cuda_plugin.so"
	for _, tc := range []struct{ opts, want string }{
		{"", p + ",tf32=false"},
		{"allocator=cuda_async", p + ",allocator=cuda_async,tf32=false"},
		{"tf32=true", p + ",tf32=true"},
		{"notf32,preallocate=false,", p + ",notf32,preallocate=false"},
	} {
		if got, err := xlaConfig(p, tc.opts); err != nil || got != tc.want {
			t.Errorf("xlaConfig(%q) = %q, %v; want %q", tc.opts, got, err, tc.want)
		}
	}
	if _, err := xlaConfig("/opt/a,b/pjrt_c_api_cuda_plugin.so", ""); err == nil {
		t.Error("a plugin path with a comma: no error")
	}
}
