//go:build cgo

package gomlxbackend

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/go-xla/compute/xla"
	"github.com/gomlx/go-xla/pjrt"
)

// go-xla downloads PJRT plugins whenever a plugin is named by a bare name
// and auto-install is on (its default). This package only ever hands go-xla
// absolute paths, which skip that code; turning auto-install off as well
// makes any other compute.New() in the same program fail with an error
// instead of reaching for the network.
func init() { xla.EnableAutoInstall(false) }

// newXLA creates the XLA backend on an installed PJRT plugin, named by
// cfg = "PLUGIN[,option...]"; PLUGIN is resolved to an absolute path first,
// so go-xla never takes its download path.
func newXLA(cfg string) (b compute.Backend, err error) {
	plugin, opts, _ := strings.Cut(cfg, ",")
	plugin = strings.TrimSpace(plugin)
	if plugin == "" {
		return nil, fmt.Errorf("gomlx: backend \"xla\" needs a plugin, e.g. \"xla:cuda\"; lenskit does not let XLA pick (and download) one")
	}
	path, err := resolvePlugin(plugin, installedPlugins())
	if err != nil {
		return nil, err
	}
	full, err := xlaConfig(path, opts)
	if err != nil {
		return nil, err
	}
	err = Catch(func() error {
		b, err = xla.New(full)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("gomlx: XLA backend on PJRT plugin %s: %w", path, err)
	}
	return b, nil
}

// installedPlugins lists the PJRT plugins installed where go-xla looks,
// name → absolute path: $PJRT_PLUGIN_LIBRARY_PATH (":"-separated) when set,
// otherwise ~/.local/lib/go-xla, ~/.local/lib/go-xla/nvidia,
// ~/.local/lib/gomlx/pjrt, /usr/local/lib/go-xla, /usr/local/lib/go-xla/nvidia,
// /usr/local/lib/gomlx/pjrt, the absolute entries of $LD_LIBRARY_PATH and
// the directories of /etc/ld.so.conf (which includes /usr/local/lib on
// Debian). Files match pjrt_c_api_NAME_plugin.so or pjrt[-_]plugin[-_]NAME.so
// and must dlopen and export GetPjrtApi; CUDA plugins count only when
// /dev/nvidia* exists or nvidia-smi runs. The search paths are read when
// the program starts. This is go-xla's own search (pjrt.AvailablePlugins),
// which never downloads.
func installedPlugins() (m map[string]string) {
	if err := Catch(func() error { m = pjrt.AvailablePlugins(); return nil }); err != nil {
		return nil
	}
	return m
}
