//go:build unix

package checkpoint_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/checkpoint/synth"
)

func mkfifo(t *testing.T, path string) {
	t.Helper()
	os.Remove(path)
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skip("cannot make a FIFO here:", err)
	}
}

// A FIFO (or a device) where a checkpoint file should be is refused at once
// with its type named; opening it for reading used to block for ever.
func TestFIFOsAndDevices(t *testing.T) {
	good := t.TempDir()
	if err := synth.Write(good, synth.Options{Shape: synth.Tiny, Tokenizer: true}); err != nil {
		t.Fatal(err)
	}
	copyDir := func() string {
		dir := t.TempDir()
		entries, _ := os.ReadDir(good)
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(good, e.Name()))
			os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
		}
		return dir
	}
	for _, file := range []string{"config.json", "model.safetensors"} {
		dir := copyDir()
		mkfifo(t, filepath.Join(dir, file))
		err := within(t, "Open with a FIFO "+file, func() error {
			c, err := checkpoint.Load(context.Background(), dir)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "FIFO") {
			t.Errorf("FIFO %s: %v", file, err)
		}
	}

	// A tokenizer file read through Files().
	dir := copyDir()
	mkfifo(t, filepath.Join(dir, "tokenizer.json"))
	c, err := checkpoint.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = within(t, "Files() with a FIFO tokenizer.json", func() error {
		_, err := fs.ReadFile(c.Files(), "tokenizer.json")
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "tokenizer.json") || !strings.Contains(err.Error(), "FIFO") {
		t.Errorf("FIFO tokenizer.json: %v", err)
	}

	// A character device as the weights: /dev/zero would map as an endless
	// file of zeros.
	dir = copyDir()
	os.Remove(filepath.Join(dir, "model.safetensors"))
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	_, err = checkpoint.Open(dir)
	if err == nil || !strings.Contains(err.Error(), "character device") || !strings.Contains(err.Error(), "model.safetensors") {
		t.Errorf("/dev/zero as weights: %v", err)
	}
}

// A weights file truncated by another program while mapped: reading it
// under Guard is an error naming the file instead of a SIGBUS that kills
// the process, and so are Hash and the first Float32 of a converted dtype.
func TestGuardTruncatedFile(t *testing.T) {
	for _, dt := range []checkpoint.DType{checkpoint.F32, checkpoint.F16} {
		dir := t.TempDir()
		if err := synth.Write(dir, synth.Options{Shape: synth.Tiny, DType: dt}); err != nil {
			t.Fatal(err)
		}
		c, err := checkpoint.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		weights := filepath.Join(dir, "model.safetensors")
		names := c.Names()
		last, _ := c.Tensor(names[len(names)-1])
		if err := os.Truncate(weights, 4096); err != nil {
			t.Fatal(err)
		}
		var sum byte
		err = c.Guard(func() error {
			for _, n := range names {
				tt, _ := c.Tensor(n)
				for _, b := range tt.Bytes() {
					sum += b
				}
			}
			return nil
		})
		if !errors.Is(err, checkpoint.ErrTruncated) || !strings.Contains(err.Error(), weights) || !strings.Contains(err.Error(), "truncated or rewritten while open") {
			t.Errorf("%s: Guard: %v", dt, err)
		}
		if _, err := c.Hash(); !errors.Is(err, checkpoint.ErrTruncated) {
			t.Errorf("%s: Hash: %v", dt, err)
		}
		if dt != checkpoint.F32 {
			if _, err := last.Float32(); !errors.Is(err, checkpoint.ErrTruncated) || !strings.Contains(err.Error(), weights) {
				t.Errorf("%s: Float32: %v", dt, err)
			}
		}
		// Panics that are not faults in the mapping go on.
		func() {
			defer func() {
				if r := recover(); r != "not a fault" {
					t.Errorf("Guard swallowed or changed a panic: %v", r)
				}
			}()
			c.Guard(func() error { panic("not a fault") })
		}()
		c.Close()
	}
}
