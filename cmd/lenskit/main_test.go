package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestNeuronJSONShape(t *testing.T) {
	code, out, errs := runCLI(t, "neuron", "--layer", "2", "--index", "345", "--k", "5", "--alnum", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got map[string][]struct {
		ID    *int     `json:"id"`
		Token *string  `json:"token"`
		Text  *string  `json:"text"`
		Score *float64 `json:"score"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, side := range []string{"K", "V", "-K", "-V"} {
		col, ok := got[side]
		if !ok || len(col) != 5 {
			t.Fatalf("column %q: %d entries, want 5\n%s", side, len(col), out)
		}
		for _, tk := range col {
			if tk.ID == nil || tk.Token == nil || tk.Text == nil || tk.Score == nil {
				t.Fatalf("column %q has an entry missing a field: %s", side, out)
			}
		}
	}
	if len(got) != 4 {
		t.Errorf("%d columns, want 4", len(got))
	}
	// Scores of K are descending.
	for i := 1; i < len(got["K"]); i++ {
		if *got["K"][i].Score > *got["K"][i-1].Score {
			t.Errorf("K scores not descending: %s", out)
		}
	}
}

func TestHeadJSONShape(t *testing.T) {
	for _, cmd := range []string{"ov", "qk"} {
		code, out, errs := runCLI(t, cmd, "--layer", "2", "--head", "4", "--k", "7", "--exclude-same", "--json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", cmd, code, errs)
		}
		var got struct {
			Pairs []map[string]any `json:"pairs"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Pairs) != 7 {
			t.Fatalf("%s: %d pairs, want 7", cmd, len(got.Pairs))
		}
		for _, p := range got.Pairs {
			for _, f := range []string{"source_id", "source", "target_id", "target", "score"} {
				if _, ok := p[f]; !ok {
					t.Errorf("%s: pair lacks %q: %v", cmd, f, p)
				}
			}
			if p["source_id"] == p["target_id"] {
				t.Errorf("%s: --exclude-same kept a same-token pair %v", cmd, p)
			}
		}
	}
}

func TestTextTables(t *testing.T) {
	code, out, _ := runCLI(t, "neuron", "--layer", "1", "--index", "7", "--k", "3")
	if code != 0 || !strings.Contains(out, "L1/N7") || !strings.Contains(out, "-V") {
		t.Errorf("neuron table (exit %d):\n%s", code, out)
	}
	code, out, _ = runCLI(t, "ov", "--layer", "2", "--head", "4", "--k", "3", "--bottom", "--alnum")
	if code != 0 || !strings.Contains(out, "2.4 W_OV") || !strings.Contains(out, "bottom") {
		t.Errorf("ov bottom table (exit %d):\n%s", code, out)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "bad.tokens")
	os.WriteFile(list, []byte("not a token list\n"), 0o644)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"neuron", "--layer", "9", "--index", "0"}, 1, "layer 9 out of range"},
		{[]string{"neuron", "--layer", "1", "--index", "5000"}, 1, "neuron 5000 out of range"},
		{[]string{"ov", "--layer", "1", "--head", "8"}, 1, "head 8 out of range"},
		{[]string{"qk", "--layer", "1"}, 2, "needs --head"},
		{[]string{"neuron", "--index", "1"}, 2, "needs --layer"},
		{[]string{"ov", "--layer", "1", "--head", "1", "--model", filepath.Join(dir, "missing")}, 1, "missing"},
		{[]string{"ov", "--layer", "1", "--head", "1", "--tokens", list}, 1, "not a lenskit token list"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"neuron", "--layer", "1", "--index", "1", "--top", "5"}, 2, "--top needs --corpus"},
		// A k beyond what a head view returns at once is refused, quoting
		// the k given, before anything is allocated for it (issue 12).
		{[]string{"ov", "--layer", "1", "--head", "1", "--k", "1000000000", "--json"}, 1,
			"k = 1000000000 asks for more pairs than lenskit returns at once (at most 1048576; the view has 67108864)"},
	} {
		code, _, errs := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, errs, c.code, c.want)
		}
	}
}

func TestTokensCommand(t *testing.T) {
	dir := t.TempDir()
	corpus := filepath.Join(dir, "c.txt")
	os.WriteFile(corpus, []byte("zażółć gęślą jaźń\nala ma kota\nala ma psa\n"), 0o644)
	out := filepath.Join(dir, "c.tokens")
	if code, _, errs := runCLI(t, "tokens", "--corpus", corpus, "-o", out); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	code, stdout, errs := runCLI(t, "ov", "--layer", "0", "--head", "0", "--k", "3", "--tokens", out, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(stdout, "pairs") {
		t.Errorf("no pairs: %s", stdout)
	}
}
