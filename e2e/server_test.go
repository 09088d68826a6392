// Package e2e tests lenskit the way a researcher meets it: `make notebook`
// on a fresh checkout brings up a notebook server, and the notebooks, opened
// in a real browser, run and draw their heatmaps.
//
// It is a module of its own so that the browser driver (chromedp) stays out
// of the library's dependencies; `make test` runs it after the Go tests of
// the main module. Without Jupyter, make or Chromium the tests skip and say
// why; `make test` installs them first and sets LENSKIT_REQUIRE_BROWSER=1,
// which turns the skips into failures.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serverStart bounds how long `make notebook` may take to answer: it runs
// kernel/setup first, which on a fresh checkout links the tool binaries and
// compiles the library.
const serverStart = 15 * time.Minute

// require skips the test when tool is not installed, or fails it under
// LENSKIT_REQUIRE_BROWSER=1 (set by make test, which installs everything).
func require(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			msg := fmt.Sprintf("%s is not installed; run kernel/setup --with-browser (make test does)", tool)
			if os.Getenv("LENSKIT_REQUIRE_BROWSER") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// repoRoot is the checkout this module sits in.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "kernel", "setup")); err != nil {
		t.Fatalf("%s is not a lenskit checkout: %v", root, err)
	}
	return root
}

// server is a running `make notebook`.
type server struct {
	URL   string // http://127.0.0.1:PORT
	Token string
	log   *syncBuffer
	ready time.Duration // from start until the API answered
}

// startServer runs `make notebook` in root, exactly as the README says,
// with a free port, the given notebook directory and a known token, and
// waits until the server's API answers. env is added to the environment
// (JUPYTER_DATA_DIR, for instance). The server is stopped when the test
// ends.
func startServer(t *testing.T, root, notebookDir string, env ...string) *server {
	t.Helper()
	port := freePort(t)
	s := &server{
		URL:   "http://127.0.0.1:" + strconv.Itoa(port),
		Token: randomToken(t),
		log:   &syncBuffer{},
	}
	cmd := exec.Command("make", "-C", root, "notebook",
		"NOTEBOOK_PORT="+strconv.Itoa(port), "NOTEBOOK_DIR="+notebookDir)
	cmd.Env = append(append(os.Environ(), "JUPYTER_TOKEN="+s.Token), env...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	// A process group of its own, so that stopping it stops make, the
	// server and its kernels, and nothing else.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("make notebook output:\n%s", s.log.String())
		}
	})

	deadline := time.Now().Add(serverStart)
	for {
		select {
		case err := <-exited:
			t.Fatalf("make notebook exited (%v) before the server answered:\n%s", err, s.log.String())
		case <-time.After(250 * time.Millisecond):
		}
		if resp, err := http.Get(s.URL + "/api/status?token=" + url.QueryEscape(s.Token)); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.ready = time.Since(start)
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("make notebook did not answer on %s within %v:\n%s", s.URL, serverStart, s.log.String())
		}
	}
}

// get fetches path from the server's REST API with the token and decodes
// the JSON answer into v.
func (s *server) get(path string, v any) error {
	resp, err := http.Get(s.URL + path + "?token=" + url.QueryEscape(s.Token))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %.200s", path, resp.Status, b)
	}
	return json.Unmarshal(b, v)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// syncBuffer collects a process's output while tests read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// withTimeout is context.WithTimeout whose cancel runs when the test ends.
func withTimeout(t *testing.T, parent context.Context, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(parent, d)
	t.Cleanup(cancel)
	return ctx
}
