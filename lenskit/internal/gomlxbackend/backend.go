// Package gomlxbackend chooses and creates GoMLX backends for lenskit: the
// pure-Go backend on any CPU, or XLA on an installed PJRT plugin (CUDA on an
// NVIDIA GPU). Both GoMLX users — the projection engine
// (project/gomlxengine) and the forward pass (forward) — create their
// backends here, so the rules below hold for every graph lenskit runs.
//
// The backend is always named explicitly, and nothing is ever downloaded.
// GoMLX's own compute.New() tries XLA first and, when no PJRT plugin is
// installed, downloads one from GitHub (and panics offline); this package
// never calls it, resolves XLA plugins itself to absolute paths of files that
// are already installed, and turns go-xla's auto-install off when it is
// loaded.
package gomlxbackend

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
)

// GoName is the pure-Go backend's name in a configuration ("go").
const GoName = gobackend.BackendName

// New creates the named GoMLX backend:
//
//   - "go": GoMLX's pure-Go backend. Build with GOEXPERIMENT=simd for its
//     AVX2/AVX-512 matrix kernels (see SIMD). Options after a colon go to
//     the backend ("go:parallelism=2").
//   - "xla:cuda": XLA on an NVIDIA GPU through the PJRT CUDA plugin that
//     [CUDAPlugin] finds; options after a comma go to go-xla
//     ("xla:cuda,allocator=cuda_async").
//   - "xla:NAME" or "xla:/abs/path/to/pjrt_c_api_NAME_plugin.so": another
//     PJRT plugin that is already installed (for example "xla:cpu").
//
// Nothing is ever downloaded: a plugin that is not installed is an error
// wrapping ErrNoPlugin. TF32 is turned off for XLA (lenskit's products feed
// exact scores and reference comparisons); pass ",tf32=true" to override.
// isGo reports whether the backend is the pure-Go one.
func New(config string) (b compute.Backend, isGo bool, err error) {
	name, cfg, _ := strings.Cut(strings.TrimSpace(config), ":")
	switch name {
	case GoName:
		b, err = newGo(cfg)
		return b, true, err
	case "xla", "stablehlo", "hlo", "shlo":
		b, err = newXLA(cfg)
		return b, false, err
	case "":
		return nil, false, fmt.Errorf("gomlx: no backend named (want \"go\" or \"xla:cuda\")")
	}
	return nil, false, fmt.Errorf("gomlx: unknown GoMLX backend %q (want \"go\" or \"xla:cuda\")", config)
}

// Choose returns the backend configuration a program should use when the
// user named none: $GOMLX_BACKEND when set and not empty (explicit:
// true), else "xla:cuda" when CUDAPlugin finds a plugin and a GPU, else
// fallback.
func Choose(fallback string) (config string, explicit bool) {
	if cfg := strings.TrimSpace(os.Getenv(compute.ConfigEnvVar)); cfg != "" {
		return cfg, true
	}
	if CUDAPlugin() != "" {
		return "xla:cuda", false
	}
	return fallback, false
}

// EnvVar is the environment variable that names a backend ($GOMLX_BACKEND).
const EnvVar = compute.ConfigEnvVar

// newGo creates GoMLX's pure-Go backend.
func newGo(cfg string) (b compute.Backend, err error) {
	err = Catch(func() error {
		b, err = gobackend.New(cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("gomlx: Go backend with options %q: %w", cfg, err)
	}
	return b, nil
}

// xlaConfig is go-xla's configuration string for the plugin file at path:
// the path, then comma-separated options, with TF32 off unless opts says
// otherwise (TF32 keeps only 10 bits of each input's mantissa).
func xlaConfig(path, opts string) (string, error) {
	if strings.Contains(path, ",") {
		return "", fmt.Errorf("gomlx: PJRT plugin path %q contains a comma, which go-xla reads as an option separator", path)
	}
	opts = strings.Trim(opts, ",")
	if !hasOption(opts, "tf32") {
		opts = strings.TrimPrefix(opts+",tf32=false", ",")
	}
	return path + "," + opts, nil
}

// hasOption reports whether the comma-separated go-xla options set name
// (as name, name=…, or noname).
func hasOption(opts, name string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		k, _, _ := strings.Cut(strings.TrimSpace(o), "=")
		if k == name || k == "no"+name {
			return true
		}
	}
	return false
}

// resolvePlugin turns a plugin name ("cuda", "cpu") or an absolute path
// into the absolute path of an installed plugin file.
func resolvePlugin(plugin string, installed map[string]string) (string, error) {
	if filepath.IsAbs(plugin) {
		if _, err := os.Stat(plugin); err != nil {
			return "", fmt.Errorf("gomlx: PJRT plugin %s: %w", plugin, err)
		}
		return plugin, nil
	}
	if strings.ContainsAny(plugin, `/\`) {
		return "", fmt.Errorf("gomlx: PJRT plugin %q: give a plugin name or an absolute path", plugin)
	}
	var path string
	if plugin == "cuda" {
		path = pickCUDA(installed)
	} else if p, ok := installed[plugin]; ok {
		path = p
	} else {
		// go-xla's installer names plugins with versions ("cpu_v0.83.1").
		names := slices.Sorted(maps.Keys(installed))
		for _, n := range names {
			if strings.HasPrefix(n, plugin+"_v") {
				path = installed[n]
				break
			}
		}
	}
	if path == "" {
		return "", missingPlugin(plugin, installed)
	}
	return path, nil
}

// ErrNoPlugin is returned (wrapped) when a PJRT plugin is not installed.
var ErrNoPlugin = errors.New("PJRT plugin not installed")

// ErrNoCgo is returned for XLA backends by programs built with
// CGO_ENABLED=0: go-xla loads plugins through cgo.
var ErrNoCgo = errors.New("gomlx: the XLA backend needs cgo, and this program was built with CGO_ENABLED=0")

func missingPlugin(plugin string, installed map[string]string) error {
	have := "none"
	if len(installed) > 0 {
		have = strings.Join(slices.Sorted(maps.Keys(installed)), ", ")
	}
	where := "the go-xla directories (~/.local/lib/go-xla, /usr/local/lib/go-xla, …), $LD_LIBRARY_PATH and /etc/ld.so.conf"
	if p, ok := os.LookupEnv(pluginPathsEnv); ok {
		where = pluginPathsEnv + "=" + p
	}
	hint := ""
	if isCUDAName(plugin) {
		hint = " (a CUDA plugin also needs an NVIDIA GPU: /dev/nvidia* or a working nvidia-smi)"
	}
	return fmt.Errorf("gomlx: %w: no %q plugin in %s%s; installed: %s; lenskit never downloads plugins — install one (e.g. go-xla's installer) or set %s",
		ErrNoPlugin, plugin, where, hint, have, pluginPathsEnv)
}

// pluginPathsEnv is go-xla's variable for PJRT plugin directories.
const pluginPathsEnv = "PJRT_PLUGIN_LIBRARY_PATH"

// isCUDAName is go-xla's test for a CUDA plugin name (pjrt.IsCUDAName).
func isCUDAName(name string) bool {
	n := strings.ToUpper(name)
	return strings.Contains(n, "CUDA") || strings.Contains(n, "NVIDIA")
}

// pickCUDA returns the path of the CUDA plugin among installed: the one
// named "cuda" if present, else the first CUDA-named one by name.
func pickCUDA(installed map[string]string) string {
	if p, ok := installed["cuda"]; ok {
		return p
	}
	for _, n := range slices.Sorted(maps.Keys(installed)) {
		if isCUDAName(n) {
			return installed[n]
		}
	}
	return ""
}

// CUDAPlugin reports the absolute path of an installed PJRT CUDA plugin, or
// "" when there is none or no NVIDIA GPU to run it on. It searches where
// go-xla and GoMLX search, loading each candidate to check it is a PJRT
// plugin, and never downloads.
func CUDAPlugin() string { return pickCUDA(installedPlugins()) }

// Describe describes a backend and its first device, and warns when the Go
// backend was built without its SIMD kernels.
func Describe(b compute.Backend, isGo bool) string {
	var s string
	_ = Catch(func() error {
		s = b.Description()
		if b.NumDevices() > 0 {
			s += " / " + b.DeviceDescription(0)
		}
		return nil
	})
	if isGo && !SIMD {
		s += " (built without GOEXPERIMENT=simd: scalar matrix kernels, about ten times slower)"
	}
	return s
}

// Catch runs f and turns a panic (GoMLX's way of reporting many errors)
// into an error.
func Catch(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = fmt.Errorf("panic: %w", e)
			} else {
				err = fmt.Errorf("panic: %v", r)
			}
		}
	}()
	return f()
}
