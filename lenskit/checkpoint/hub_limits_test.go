package checkpoint_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"lenskit.dev/lenskit/checkpoint"
)

// within runs f and fails the test if it has not returned after a few
// seconds: the defect checked here is a wait without end, not slowness.
func within(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still blocked after 10 s", what)
		return nil
	}
}

// load is checkpoint.Load that closes what it opened; the error is what
// the tests look at.
func load(name string, opts ...checkpoint.Option) error {
	c, err := checkpoint.Load(context.Background(), name, opts...)
	if err == nil {
		c.Close()
	}
	return err
}

// cdnPath is where the fake hub serves an LFS file's body.
func cdnPath(b []byte) string {
	sum := sha256.Sum256(b)
	return "/cdn/" + hex.EncodeToString(sum[:])
}

// leftovers lists temporary files a download left in the cache.
func leftovers(t *testing.T, cache string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(cache, func(path string, d fs.DirEntry, err error) error {
		if err == nil && (strings.Contains(d.Name(), ".lenskit-") || strings.HasSuffix(d.Name(), ".incomplete") || strings.HasSuffix(d.Name(), ".part")) {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// A hub that accepts the connection and never answers used to hang Load for
// ever (http.DefaultClient, background context): now the revision lookup
// fails after the idle timeout, naming the hub.
func TestHubNeverAnswers(t *testing.T) {
	hubEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	endpoint := "http://" + ln.Addr().String()
	err = within(t, "Load from a hub that never answers", func() error {
		return load("acme/tiny", checkpoint.WithEndpoint(endpoint), checkpoint.WithTimeouts(0, 300*time.Millisecond))
	})
	if !errors.Is(err, checkpoint.ErrTimeout) || !strings.Contains(err.Error(), "no answer from "+endpoint+" within 300ms") ||
		!strings.Contains(err.Error(), "acme/tiny@main: revision lookup") {
		t.Errorf("hub that never answers: %v", err)
	}
}

// A body that stops in the middle fails after the idle timeout, leaves no
// blob and no temporary file, and the next load succeeds.
func TestHubStallMidBody(t *testing.T) {
	h, _, cache := hubEnv(t)
	weights := h.content("acme/tiny", commitA, "model.safetensors")
	stalled := cdnPath(weights)
	release := make(chan struct{})
	defer close(release)
	h.setHook(func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodGet || req.URL.Path != stalled {
			return false
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(weights)))
		w.Write(weights[:1000])
		w.(http.Flusher).Flush()
		select { // hold the connection open, sending nothing
		case <-req.Context().Done():
		case <-release:
		}
		return true
	})
	err := within(t, "Load with a stalled download", func() error {
		return load("acme/tiny", checkpoint.WithTimeouts(0, 300*time.Millisecond))
	})
	if !errors.Is(err, checkpoint.ErrTimeout) || !strings.Contains(err.Error(), "downloading model.safetensors") ||
		!strings.Contains(err.Error(), "no data for 300ms after 1000 bytes") {
		t.Errorf("stalled download: %v", err)
	}
	if l := leftovers(t, cache); len(l) > 0 {
		t.Errorf("temporary files left: %v", l)
	}
	h.setHook(func(http.ResponseWriter, *http.Request) bool { return false })
	if err := load("acme/tiny"); err != nil {
		t.Fatal(err)
	}
}

// A download that keeps moving is never cut, however long it takes in all:
// config.json arrives 16 bytes every 40 ms — many times the 200 ms idle
// timeout in total, never 200 ms without a byte.
func TestHubSlowButMoving(t *testing.T) {
	h, _, _ := hubEnv(t)
	config := h.content("acme/tiny", commitA, "config.json")
	path := "/acme/tiny/resolve/" + commitA + "/config.json"
	const chunk, every, idle = 16, 40 * time.Millisecond, 200 * time.Millisecond
	if n := (len(config) + chunk - 1) / chunk; time.Duration(n)*every < 3*idle {
		t.Fatalf("config.json of %d bytes is too short to trickle past the timeout", len(config))
	}
	h.setHook(func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodGet || req.URL.Path != path {
			return false
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(config)))
		for b := config; len(b) > 0; b = b[min(chunk, len(b)):] {
			w.Write(b[:min(chunk, len(b))])
			w.(http.Flusher).Flush()
			time.Sleep(every)
		}
		return true
	})
	if err := load("acme/tiny", checkpoint.WithTimeouts(0, idle)); err != nil {
		t.Errorf("slow but moving download: %v", err)
	}
}

// One request follows at most ten redirects, the hub's own to its CDN
// included (go-huggingface followed 999).
func TestHubRedirectLoop(t *testing.T) {
	h, _, cache := hubEnv(t)
	var mu sync.Mutex
	hops := 0
	h.setHook(func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodGet || !strings.HasPrefix(req.URL.Path, "/cdn/") {
			return false
		}
		mu.Lock()
		hops++
		mu.Unlock()
		http.Redirect(w, req, req.URL.Path+"?hop="+strconv.Itoa(hops), http.StatusFound)
		return true
	})
	err := load("acme/tiny")
	if !errors.Is(err, checkpoint.ErrLimit) || !strings.Contains(err.Error(), "stopped after 10 redirects") || !strings.Contains(err.Error(), "model.safetensors") {
		t.Errorf("redirect loop: %v", err)
	}
	if hops != 9 {
		t.Errorf("%d CDN redirects followed after the hub's, want 9", hops)
	}
	if l := leftovers(t, cache); len(l) > 0 {
		t.Errorf("temporary files left: %v", l)
	}
}

// Bodies are asked for in identity encoding and never decoded: a gzip body
// (64 MB of zeros in 64 kB, for a config.json of a few hundred bytes) used
// to be inflated into the cache before the size check. And a body longer
// than the hub announced is cut off at the announced size.
func TestHubEncodingAndSize(t *testing.T) {
	h, _, cache := hubEnv(t)
	configPath := "/acme/tiny/resolve/" + commitA + "/config.json"
	var zipped bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zipped, gzip.BestCompression)
	zero := make([]byte, 1<<20)
	for range 64 {
		zw.Write(zero)
	}
	zw.Close()
	h.setHook(func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodGet || req.URL.Path != configPath {
			return false
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(zipped.Bytes())
		return true
	})
	err := load("acme/tiny")
	if !errors.Is(err, checkpoint.ErrUnsupported) || !strings.Contains(err.Error(), `"gzip" encoding`) || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("gzip body: %v", err)
	}
	h.mu.Lock()
	for _, e := range h.encodings {
		if e != "identity" {
			t.Errorf("a GET asked for Accept-Encoding %q", e)
		}
	}
	h.mu.Unlock()

	// Longer than announced, with and without a Content-Length.
	weights := h.content("acme/tiny", commitA, "model.safetensors")
	for _, withLength := range []bool{true, false} {
		h.setHook(func(w http.ResponseWriter, req *http.Request) bool {
			if req.Method != http.MethodGet || req.URL.Path != cdnPath(weights) {
				return false
			}
			body := append(append([]byte(nil), weights...), make([]byte, 4<<20)...)
			if withLength {
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			}
			w.Write(body)
			return true
		})
		err = load("acme/tiny")
		if !errors.Is(err, checkpoint.ErrLimit) || !strings.Contains(err.Error(), "larger than announced") ||
			!strings.Contains(err.Error(), fmt.Sprintf("announced %d bytes", len(weights))) {
			t.Errorf("longer body (Content-Length %v): %v", withLength, err)
		}
	}
	if l := leftovers(t, cache); len(l) > 0 {
		t.Errorf("temporary files left: %v", l)
	}
	filepath.WalkDir(cache, func(path string, d fs.DirEntry, err error) error {
		if info, err := d.Info(); err == nil && info.Mode().IsRegular() && info.Size() > int64(len(weights)) {
			t.Errorf("%s: %d bytes in the cache", path, info.Size())
		}
		return nil
	})
}

// 429 and 503 are retried after the hub's Retry-After, or after a back-off,
// a bounded number of times; a Retry-After past the limit fails at once.
func TestHubRetry(t *testing.T) {
	h, _, _ := hubEnv(t)
	var mu sync.Mutex
	var waits []time.Duration
	defer checkpoint.SetRetrySleep(func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return ctx.Err()
	})()
	// refuse answers code (with Retry-After when retryAfter is set) to the
	// first n requests for paths starting with prefix.
	refuse := func(prefix string, n, code int, retryAfter string) {
		left := n
		h.setHook(func(w http.ResponseWriter, req *http.Request) bool {
			mu.Lock()
			defer mu.Unlock()
			if !strings.HasPrefix(req.URL.Path, prefix) || left == 0 {
				return false
			}
			left--
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			http.Error(w, http.StatusText(code), code)
			return true
		})
	}
	check := func(what string, err error, want ...time.Duration) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
		if fmt.Sprint(waits) != fmt.Sprint(want) {
			t.Errorf("%s: waited %v, want %v", what, waits, want)
		}
		waits = nil
	}
	refuse("/api/models/", 2, http.StatusTooManyRequests, "7")
	check("429 with Retry-After", load("acme/tiny"), 7*time.Second, 7*time.Second)
	refuse("/acme/sharded/resolve/", 2, http.StatusServiceUnavailable, "")
	check("503 without Retry-After", load("acme/sharded"), time.Second, 2*time.Second)

	refuse("/api/models/", 100, http.StatusServiceUnavailable, "")
	err := load("acme/tiny", checkpoint.WithRefresh())
	if err == nil || !strings.Contains(err.Error(), "503 Service Unavailable (4 tries)") {
		t.Errorf("503 for ever: %v", err)
	}
	check("503 for ever", nil, time.Second, 2*time.Second, 4*time.Second)

	refuse("/api/models/", 100, http.StatusTooManyRequests, "3600")
	err = load("acme/tiny", checkpoint.WithRefresh())
	if !errors.Is(err, checkpoint.ErrLimit) || !strings.Contains(err.Error(), "asks to wait 1h0m0s before retrying, more than the 1m0s") {
		t.Errorf("Retry-After of an hour: %v", err)
	}
	check("Retry-After of an hour", nil)
	refuse("/api/models/", 100, http.StatusTooManyRequests, "1")
	err = load("acme/tiny", checkpoint.WithRefresh(), checkpoint.WithRetry(0, 0))
	if err == nil || !strings.Contains(err.Error(), "429 Too Many Requests") {
		t.Errorf("no retries: %v", err)
	}
	check("no retries", nil)
}

// Several processes and goroutines loading the same models into an empty
// cache at once all succeed, and each blob is downloaded once: the others
// wait on its lock and find it. With fixed temporary names 2–4 of 80 such
// loads failed with "rename …config.json.lenskit-tmp: no such file or
// directory" or "writing ref: rename …".
func TestHubConcurrentFirstDownloads(t *testing.T) {
	if os.Getenv("LENSKIT_HUB_CHILD") != "" {
		concurrentLoads(t, 2)
		return
	}
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	h, _, _ := hubEnv(t)
	models := []string{"acme/tiny", "acme/sharded"}
	for round := range 3 {
		home := t.TempDir()
		t.Setenv("HF_HOME", home)
		before := map[string]int{}
		var lfs []string
		for _, id := range models {
			h.mu.Lock()
			for name, b := range h.repos[id].files[commitA] {
				if isLFS(name) {
					lfs = append(lfs, cdnPath(b))
				}
			}
			h.mu.Unlock()
		}
		for _, p := range lfs {
			before[p] = h.getCount(p)
		}
		var cmds []*exec.Cmd
		var outs []*bytes.Buffer
		for range 4 {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHubConcurrentFirstDownloads$", "-test.count=1")
			cmd.Env = append(os.Environ(), "LENSKIT_HUB_CHILD=1")
			out := &bytes.Buffer{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds, outs = append(cmds, cmd), append(outs, out)
		}
		concurrentLoads(t, 4)
		for i, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Errorf("round %d: child %d: %v\n%s", round, i, err, outs[i])
			}
		}
		for _, p := range lfs {
			if n := h.getCount(p) - before[p]; n != 1 {
				t.Errorf("round %d: %s downloaded %d times by 6 processes' 12 loads, want once", round, p, n)
			}
		}
		if l := leftovers(t, filepath.Join(home, "hub")); len(l) > 0 {
			t.Errorf("round %d: temporary files left: %v", round, l)
		}
	}
}

// concurrentLoads loads each test model from goroutines at once.
func concurrentLoads(t *testing.T, goroutines int) {
	var wg sync.WaitGroup
	for _, id := range []string{"acme/tiny", "acme/sharded"} {
		for range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := load(id); err != nil {
					t.Errorf("pid %d: %s: %v", os.Getpid(), id, err)
				}
			}()
		}
	}
	wg.Wait()
}
