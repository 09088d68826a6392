package gomlxengine

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

	"lenskit.dev/lenskit/project"
)

// New returns an engine on the named GoMLX backend:
//
//   - "go": GoMLX's pure-Go backend. Build with GOEXPERIMENT=simd for its
//     AVX2/AVX-512 matrix kernels. Options after a colon go to the backend
//     ("go:parallelism=2").
//   - "xla:cuda": XLA on an NVIDIA GPU through the PJRT CUDA plugin that
//     [CUDAPlugin] finds; options after a comma go to go-xla
//     ("xla:cuda,allocator=cuda_async").
//   - "xla:NAME" or "xla:/abs/path/to/pjrt_c_api_NAME_plugin.so": another
//     PJRT plugin that is already installed (for example "xla:cpu").
//
// Nothing is ever downloaded: a plugin that is not installed is an error.
// TF32 is turned off for XLA, because MatMul computes the head factors that
// every exact score is later computed from; pass ",tf32=true" to override.
func New(backend string) (project.Engine, error) {
	name, cfg, _ := strings.Cut(strings.TrimSpace(backend), ":")
	var b compute.Backend
	var err error
	switch name {
	case gobackend.BackendName:
		b, err = newGo(cfg)
	case "xla", "stablehlo", "hlo", "shlo":
		b, err = newXLA(cfg)
	case "":
		return nil, fmt.Errorf("gomlxengine: no backend named (want \"go\" or \"xla:cuda\")")
	default:
		return nil, fmt.Errorf("gomlxengine: unknown GoMLX backend %q (want \"go\" or \"xla:cuda\")", backend)
	}
	if err != nil {
		return nil, err
	}
	return newEngine(b, backend, name == gobackend.BackendName), nil
}

// newGo creates GoMLX's pure-Go backend.
func newGo(cfg string) (b compute.Backend, err error) {
	err = catch(func() error {
		b, err = gobackend.New(cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("gomlxengine: Go backend with options %q: %w", cfg, err)
	}
	return b, nil
}

// xlaConfig is go-xla's configuration string for the plugin file at path:
// the path, then comma-separated options, with TF32 off unless opts says
// otherwise (MatMul's results are the factors every exact score is computed
// from; TF32 keeps only 10 bits of each input's mantissa).
func xlaConfig(path, opts string) (string, error) {
	if strings.Contains(path, ",") {
		return "", fmt.Errorf("gomlxengine: PJRT plugin path %q contains a comma, which go-xla reads as an option separator", path)
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
			return "", fmt.Errorf("gomlxengine: PJRT plugin %s: %w", plugin, err)
		}
		return plugin, nil
	}
	if strings.ContainsAny(plugin, `/\`) {
		return "", fmt.Errorf("gomlxengine: PJRT plugin %q: give a plugin name or an absolute path", plugin)
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

// errNoCgo is returned for XLA backends by programs built with
// CGO_ENABLED=0: go-xla loads plugins through cgo.
var errNoCgo = errors.New("gomlxengine: the XLA backend needs cgo, and this program was built with CGO_ENABLED=0")

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
	return fmt.Errorf("gomlxengine: %w: no %q plugin in %s%s; installed: %s; lenskit never downloads plugins — install one (e.g. go-xla's installer) or set %s",
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
// go-xla and GoMLX search (see New), loading each candidate to check it is
// a PJRT plugin, and never downloads.
func CUDAPlugin() string { return pickCUDA(installedPlugins()) }

// Default returns the engine lenskit should use on this machine:
//
//   - $GOMLX_BACKEND, when set and not empty, names the backend as for New
//     ("go", "xla:cuda", …); a backend that would need a download is an
//     error, not a download.
//   - Otherwise XLA CUDA when CUDAPlugin finds a plugin and creating the
//     backend works;
//   - otherwise [project.CPU], lenskit's own AVX-512 engine, which beats the
//     pure-Go GoMLX backend on CPUs.
func Default() (project.Engine, error) {
	if cfg := strings.TrimSpace(os.Getenv(compute.ConfigEnvVar)); cfg != "" {
		eng, err := New(cfg)
		if err != nil {
			return nil, fmt.Errorf("gomlxengine: $%s=%q: %w", compute.ConfigEnvVar, cfg, err)
		}
		return eng, nil
	}
	if CUDAPlugin() != "" {
		if eng, err := New("xla:cuda"); err == nil {
			return eng, nil
		}
	}
	return project.CPU(), nil
}

// catch runs f and turns a panic (GoMLX's way of reporting many errors)
// into an error.
func catch(f func() error) (err error) {
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
