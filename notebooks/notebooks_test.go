// Package notebooks_test executes every notebook of this directory headless
// through the lenskit Jupyter kernel, the way a researcher's server would
// run it, and checks what the cells printed.
//
// Each notebook runs with `jupyter nbconvert --execute` into a temporary
// directory (the notebooks in the repository are never rewritten). A
// notebook fails when any cell has an error output, and when a cell named
// in testdata/expect.json lacks one of its expected substrings. Cells are
// named by Jupyter cell tags (View → Cell Toolbar → Tags in the classic
// Notebook), which survive reordering and editing where an index would not.
//
// The kernel runs with GOPROXY=off: every import a notebook makes must
// resolve from the module cache that kernel/setup filled, as it must on a
// researcher's offline machine.
//
// Without Jupyter or the lenskit kernel the execution test skips and says
// how to install them; `make test` installs them first and sets
// LENSKIT_REQUIRE_NOTEBOOKS=1, which turns the skip into a failure.
//
// The library reaches this test only through Jupyter, where go test's
// result cache cannot see it: run with -count=1 (make test does) after
// changing the library, or a cached pass may be stale.
package notebooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const (
	kernelName  = "lenskit"
	expectFile  = "testdata/expect.json"
	smokeFile   = "testdata/smoke.ipynb"
	cellTimeout = 20 * time.Minute // one cell; the first cold build of GoMLX takes about half a minute
	runTimeout  = 45 * time.Minute // one whole notebook
	maxReport   = 4000             // bytes of a failing cell's output quoted in a failure
	maxNotebook = 64 << 20         // an executed notebook larger than this is refused, not parsed
)

// notebookFiles lists the notebooks the test executes, as paths relative to
// this directory: every *.ipynb here, and the kernel smoke test.
func notebookFiles() ([]string, error) {
	files, err := filepath.Glob("*.ipynb")
	if err != nil {
		return nil, err
	}
	return append(files, smokeFile), nil
}

func TestNotebooks(t *testing.T) {
	jupyter := requireKernel(t)
	expect, err := loadExpectations(expectFile)
	if err != nil {
		t.Fatal(err)
	}
	files, err := notebookFiles()
	if err != nil {
		t.Fatal(err)
	}
	if err := checkCoverage(files, expect); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			nb, elapsed, err := execute(t, jupyter, f)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s executed in %.1f s", f, elapsed.Seconds())
			for _, p := range check(nb, expect[f]) {
				t.Error(p)
			}
		})
	}
}

// TestNotebookFiles checks what can be checked without running anything:
// every notebook parses and names the lenskit kernel, so that opening it
// in `make notebook` starts the right kernel without asking.
func TestNotebookFiles(t *testing.T) {
	files, err := notebookFiles()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		nb, err := readNotebook(f)
		if err != nil {
			t.Error(err)
			continue
		}
		if got := nb.Metadata.Kernelspec.Name; got != kernelName {
			t.Errorf("%s: metadata.kernelspec.name is %q, want %q", f, got, kernelName)
		}
	}
}

// requireKernel returns the path of jupyter when it and the lenskit kernel
// of this checkout are installed. Otherwise it skips the test, or fails it
// under LENSKIT_REQUIRE_NOTEBOOKS=1.
func requireKernel(t *testing.T) string {
	t.Helper()
	missing := func(format string, args ...any) string {
		msg := fmt.Sprintf(format, args...) + "; run kernel/setup (make test does)"
		if os.Getenv("LENSKIT_REQUIRE_NOTEBOOKS") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
		return ""
	}
	jupyter, err := exec.LookPath("jupyter")
	if err != nil {
		return missing("jupyter is not installed")
	}
	out, err := exec.Command(jupyter, "kernelspec", "list", "--json").Output()
	if err != nil {
		return missing("`jupyter kernelspec list` failed (%v): jupyter-client is not installed", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if err := kernelServes(out, root); err != nil {
		return missing("%v", err)
	}
	return jupyter
}

// kernelServes checks, in the output of `jupyter kernelspec list --json`,
// that the lenskit kernel exists and builds cells against the checkout in
// root: a kernel registered by another checkout would test other code.
func kernelServes(kernelspecs []byte, root string) error {
	var list struct {
		Kernelspecs map[string]struct {
			ResourceDir string `json:"resource_dir"`
			Spec        struct {
				Argv []string `json:"argv"`
			} `json:"spec"`
		} `json:"kernelspecs"`
	}
	if err := json.Unmarshal(kernelspecs, &list); err != nil {
		return fmt.Errorf("reading `jupyter kernelspec list --json`: %v", err)
	}
	k, ok := list.Kernelspecs[kernelName]
	if !ok {
		return fmt.Errorf("the Jupyter kernel %q is not installed", kernelName)
	}
	for _, a := range k.Spec.Argv {
		dirs, ok := strings.CutPrefix(a, "-go_work=")
		if !ok {
			continue
		}
		first, _, _ := strings.Cut(dirs, ",")
		if sameDir(first, root) {
			return nil
		}
		return fmt.Errorf("the kernel %q (%s) builds cells against %s, not this checkout %s", kernelName, k.ResourceDir, first, root)
	}
	return fmt.Errorf("the kernel %q (%s) has no -go_work argument: it was not registered by kernel/setup", kernelName, k.ResourceDir)
}

func sameDir(a, b string) bool {
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

// execute runs the notebook at path through the lenskit kernel into a
// temporary directory and returns the executed notebook.
func execute(t *testing.T, jupyter, path string) (*notebook, time.Duration, error) {
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, jupyter, "nbconvert", "--to", "notebook", "--execute",
		// Keep going after an error, so that one run reports every failing cell.
		"--allow-errors",
		"--ExecutePreprocessor.kernel_name="+kernelName,
		fmt.Sprintf("--ExecutePreprocessor.timeout=%d", int(cellTimeout.Seconds())),
		"--output-dir", out, "--output", "executed.ipynb", path)
	cmd.Env = append(os.Environ(), "GOPROXY=off")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		return nil, elapsed, fmt.Errorf("%s: jupyter nbconvert --execute failed after %.0f s: %v\n%s", path, elapsed.Seconds(), err, tail(log.String(), maxReport))
	}
	nb, err := readNotebook(filepath.Join(out, "executed.ipynb"))
	if err != nil {
		return nil, elapsed, fmt.Errorf("%s: %v", path, err)
	}
	return nb, elapsed, nil
}

// The subset of nbformat 4 the checks read.
type notebook struct {
	Cells    []cell `json:"cells"`
	Metadata struct {
		Kernelspec struct {
			Name string `json:"name"`
		} `json:"kernelspec"`
	} `json:"metadata"`
}

type cell struct {
	CellType string    `json:"cell_type"`
	Source   multiline `json:"source"`
	Metadata struct {
		Tags []string `json:"tags"`
	} `json:"metadata"`
	Outputs []output `json:"outputs"`
}

type output struct {
	OutputType string                     `json:"output_type"` // stream, display_data, execute_result, error
	Name       string                     `json:"name"`        // stdout or stderr, for streams
	Text       multiline                  `json:"text"`
	Data       map[string]json.RawMessage `json:"data"` // MIME type → multiline string (or JSON)
	Ename      string                     `json:"ename"`
	Evalue     string                     `json:"evalue"`
	Traceback  []string                   `json:"traceback"`
}

// multiline is nbformat's text field: one string, or a list of strings to
// be concatenated.
type multiline string

func (m *multiline) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*m = multiline(s)
		return nil
	}
	var parts []string
	if err := json.Unmarshal(b, &parts); err != nil {
		return errors.New("want a string or a list of strings")
	}
	*m = multiline(strings.Join(parts, ""))
	return nil
}

func readNotebook(path string) (*notebook, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxNotebook {
		return nil, fmt.Errorf("notebook %s is %d bytes, more than the %d this test reads", path, fi.Size(), maxNotebook)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var nb notebook
	if err := json.Unmarshal(b, &nb); err != nil {
		return nil, fmt.Errorf("notebook %s is not valid nbformat JSON: %v", path, err)
	}
	return &nb, nil
}

// expectation: the outputs of the cell tagged Cell contain every string of
// Contains. Outputs are the text of streams, text/plain results, and
// text/html with entities unescaped (the tags stay, so a string may also
// pin markup such as "<b>20.7</b>").
type expectation struct {
	Cell     string   `json:"cell"`
	Contains []string `json:"contains"`
}

// loadExpectations reads the table of expectations: notebook path
// (relative to this directory) → expectations, from path and from every
// *.json file of the directory path names with ".d" in place of ".json"
// (testdata/expect.d/), so that each notebook can keep its expectations in
// a file of its own. A notebook listed twice is an error.
func loadExpectations(path string) (map[string][]expectation, error) {
	files := []string{path}
	more, err := filepath.Glob(filepath.Join(strings.TrimSuffix(path, ".json")+".d", "*.json"))
	if err != nil {
		return nil, err
	}
	files = append(files, more...)
	all := map[string][]expectation{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var m map[string][]expectation
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("%s: %v", f, err)
		}
		for nb, exps := range m {
			for i, e := range exps {
				if e.Cell == "" || len(e.Contains) == 0 || slices.Contains(e.Contains, "") {
					return nil, fmt.Errorf("%s: %s expectation %d: want a cell tag and non-empty strings", f, nb, i)
				}
			}
			if _, dup := all[nb]; dup {
				return nil, fmt.Errorf("%s: %s already has expectations in another file", f, nb)
			}
			all[nb] = exps
		}
	}
	return all, nil
}

// checkCoverage makes the table and the notebooks agree: a notebook without
// expectations would only be checked for errors, and an entry without a
// notebook is a typo.
func checkCoverage(files []string, expect map[string][]expectation) error {
	var errs []error
	for _, f := range files {
		if len(expect[f]) == 0 {
			errs = append(errs, fmt.Errorf("%s has no expectations in %s or testdata/expect.d/: add what its tables must show", f, expectFile))
		}
	}
	for nb := range expect {
		if !slices.Contains(files, nb) {
			errs = append(errs, fmt.Errorf("%s names %s, which is not a notebook here", expectFile, nb))
		}
	}
	return errors.Join(errs...)
}

// check returns one problem per failing cell and per unmet expectation of
// an executed notebook.
func check(nb *notebook, exps []expectation) []string {
	var problems []string
	for i, c := range nb.Cells {
		if c.CellType != "code" {
			continue
		}
		for _, o := range c.Outputs {
			if o.OutputType == "error" {
				problems = append(problems, fmt.Sprintf("%s failed: %s: %s\n%s", cellName(i, c), o.Ename, o.Evalue,
					tail(ansi.ReplaceAllString(strings.Join(o.Traceback, "\n"), "")+"\n"+plainText(outputText(c)), maxReport)))
				break
			}
		}
	}
	for _, e := range exps {
		i := slices.IndexFunc(nb.Cells, func(c cell) bool { return slices.Contains(c.Metadata.Tags, e.Cell) })
		if i < 0 {
			problems = append(problems, fmt.Sprintf("no cell is tagged %q", e.Cell))
			continue
		}
		text := outputText(nb.Cells[i])
		for _, s := range e.Contains {
			if !strings.Contains(text, s) {
				problems = append(problems, fmt.Sprintf("%s: output lacks %q; it was:\n%s", cellName(i, nb.Cells[i]), s, tail(text, maxReport)))
			}
		}
	}
	return problems
}

// cellName names a cell the way a reader finds it: its 1-based position,
// its tags and its first source line.
func cellName(i int, c cell) string {
	first, _, _ := strings.Cut(strings.TrimSpace(string(c.Source)), "\n")
	tags := ""
	if len(c.Metadata.Tags) > 0 {
		tags = " [" + strings.Join(c.Metadata.Tags, ", ") + "]"
	}
	return fmt.Sprintf("cell %d%s (%.60q)", i+1, tags, first)
}

var (
	ansi    = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)
	markup  = regexp.MustCompile(`(?s)<style.*?</style>|<script.*?</script>|<[^>]*>`)
	blankLn = regexp.MustCompile(`\n[ \t]*(\n[ \t]*)+`)
)

// plainText drops the markup of HTML outputs (GoNB shows compile errors as
// HTML), keeping the text a reader of a failure needs.
func plainText(s string) string {
	return blankLn.ReplaceAllString(markup.ReplaceAllString(s, ""), "\n")
}

// outputText is everything a cell showed, as text.
func outputText(c cell) string {
	var b strings.Builder
	for _, o := range c.Outputs {
		switch o.OutputType {
		case "stream":
			b.WriteString(string(o.Text))
		case "display_data", "execute_result":
			for _, mime := range []string{"text/plain", "text/html"} {
				var s multiline
				if raw, ok := o.Data[mime]; ok && json.Unmarshal(raw, &s) == nil {
					if mime == "text/html" {
						s = multiline(html.UnescapeString(string(s)))
					}
					b.WriteString(string(s))
					b.WriteByte('\n')
				}
			}
		case "error":
			b.WriteString(o.Ename + ": " + o.Evalue + "\n")
		}
	}
	return ansi.ReplaceAllString(b.String(), "")
}

// tail keeps the end of s, where compilers and panics put what matters.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := len(s) - n
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return "…" + s[i:]
}
