//go:build unix

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run this command as a child process (the test
// binary re-executed with LENSKIT_TEST_RUN_MAIN=1 runs main with the
// arguments after "--"), for behaviour that needs a process of its own,
// such as a signal.
func TestMain(m *testing.M) {
	if os.Getenv("LENSKIT_TEST_RUN_MAIN") == "1" {
		for i, a := range os.Args {
			if a == "--" {
				os.Args = append([]string{os.Args[0]}, os.Args[i+1:]...)
				break
			}
		}
		main()
	}
	os.Exit(m.Run())
}

// TestNotesAddCtrlC: `lenskit notes add` waiting for another process's lock
// on the notes file says so, and Ctrl-C (SIGINT) ends the wait with an error
// naming the lock, not a silent death or a hang (issue 12); the file is
// left as it was.
func TestNotesAddCtrlC(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.json")
	args := []string{"notes", "add", "--file", path, "--component", "1.1 OV", "--label", "x",
		"--model-id", "m", "--layers", "2", "--heads", "2", "--neurons", "4"}
	if code, _, errs := runCLI(t, args...); code != 0 {
		t.Fatalf("first add: exit %d: %s", code, errs)
	}
	before, err := os.ReadFile(path)
	if err != nil {
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
	add := append([]string{}, args...)
	add[7] = "y" // another label
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, add...)...)
	cmd.Env = append(os.Environ(), "LENSKIT_TEST_RUN_MAIN=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // past the one-second notice
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("after Ctrl-C: %v, want exit status 1; stderr %q", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("still waiting 20 s after Ctrl-C; stderr %q", stderr.String())
	}
	msg := stderr.String()
	for _, want := range []string{"notes: waiting for the lock on " + path + ".lock", "interrupt signal received"} {
		if !strings.Contains(msg, want) {
			t.Errorf("stderr lacks %q:\n%s", want, msg)
		}
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(before) {
		t.Error("the notes file changed after a cancelled write")
	}
}
