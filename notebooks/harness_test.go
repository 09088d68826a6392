package notebooks_test

// Tests of the harness itself: they run without Jupyter, on executed
// notebooks written out by hand, so that a harness that silently passes
// everything cannot go unnoticed.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// executed is an executed notebook as nbconvert writes it: a markdown cell,
// a tagged cell with a stream and an HTML display (text fields as lists of
// lines, as nbformat stores them), and cells that failed to compile and
// panicked, with GoNB's ANSI escapes in the traceback.
const executed = `{
 "nbformat": 4, "nbformat_minor": 5,
 "metadata": {"kernelspec": {"name": "lenskit", "display_name": "Go (lenskit)"}},
 "cells": [
  {"cell_type": "markdown", "id": "a", "metadata": {}, "source": "# Title"},
  {"cell_type": "code", "id": "b", "metadata": {"tags": ["neuron", "table"]}, "execution_count": 1,
   "source": ["%%\n", "lens.Neuron(2, 345).Top(30).Show()"],
   "outputs": [
    {"output_type": "stream", "name": "stdout", "text": ["L2/N345\n", "K | V\n"]},
    {"output_type": "display_data", "metadata": {},
     "data": {"text/html": ["<td title=\"&lt;s&gt;\">", "mi&#322;o&#347;&#263;</td>"], "text/plain": "table"}}
   ]},
  {"cell_type": "code", "id": "c", "metadata": {}, "execution_count": 2,
   "source": "%%\nx := undefinedThing",
   "outputs": [
    {"output_type": "error", "ename": "ERROR", "evalue": "failed to run \"go build\": exit status 1",
     "traceback": ["\u001b[7m[[ Cell [2] Line 2 ]]\u001b[0m undefined: undefinedThing"]}
   ]},
  {"cell_type": "code", "id": "d", "metadata": {"tags": ["head"]}, "execution_count": 3,
   "source": "%%\npanic(\"boom\")",
   "outputs": [
    {"output_type": "stream", "name": "stderr", "text": "panic: boom\n"},
    {"output_type": "error", "ename": "ERROR", "evalue": "exit status 2", "traceback": ["exit status 2"]}
   ]}
 ]
}`

func parse(t *testing.T, s string) *notebook {
	t.Helper()
	var nb notebook
	if err := json.Unmarshal([]byte(s), &nb); err != nil {
		t.Fatal(err)
	}
	return &nb
}

func TestCheck(t *testing.T) {
	nb := parse(t, executed)
	tests := []struct {
		name string
		exps []expectation
		want []string // one substring per problem, in order
	}{
		{
			name: "errors only",
			want: []string{
				`cell 3 ("%%") failed: ERROR: failed to run "go build"`,
				`cell 4 [head] ("%%") failed: ERROR: exit status 2`,
			},
		},
		{
			name: "met expectations add nothing",
			exps: []expectation{
				{Cell: "table", Contains: []string{"L2/N345", "K | V", "miłość", `title="<s>"`, "table"}},
				{Cell: "head", Contains: []string{"panic: boom"}},
			},
			want: []string{"cell 3", "cell 4"},
		},
		{
			name: "unmet expectation names cell and string",
			exps: []expectation{{Cell: "neuron", Contains: []string{"L2/N345", "L9/N1"}}},
			want: []string{"cell 3", "cell 4", `cell 2 [neuron, table] ("%%"): output lacks "L9/N1"`},
		},
		{
			name: "missing tag",
			exps: []expectation{{Cell: "heatmap", Contains: []string{"canvas"}}},
			want: []string{"cell 3", "cell 4", `no cell is tagged "heatmap"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := check(nb, tt.exps)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n---\n"))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

func TestCheckQuotesFailure(t *testing.T) {
	got := check(parse(t, executed), nil)
	if !strings.Contains(got[0], "[[ Cell [2] Line 2 ]] undefined: undefinedThing") {
		t.Errorf("compile error not quoted without ANSI escapes:\n%s", got[0])
	}
	if !strings.Contains(got[1], "panic: boom") {
		t.Errorf("panic output not quoted:\n%s", got[1])
	}
}

// GoNB (without -raw_error) shows compile errors as HTML with a style
// block; a failure report quotes their text, not their markup.
func TestCheckStripsMarkupFromFailures(t *testing.T) {
	nb := parse(t, `{"cells": [{"cell_type": "code", "metadata": {}, "source": "%%\nx := 1",
	 "outputs": [
	  {"output_type": "display_data", "data": {"text/html": ["<style>\n.gonb-err-location { border: 1px }\n</style>\n",
	   "<div class=\"gonb-err-line\">declared and not used: x</div>\n\n\n<div>main.go:10:1</div>"]}},
	  {"output_type": "error", "ename": "ERROR", "evalue": "failed to run \"go build\"", "traceback": []}
	 ]}]}`)
	got := check(nb, nil)
	if len(got) != 1 {
		t.Fatalf("got %d problems, want 1: %q", len(got), got)
	}
	for _, bad := range []string{"<div", "gonb-err-location", "border"} {
		if strings.Contains(got[0], bad) {
			t.Errorf("report keeps markup %q:\n%s", bad, got[0])
		}
	}
	if !strings.Contains(got[0], "declared and not used: x\nmain.go:10:1") {
		t.Errorf("report lacks the error text:\n%s", got[0])
	}
}

func TestCheckPassesCleanNotebook(t *testing.T) {
	nb := parse(t, executed)
	nb.Cells = nb.Cells[:2]
	if got := check(nb, []expectation{{Cell: "neuron", Contains: []string{"miłość"}}}); len(got) != 0 {
		t.Errorf("clean notebook: %q", got)
	}
}

func TestKernelServes(t *testing.T) {
	root := t.TempDir()
	other := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(root, link); err != nil {
		t.Fatal(err)
	}
	spec := func(argv ...string) string {
		b, _ := json.Marshal(map[string]any{"kernelspecs": map[string]any{
			"python3": map[string]any{"resource_dir": "/usr/share/jupyter/kernels/python3", "spec": map[string]any{"argv": []string{"python3"}}},
			"lenskit": map[string]any{"resource_dir": "/k/lenskit", "spec": map[string]any{"argv": argv}},
		}})
		return string(b)
	}
	tests := []struct {
		name, list, wantErr string
	}{
		{"this checkout", spec("gonb", "--kernel", "{connection_file}", "-go_work="+root+",/mod/gonb@v0.11.4"), ""},
		{"through a symlink", spec("gonb", "-go_work="+link+",/mod/gonb"), ""},
		{"another checkout", spec("gonb", "-go_work="+other+",/mod/gonb"), "builds cells against " + other},
		{"not from kernel/setup", spec("gonb", "--kernel", "{connection_file}"), "no -go_work argument"},
		{"not installed", `{"kernelspecs": {}}`, `kernel "lenskit" is not installed`},
		{"not JSON", `Available kernels:`, "reading `jupyter kernelspec list --json`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := kernelServes([]byte(tt.list), root)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadExpectations(t *testing.T) {
	tests := []struct {
		name, file, wantErr string
	}{
		{"ok", `{"a.ipynb": [{"cell": "t", "contains": ["x"]}]}`, ""},
		{"unknown field", `{"a.ipynb": [{"tag": "t", "contains": ["x"]}]}`, `unknown field "tag"`},
		{"no cell", `{"a.ipynb": [{"contains": ["x"]}]}`, "a.ipynb expectation 0"},
		{"nothing to find", `{"a.ipynb": [{"cell": "t", "contains": []}]}`, "a.ipynb expectation 0"},
		{"empty string", `{"a.ipynb": [{"cell": "t", "contains": ["x", ""]}]}`, "a.ipynb expectation 0"},
		{"truncated", `{"a.ipynb": [`, "expect.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "expect.json")
			if err := os.WriteFile(p, []byte(tt.file), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := loadExpectations(p)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
	if _, err := loadExpectations(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("a missing table loaded without error")
	}
}

func TestExpectationsCoverNotebooks(t *testing.T) {
	exp := map[string][]expectation{"a.ipynb": {{Cell: "t", Contains: []string{"x"}}}, "gone.ipynb": {{Cell: "t", Contains: []string{"x"}}}}
	err := checkCoverage([]string{"a.ipynb", "b.ipynb"}, exp)
	if err == nil || !strings.Contains(err.Error(), "b.ipynb has no expectations") || !strings.Contains(err.Error(), "names gone.ipynb") {
		t.Errorf("checkCoverage = %v, want both the uncovered notebook and the stale entry", err)
	}
	if err := checkCoverage([]string{"a.ipynb"}, map[string][]expectation{"a.ipynb": exp["a.ipynb"]}); err != nil {
		t.Errorf("matching table: %v", err)
	}
}

// The real table must load and cover the real notebooks, also where
// Jupyter is not installed.
func TestExpectFile(t *testing.T) {
	exp, err := loadExpectations(expectFile)
	if err != nil {
		t.Fatal(err)
	}
	files, err := notebookFiles()
	if err != nil {
		t.Fatal(err)
	}
	if err := checkCoverage(files, exp); err != nil {
		t.Error(err)
	}
}

func TestReadNotebookErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.ipynb")
	if err := os.WriteFile(bad, []byte(`{"cells": [{"source": 7}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readNotebook(bad); err == nil || !strings.Contains(err.Error(), "bad.ipynb is not valid nbformat JSON") {
		t.Errorf("readNotebook(bad) = %v", err)
	}
	if _, err := readNotebook(filepath.Join(dir, "none.ipynb")); err == nil {
		t.Error("readNotebook of a missing file succeeded")
	}
}

func TestTail(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdef", 3, "…def"},
		{"zażółć", 3, "…ć"}, // never cut inside a rune: ć is 2 bytes, ł too
	}
	for _, tt := range tests {
		if got := tail(tt.s, tt.n); got != tt.want {
			t.Errorf("tail(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}
