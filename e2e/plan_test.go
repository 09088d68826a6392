package e2e

// Tests of the browser test's own file handling, without a browser: what
// is served, which notebooks run, and how a changed notes file is reported.

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeFiles creates files (slash paths relative to dir) with the given
// contents.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestCopyNotebooks(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "nb")
	writeFiles(t, src, map[string]string{
		"02-attention-heads.ipynb":                 "{}",
		"03-annotating.ipynb":                      "{}",
		"notes/m.lenskit-notes.json":               "notes",
		"notes/m.lenskit-notes.json.lock":          "",
		".ipynb_checkpoints/03-checkpoint.ipynb":   "old",
		"notes/.ipynb_checkpoints/x-checkpoint.js": "old",
	})
	if err := copyNotebooks(dst, src); err != nil {
		t.Fatal(err)
	}
	want := []string{"02-attention-heads.ipynb", "03-annotating.ipynb", "notes/m.lenskit-notes.json"}
	if got := listFiles(t, dst); !slices.Equal(got, want) {
		t.Errorf("copied %q, want %q", got, want)
	}
}

func TestPlan(t *testing.T) {
	names := func(runs []browserRun) (out []string) {
		for _, r := range runs {
			out = append(out, r.Notebook)
		}
		return out
	}
	// src holds every notebook the browser test always runs.
	src := t.TempDir()
	always := names(browserRuns)
	for _, nb := range always {
		writeFiles(t, src, map[string]string{nb: "{}"})
	}
	other := t.TempDir()
	writeFiles(t, other, map[string]string{"extra.ipynb": "{}", "03-annotating.ipynb": "{}"})
	for _, tc := range []struct {
		name, photo string
		wantRuns    []string
		wantPhoto   string
		wantErr     string
	}{
		{"one of the runs", filepath.Join(src, "02-attention-heads.ipynb"),
			always, "02-attention-heads.ipynb", ""},
		{"another notebook", filepath.Join(other, "extra.ipynb"),
			append(slices.Clone(always), "extra.ipynb"), "extra.ipynb", ""},
		{"a name already served", filepath.Join(other, "03-annotating.ipynb"), nil, "", "has the name of a notebook"},
		{"missing", filepath.Join(other, "nope.ipynb"), nil, "", "notebook to photograph"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := filepath.Join(t.TempDir(), "nb")
			if err := copyNotebooks(work, src); err != nil {
				t.Fatal(err)
			}
			runs, photo, err := plan(work, src, tc.photo)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("plan: %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(runs); !slices.Equal(got, tc.wantRuns) || photo != tc.wantPhoto {
				t.Errorf("plan: runs %q, photograph %q; want %q, %q", got, photo, tc.wantRuns, tc.wantPhoto)
			}
			if _, err := os.Stat(filepath.Join(work, photo)); err != nil {
				t.Errorf("the photographed notebook is not served: %v", err)
			}
		})
	}

	t.Run("a run's notebook missing", func(t *testing.T) {
		work := t.TempDir()
		writeFiles(t, work, map[string]string{"02-attention-heads.ipynb": "{}"})
		if _, _, err := plan(work, src, filepath.Join(src, "02-attention-heads.ipynb")); err == nil || !strings.Contains(err.Error(), "03-annotating.ipynb") {
			t.Errorf("plan: %v, want an error naming 03-annotating.ipynb", err)
		}
	})
}

func TestChangedNotes(t *testing.T) {
	const notes = "{\n  \"notes\": [\n    {\"label\": \"a\"}\n  ]\n}\n"
	for _, tc := range []struct {
		name       string
		want, got  map[string]string
		wantProbes []string // one substring per expected problem
	}{
		{"unchanged", map[string]string{"m.json": notes}, map[string]string{"m.json": notes}, nil},
		{"changed", map[string]string{"m.json": notes}, map[string]string{"m.json": strings.Replace(notes, `"a"`, `"b"`, 1)},
			[]string{`changed notes/m.json (line 3: "{\"label\": \"a\"}" became "{\"label\": \"b\"}")`}},
		{"created", map[string]string{"m.json": notes}, map[string]string{"m.json": notes, "n.json": notes},
			[]string{"created notes/n.json"}},
		{"lock files and other files are not notes", map[string]string{"m.json": notes},
			map[string]string{"m.json": notes, "m.json.lock": "x", "README": "x"}, nil},
		{"no notes written", nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, got := t.TempDir(), filepath.Join(t.TempDir(), "notes")
			writeFiles(t, want, tc.want)
			writeFiles(t, got, tc.got)
			problems := changedNotes(t, want, got)
			if len(problems) != len(tc.wantProbes) {
				t.Fatalf("problems %q, want %d", problems, len(tc.wantProbes))
			}
			for i, p := range problems {
				if !strings.Contains(p, tc.wantProbes[i]) {
					t.Errorf("problem %q lacks %q", p, tc.wantProbes[i])
				}
			}
		})
	}
}
