package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFreshCheckout is the README's promise: on a fresh checkout the first
// command (`make notebook`) brings up a server that answers on localhost,
// asks for the token, and lists the notebooks; and running the set-up a
// second time changes nothing and does no work.
//
// The checkout is a copy of the files git would clone (tracked ones, and
// untracked ones that are not ignored, so local edits are tested too) with
// no .lenskit state, and Jupyter's data directory is private to the test,
// so the researcher's own kernel registration is never touched.
func TestFreshCheckout(t *testing.T) {
	require(t, "make", "git", "jupyter")
	root := freshCopy(t, repoRoot(t))
	data := t.TempDir()
	env := []string{"JUPYTER_DATA_DIR=" + data}

	srv := startServer(t, root, "notebooks", env...)
	t.Logf("fresh checkout: make notebook answered after %.1f s", srv.ready.Seconds())
	out := srv.log.String()
	for _, want := range []string{"kernel lenskit: written", "lenskit notebooks: " + srv.URL + "/tree?token=" + srv.Token} {
		if !strings.Contains(out, want) {
			t.Errorf("make notebook output lacks %q:\n%s", want, out)
		}
	}

	// Token authentication is on.
	resp, err := http.Get(srv.URL + "/api/contents")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Errorf("GET /api/contents without the token: %s, want a refusal", resp.Status)
	}

	// Every notebook of the checkout is served, at every depth.
	want := notebooksIn(t, filepath.Join(root, "notebooks"))
	if len(want) == 0 {
		t.Fatal("the checkout has no notebooks to list")
	}
	for _, nb := range want {
		var m struct{ Name, Path, Type string }
		if err := srv.get("/api/contents/"+nb, &m); err != nil {
			t.Errorf("notebook %s not served: %v", nb, err)
		} else if m.Type != "notebook" || m.Path != nb {
			t.Errorf("notebook %s served as %q at %q", nb, m.Type, m.Path)
		}
	}
	var top struct{ Content []struct{ Name, Type string } }
	if err := srv.get("/api/contents/", &top); err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, c := range top.Content {
		listed = append(listed, c.Name)
	}
	for _, nb := range want {
		first, _, _ := strings.Cut(nb, "/")
		if !slices.Contains(listed, first) {
			t.Errorf("the notebook list %q lacks %s", listed, first)
		}
	}

	// The second run: same state afterwards, and no step did any work.
	before := stateHash(t, root, data)
	setup := exec.Command(filepath.Join(root, "kernel", "setup"))
	setup.Env = append(os.Environ(), env...)
	start := time.Now()
	second, err := setup.CombinedOutput()
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("second kernel/setup: %v\n%s", err, second)
	}
	t.Logf("second kernel/setup took %.2f s:\n%s", elapsed.Seconds(), second)
	if after := stateHash(t, root, data); after != before {
		t.Errorf("the second kernel/setup changed the kernel or the tools (state hash %s → %s)", before, after)
	}
	if work := regexp.MustCompile(`(?m)^kernel/setup: .*(installing|building|fetching|written).*$`).FindAll(second, -1); len(work) > 0 {
		t.Errorf("the second kernel/setup did work:\n%s", bytes.Join(work, []byte("\n")))
	}
	for _, step := range []string{"apt: ", "go tool gonb ", "go tool gopls ", "go tool goimports ", "cell modules: ", "kernel lenskit: unchanged"} {
		if !bytes.Contains(second, []byte("kernel/setup: "+step)) {
			t.Errorf("the second kernel/setup did not report step %q", step)
		}
	}
}

// freshCopy copies what a clone of root would hold, plus local edits
// that are not ignored, into a new directory.
func freshCopy(t *testing.T, root string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files in %s: %v", root, err)
	}
	dst := filepath.Join(t.TempDir(), "lenskit")
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, name)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the work tree, or a symlink/submodule: a clone would differ anyway
		}
		if err := copyFile(filepath.Join(dst, name), src, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func copyFile(dst, src string, perm fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// notebooksIn lists the .ipynb files under dir as slash paths relative to
// it, skipping Jupyter's checkpoints.
func notebooksIn(t *testing.T, dir string) []string {
	t.Helper()
	var nbs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".ipynb_checkpoints" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".ipynb") {
			rel, _ := filepath.Rel(dir, p)
			nbs = append(nbs, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return nbs
}

// stateHash hashes what kernel/setup produces: the tool binaries and the
// kernel spec, names and contents.
func stateHash(t *testing.T, root, jupyterData string) string {
	t.Helper()
	h := sha256.New()
	for _, dir := range []string{filepath.Join(root, ".lenskit"), filepath.Join(jupyterData, "kernels", "lenskit")} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			io.WriteString(h, p+"\x00")
			_, err = io.Copy(h, f)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// BenchmarkSetupWarm measures a re-run of kernel/setup on this checkout,
// where everything is in place already (make test has run it): the cost of
// the checks that every `make notebook` pays before the server starts.
func BenchmarkSetupWarm(b *testing.B) {
	root, err := filepath.Abs("..")
	if err != nil {
		b.Fatal(err)
	}
	setup := filepath.Join(root, "kernel", "setup")
	if out, err := exec.Command(setup).CombinedOutput(); err != nil {
		b.Skipf("kernel/setup does not run here: %v\n%s", err, out)
	}
	for b.Loop() {
		if out, err := exec.Command(setup).CombinedOutput(); err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
	}
}
