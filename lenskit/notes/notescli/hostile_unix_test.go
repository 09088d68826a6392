//go:build unix

package notescli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lenskit.dev/lenskit/notes"
)

// `notes add` waiting for another writer's lock says so on stderr after a
// second and gives up after --lock-timeout, naming the file; it used to
// wait silently for ever.
func TestAddLockTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.json")
	var out, errOut strings.Builder
	args := []string{"add", "--file", path, "--component", "1.1 OV", "--label", "x",
		"--model-id", "m", "--layers", "2", "--heads", "2", "--neurons", "4"}
	if err := Run(args, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Skip("no flock:", err)
	}
	errOut.Reset()
	err = Run(append(args, "--lock-timeout", "1500ms"), &out, &errOut)
	if !errors.Is(err, notes.ErrLockTimeout) || !strings.Contains(err.Error(), path+".lock") || !strings.Contains(err.Error(), "--lock-timeout") {
		t.Errorf("held lock: %v", err)
	}
	if !strings.Contains(errOut.String(), "notes: waiting for the lock on "+path+".lock held by") {
		t.Errorf("stderr: %q", errOut.String())
	}
	syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if err := Run(args, &out, &errOut); err != nil {
		t.Errorf("after the lock is released: %v", err)
	}
}

// A FIFO given as the notes file is refused at once, naming its type.
func TestFIFONotesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.json")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skip("cannot make a FIFO here:", err)
	}
	done := make(chan error, 1)
	go func() { done <- Run([]string{"list", "--file", path}, &strings.Builder{}, &strings.Builder{}) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "FIFO") || !strings.Contains(err.Error(), path) {
			t.Errorf("FIFO: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("notes list of a FIFO still blocked after 10 s")
	}
}
