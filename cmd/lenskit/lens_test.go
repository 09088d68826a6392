package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// lensOut is the contract of `lenskit lens --json`.
type lensOut struct {
	IDs    []int    `json:"ids"`
	Tokens []string `json:"tokens"`
	Rows   []struct {
		Name      string `json:"name"`
		Positions []struct {
			Top []struct {
				ID    *int     `json:"id"`
				Token *string  `json:"token"`
				P     *float64 `json:"p"`
			} `json:"top"`
		} `json:"positions"`
	} `json:"rows"`
}

func TestLensJSONContract(t *testing.T) {
	for _, tc := range []struct {
		model  string
		layers int
	}{{"", 4}, {"tiny-pl-llama", 4}} {
		code, out, errs := runCLI(t, "lens", "--model", tc.model, "--json", "Stolicą Polski jest")
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", tc.model, code, errs)
		}
		var got lensOut
		dec := json.NewDecoder(strings.NewReader(out))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("%v\n%s", err, out[:min(len(out), 500)])
		}
		if len(got.IDs) == 0 || len(got.IDs) != len(got.Tokens) {
			t.Fatalf("%d ids, %d tokens", len(got.IDs), len(got.Tokens))
		}
		if len(got.Rows) != 1+2*tc.layers {
			t.Fatalf("%d rows, want %d", len(got.Rows), 1+2*tc.layers)
		}
		want := []string{"embed"}
		for l := range tc.layers {
			want = append(want, "L"+string(rune('0'+l))+".attn", "L"+string(rune('0'+l))+".mlp")
		}
		for i, r := range got.Rows {
			if r.Name != want[i] {
				t.Errorf("row %d is %q, want %q", i, r.Name, want[i])
			}
			if len(r.Positions) != len(got.IDs) {
				t.Fatalf("row %s: %d positions", r.Name, len(r.Positions))
			}
			for _, p := range r.Positions {
				if len(p.Top) != 10 {
					t.Fatalf("row %s: %d top tokens", r.Name, len(p.Top))
				}
				sum := 0.0
				for j, tk := range p.Top {
					if tk.ID == nil || tk.Token == nil || tk.P == nil {
						t.Fatalf("row %s: a top entry lacks a field", r.Name)
					}
					if j > 0 && *tk.P > *p.Top[j-1].P {
						t.Fatalf("row %s: probabilities not descending", r.Name)
					}
					sum += *tk.P
				}
				if sum > 1+1e-9 || math.IsNaN(sum) {
					t.Fatalf("row %s: top probabilities sum to %v", r.Name, sum)
				}
			}
		}
	}
}

// TestLensBOS: no special token is added unless --bos; with it, Llama's
// <s> comes first and GPT-2 warns that it has none.
func TestLensBOS(t *testing.T) {
	ids := func(args ...string) ([]int, string) {
		code, out, errs := runCLI(t, append([]string{"lens", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		var got lensOut
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		return got.IDs, errs
	}
	plain, _ := ids("--model", "tiny-pl-llama", "Ala ma kota")
	withBOS, _ := ids("--model", "tiny-pl-llama", "--bos", "Ala ma kota")
	if len(withBOS) != len(plain)+1 || withBOS[0] != 1 || plain[0] == 1 {
		t.Errorf("llama ids %v, with --bos %v", plain, withBOS)
	}
	_, errs := ids("--bos", "Ala ma kota")
	if !strings.Contains(errs, "warning: the tokenizer has no beginning-of-sequence token") {
		t.Errorf("GPT-2 --bos: stderr %q", errs)
	}
}

func TestLensText(t *testing.T) {
	code, out, errs := runCLI(t, "lens", "Stolicą Polski jest")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"logit lens of", "embed", "L3.mlp", "rank of the actual next token"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestLensBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"lens"}, 2, "needs the text"},
		{[]string{"lens", ""}, 2, "empty prompt"},
		{[]string{"lens", "a", "b"}, 2, "one text"},
		{[]string{"lens", "--model", "/nonexistent", "x"}, 1, "/nonexistent"},
	} {
		code, _, errs := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errs, tc.code, tc.msg)
		}
	}
	long := strings.Repeat("Stolicą Polski jest Warszawa. ", 80)
	code, out, errs := runCLI(t, "lens", "--json", long)
	if code != 0 || !strings.Contains(errs, "only the first 256") {
		t.Errorf("long text: exit %d, stderr %q", code, errs)
	}
	var got lensOut
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.IDs) != 256 {
		t.Errorf("long text: %v, %d ids", err, len(got.IDs))
	}
}
