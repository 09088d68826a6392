//go:build unix

package checkpoint

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestLockFileTellsWhileWaiting: a download that waits for another one of
// the same blob says so once (issue 12: nothing waits silently), takes the
// lock when the other releases it, and stops waiting when its context ends.
func TestLockFileTellsWhileWaiting(t *testing.T) {
	defer func(d time.Duration) { lockNotice = d }(lockNotice)
	lockNotice = 50 * time.Millisecond
	path := filepath.Join(t.TempDir(), ".locks", "models--o--m", "etag.lock")
	release, err := lockFile(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var told atomic.Int32
	got := make(chan error, 1)
	go func() {
		unlock, err := lockFile(context.Background(), path, func() { told.Add(1) })
		if err == nil {
			unlock()
		}
		got <- err
	}()
	time.Sleep(400 * time.Millisecond) // several polls past the notice
	select {
	case err := <-got:
		t.Fatalf("took a held lock: %v", err)
	default:
	}
	if n := told.Load(); n != 1 {
		t.Fatalf("told %d times while waiting, want once", n)
	}
	release()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the lock was not taken after its release")
	}

	// A cancelled context ends the wait with its cause.
	release, err = lockFile(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	if _, err := lockFile(ctx, path, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
}
