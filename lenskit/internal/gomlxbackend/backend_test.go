package gomlxbackend

import (
	"os"
	"path/filepath"
	"testing"
)

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
