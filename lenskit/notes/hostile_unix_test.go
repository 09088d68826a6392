//go:build unix

package notes

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lenskit.dev/lenskit/project"
)

// A FIFO named as the notes file is refused at once, naming its type;
// opening it for reading used to block for ever.
func TestFIFONotesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.json")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skip("cannot make a FIFO here:", err)
	}
	done := make(chan error, 2)
	go func() { _, err := ReadFile(path); done <- err }()
	go func() { _, _, err := Open(path, testModel); done <- err }()
	for range 2 {
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "FIFO") {
				t.Errorf("FIFO notes file: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("reading a FIFO notes file still blocked after 10 s")
		}
	}
}

// startLockHolder starts a process that takes the notes file's lock and
// keeps it (the "hang" helper stops a write before its rename), and returns
// its pid once it holds the lock.
func startLockHolder(t *testing.T, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LENSKIT_NOTES_HELPER=hang", "NOTES_PATH="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "TMP ") {
		t.Fatalf("lock holder did not start: %q", sc.Text())
	}
	return cmd
}

// A write waiting for another process's lock says so after a while, naming
// the file and the holder's pid, and gives up after its timeout or when its
// context is cancelled; it used to wait silently for ever.
func TestLockWaitTellsAndTimesOut(t *testing.T) {
	defer func(d time.Duration) { lockNotice = d }(lockNotice)
	lockNotice = 100 * time.Millisecond
	path := filepath.Join(t.TempDir(), "n.json")
	holder := startLockHolder(t, path)
	pid := strconv.Itoa(holder.Process.Pid)
	s, _, err := Open(path, testModel)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var told []string
	s.OnLockWait = func(msg string) { mu.Lock(); told = append(told, msg); mu.Unlock() }
	s.LockTimeout = 500 * time.Millisecond
	n := Note{Component: Head(project.HeadID{Layer: 1, Head: 1}, project.OV), Label: "waits"}
	_, err = s.Add(n)
	if !errors.Is(err, ErrLockTimeout) || !strings.Contains(err.Error(), path+".lock") {
		t.Errorf("timeout: %v", err)
	}
	_, noProc := os.Stat("/proc/locks")
	if noProc == nil && !strings.Contains(err.Error(), "another process (pid "+pid+")") {
		t.Errorf("timeout does not name the holder, pid %s: %v", pid, err)
	}
	mu.Lock()
	if len(told) != 1 || !strings.Contains(told[0], "notes: waiting for the lock on "+path+".lock held by another process") {
		t.Errorf("told %q", told)
	} else if noProc == nil && !strings.Contains(told[0], "(pid "+pid+")") {
		t.Errorf("notice does not name pid %s: %q", pid, told[0])
	}
	mu.Unlock()

	// Cancelled, without a timeout.
	s.LockTimeout = -1
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	_, err = s.AddContext(ctx, n)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), path+".lock") {
		t.Errorf("cancelled: %v", err)
	}

	// Once the holder is gone, the write goes through.
	holder.Process.Kill()
	holder.Wait()
	if _, err := s.Add(n); err != nil {
		t.Fatal(err)
	}
}
