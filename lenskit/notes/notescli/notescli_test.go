package notescli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lenskit.dev/lenskit/notes"
)

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Run(args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := run(t, args...)
	if err != nil {
		t.Fatalf("lenskit notes %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

var newModel = []string{"--model-id", "tiny-pl-gpt2", "--hash", "sha256:1111", "--layers", "4", "--heads", "8", "--neurons", "1024", "--vocab", "8192"}

func TestAddListShowExportRemove(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tiny.lenskit-notes.json")
	t.Setenv("LENSKIT_AUTHOR", "ala")

	if _, _, err := run(t, "add", "--file", file, "--component", "3.7 OV", "--label", "names"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("add to a missing file without a model: %v", err)
	}
	out := mustRun(t, append([]string{"add", "--file", file, "--component", "3.7 OV", "--label", "names, medicine", "--tag", "names,semantic"}, newModel...)...)
	if !strings.HasPrefix(out, "added ") || !strings.Contains(out, `3.7 OV "names, medicine"`) {
		t.Errorf("add said %q", out)
	}
	id := strings.Fields(out)[1]
	id = strings.TrimSuffix(id, ":")
	// Flags after arguments, the file from the environment.
	t.Setenv("LENSKIT_NOTES", file)
	mustRun(t, "add", "--component", "L2/N345 K", "--label", "clothing", "--text", "ubrania, mundury")
	mustRun(t, "add", "--component", "set:swear words", "--label", "przekleństwa", "--member", "7:cholera", "--member", "8:psiakrew", "--author", "bob")
	if _, _, err := run(t, "add", "--component", "4.0 OV", "--label", "too deep"); err == nil || !strings.Contains(err.Error(), "layer 4 out of range") {
		t.Errorf("add out of range: %v", err)
	}

	out = mustRun(t, "list")
	for _, want := range []string{"3.7 OV", "names, medicine", "names, semantic", "L2/N345 K", "clothing", "set:swear words", "2 tokens: cholera, psiakrew", id} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	for _, tc := range []struct {
		args       []string
		want, omit string
	}{
		{[]string{"--kind", "neuron"}, "clothing", "names, medicine"},
		{[]string{"--component", "3.7"}, "names, medicine", "clothing"},
		{[]string{"--tag", "semantic"}, "names, medicine", "przekleństwa"},
		{[]string{"--author", "bob"}, "przekleństwa", "clothing"},
		{[]string{"--search", "mundury"}, "clothing", "names, medicine"},
		{[]string{"--view", "OV"}, "names, medicine", "clothing"},
	} {
		out := mustRun(t, append([]string{"list"}, tc.args...)...)
		if !strings.Contains(out, tc.want) || strings.Contains(out, tc.omit) {
			t.Errorf("list %v: want %q without %q:\n%s", tc.args, tc.want, tc.omit, out)
		}
	}

	out = mustRun(t, "show", id)
	if !strings.Contains(out, "## 3.7 OV — names, medicine") || strings.Contains(out, "clothing") {
		t.Errorf("show %s:\n%s", id, out)
	}
	if _, _, err := run(t, "show", "nope"); err == nil || !strings.Contains(err.Error(), "no note with id nope") {
		t.Errorf("show of a missing id: %v", err)
	}

	md := mustRun(t, "export")
	if !strings.Contains(md, "# Notes on tiny-pl-gpt2") || !strings.Contains(md, "## L2/N345 K — clothing") {
		t.Errorf("export md:\n%s", md)
	}
	jsonPath := filepath.Join(dir, "heads.json")
	mustRun(t, "export", "--format", "json", "--kind", "head", "-o", jsonPath)
	f, err := notes.ReadFile(jsonPath)
	if err != nil || len(f.Notes) != 1 || f.Notes[0].ID != id {
		t.Errorf("exported json: %+v, %v", f, err)
	}
	if h := mustRun(t, "export", "--format", "html"); !strings.Contains(h, "<table") || !strings.Contains(h, "przekleństwa") {
		t.Errorf("export html:\n%s", h)
	}

	m := mustRun(t, "map")
	if !strings.Contains(m, "3 · · · · · · · O") || !strings.Contains(m, "Labelled neurons of tiny-pl-gpt2") {
		t.Errorf("map:\n%s", m)
	}

	if out := mustRun(t, "remove", id); out != "removed "+id+"\n" {
		t.Errorf("remove said %q", out)
	}
	if out := mustRun(t, "list", "--kind", "head"); !strings.Contains(out, "(no notes)") {
		t.Errorf("after remove:\n%s", out)
	}
}

func TestMergeReportsConflicts(t *testing.T) {
	dir := t.TempDir()
	ala, bob := filepath.Join(dir, "ala.json"), filepath.Join(dir, "bob.json")
	mustRun(t, append([]string{"add", "--file", ala, "--component", "3.7 OV", "--label", "names", "--author", "ala"}, newModel...)...)
	mustRun(t, append([]string{"add", "--file", bob, "--component", "3.7 OV", "--label", "sports", "--author", "bob"}, newModel...)...)
	out := mustRun(t, "merge", "--file", ala, bob)
	for _, want := range []string{"1 added", "1 conflicts", "conflict on 3.7 OV, both kept:", `here:     "names" (ala`, `incoming: "sports" (bob`} {
		if !strings.Contains(out, want) {
			t.Errorf("merge report lacks %q:\n%s", want, out)
		}
	}
	if l := mustRun(t, "list", "--file", ala, "--component", "3.7 OV"); !strings.Contains(l, "names") || !strings.Contains(l, "sports") {
		t.Errorf("after merge:\n%s", l)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.json")
	data := "{\n  \"schema\": \"lenskit-notes/1\",\n  \"model\": {\"id\": \"m\",\n"
	os.WriteFile(broken, []byte(data), 0o644)
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{nil, "no command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"list"}, "no notes file"},
		{[]string{"list", "--file", broken}, broken + ":4:1: file ends in the middle"},
		{[]string{"remove", "--file", broken, "x"}, broken + ":4:1:"},
		{[]string{"list", "--file", filepath.Join(dir, "none.json")}, "no such file"},
		{[]string{"list", "--file", broken, "--kind", "wheel"}, "unknown component kind"},
		{[]string{"export", "--file", broken, "--format", "pdf"}, ""},
		{[]string{"add", "--file", broken, "--component", "3.7", "--label", "x"}, "needs its view"},
	} {
		t.Setenv("LENSKIT_NOTES", "")
		_, _, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("lenskit notes %v: %v, want an error with %q", tc.args, err, tc.msg)
		}
	}
	if got, _ := os.ReadFile(broken); string(got) != data {
		t.Error("the broken file was changed")
	}
}
