package lenskit_test

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"lenskit.dev/lenskit"
	"lenskit.dev/lenskit/forward"
)

const sentence = "Stolicą Polski jest Warszawa"

func openEmbedded(t *testing.T, name string) *lenskit.Model {
	t.Helper()
	m, err := lenskit.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestLogitLensContract: the lens has 1 + 2·layers rows in model order,
// its last row's top token at every position is the model's own argmax,
// and the JSON is the command line's contract.
func TestLogitLensContract(t *testing.T) {
	for _, name := range []string{"", "tiny-pl-llama"} {
		m := openEmbedded(t, name)
		r := m.LogitLens(sentence)
		if r.Err() != nil {
			t.Fatal(r.Err())
		}
		a := m.Arch()
		if len(r.Lens.Rows) != 1+2*a.Layers {
			t.Fatalf("%d rows for %d layers", len(r.Lens.Rows), a.Layers)
		}
		f, err := m.Forward()
		if err != nil {
			t.Fatal(err)
		}
		tr, err := f.Run([][]int{r.Prompt.IDs}, forward.Want{Logits: true})
		if err != nil {
			t.Fatal(err)
		}
		V := a.Vocab
		for p := range r.Prompt.IDs {
			best := 0
			for v := range V {
				if tr[0].Logits[p*V+v] > tr[0].Logits[p*V+best] {
					best = v
				}
			}
			if got := r.Lens.Cells[len(r.Lens.Rows)-1][p].Top[0].ID; got != best {
				t.Errorf("%s position %d: last row's top token %d, the model's argmax %d", m.Weights.Name(), p, got, best)
			}
		}
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			IDs    []int    `json:"ids"`
			Tokens []string `json:"tokens"`
			Rows   []struct {
				Name      string `json:"name"`
				Positions []struct {
					Top []struct {
						ID    int     `json:"id"`
						Token string  `json:"token"`
						P     float64 `json:"p"`
					} `json:"top"`
				} `json:"positions"`
			} `json:"rows"`
		}
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatal(err)
		}
		if len(out.IDs) != len(out.Tokens) || len(out.Rows) != 1+2*a.Layers || out.Rows[0].Name != "embed" ||
			out.Rows[1].Name != "L0.attn" || out.Rows[2].Name != "L0.mlp" || out.Rows[len(out.Rows)-1].Name != forward.RowName(2*a.Layers) {
			t.Fatalf("JSON shape: %d ids, %d tokens, rows %d", len(out.IDs), len(out.Tokens), len(out.Rows))
		}
		for _, row := range out.Rows {
			if len(row.Positions) != len(out.IDs) {
				t.Fatalf("row %s has %d positions for %d ids", row.Name, len(row.Positions), len(out.IDs))
			}
			for _, p := range row.Positions {
				if len(p.Top) != 10 || p.Top[0].P < p.Top[9].P || p.Top[0].Token != m.Vocab.Raw(p.Top[0].ID) {
					t.Fatalf("row %s: top list %+v", row.Name, p.Top)
				}
			}
		}
		if s := r.String(); !strings.Contains(s, "L0.attn") || !strings.Contains(s, "rank of the actual next token") {
			t.Errorf("text form:\n%s", s)
		}
		if h := r.HTML(); !strings.Contains(h, "data-lk-for") || !strings.Contains(h, "KL to the final layer") {
			t.Error("HTML lacks the measure buttons")
		}
	}
}

// TestPromptBadInput: empty prompts fail with a message; long prompts are
// truncated with a warning; special and unknown tokens are warned about;
// WithBOS adds Llama's <s> and warns for GPT-2, which has none.
func TestPromptBadInput(t *testing.T) {
	gpt2 := openEmbedded(t, "")
	llama := openEmbedded(t, "tiny-pl-llama")
	r := gpt2.LogitLens("")
	if !errors.Is(r.Err(), lenskit.ErrEmptyPrompt) || !strings.Contains(r.String(), "empty prompt") {
		t.Errorf("empty prompt: %v / %q", r.Err(), r.String())
	}
	long := strings.Repeat("Stolicą Polski jest Warszawa. ", 80)
	p, err := gpt2.Tokenize(long)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.IDs) != gpt2.Arch().Positions || len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "only the first 256") {
		t.Errorf("long prompt: %d ids, warnings %q", len(p.IDs), p.Warnings)
	}
	lr := gpt2.LogitLens(long)
	if lr.Err() != nil || !strings.HasPrefix(lr.String(), "warning: the prompt has") {
		t.Errorf("long prompt lens: %v", lr.Err())
	}
	p, err = llama.Tokenize("Ala <unk> ma kota")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "<unk>") {
		t.Errorf("unknown token: warnings %q for ids %v", p.Warnings, p.IDs)
	}
	p, err = llama.Tokenize("Ala ma kota", lenskit.WithBOS())
	if err != nil {
		t.Fatal(err)
	}
	if bos, _ := llama.Vocab.BOS(); p.IDs[0] != bos || len(p.Warnings) != 0 {
		t.Errorf("WithBOS on Llama: ids %v, warnings %q", p.IDs, p.Warnings)
	}
	p, err = llama.Tokenize("Ala ma kota")
	if err != nil {
		t.Fatal(err)
	}
	if bos, _ := llama.Vocab.BOS(); p.IDs[0] == bos {
		t.Errorf("no BOS asked, but the prompt starts with it: %v", p.IDs)
	}
	p, err = gpt2.Tokenize("Ala ma kota", lenskit.WithBOS())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "no beginning-of-sequence") {
		t.Errorf("WithBOS on GPT-2: warnings %q", p.Warnings)
	}
	failed := lenskit.Open("/nonexistent/model")
	if r := failed.LogitLens("x"); r.Err() == nil || !strings.HasPrefix(r.String(), "error:") {
		t.Errorf("lens of a failed model: %v", r.Err())
	}
	if r := failed.WhoWrote("x").Top(5); r.Err() == nil {
		t.Error("who wrote on a failed model: no error")
	}
}

// TestWhoWroteAddsUp: the ranked terms add up to the model's logit of its
// own prediction, which is the default target, and every head and neuron
// is there once.
func TestWhoWroteAddsUp(t *testing.T) {
	for _, name := range []string{"", "tiny-pl-llama"} {
		m := openEmbedded(t, name)
		r := m.WhoWrote(sentence).Top(10)
		if r.Err() != nil {
			t.Fatal(r.Err())
		}
		a := m.Arch()
		sum, heads, neurons := 0.0, 0, 0
		for _, c := range r.Components {
			sum += c.Value
			switch c.Kind {
			case "head":
				heads++
			case "neuron":
				neurons++
			}
		}
		if heads != a.Layers*a.Heads || neurons != a.Layers*a.DFF {
			t.Errorf("%d heads and %d neurons", heads, neurons)
		}
		if math.Abs(sum-r.Attribution.Capped) > 1e-4*max(1, math.Abs(sum)) {
			t.Errorf("%s: terms sum to %v, the model's logit is %v", m.Weights.Name(), sum, r.Attribution.Capped)
		}
		lens := m.LogitLens(sentence)
		last := lens.Lens.Cells[len(lens.Lens.Rows)-1][r.Pos]
		if r.Pos != len(r.Prompt.IDs)-1 || r.Target != last.Top[0].ID {
			t.Errorf("default target %d at %d; the model predicts %d at the last position %d", r.Target, r.Pos, last.Top[0].ID, len(r.Prompt.IDs)-1)
		}
		for i := 1; i < len(r.Components); i++ {
			if r.Components[i].Value > r.Components[i-1].Value {
				t.Fatal("components not ranked")
			}
		}
		// The largest head's static view can be shown.
		for i, c := range r.Components {
			if c.Kind == "head" {
				if s := r.Static(i, m.Lens()).String(); !strings.Contains(s, "→") {
					t.Errorf("static view of %s: %q", c.Name, s)
				}
				break
			}
		}
		other := m.WhoWrote(sentence).At(1).TokenText(" jest").Top(5)
		if other.Err() != nil || other.Pos != 1 {
			t.Fatalf("At(1).TokenText: %v (pos %d)", other.Err(), other.Pos)
		}
		if bad := m.WhoWrote(sentence).At(99).Top(5); bad.Err() == nil || !strings.Contains(bad.Err().Error(), "position 99") {
			t.Errorf("position out of range: %v", bad.Err())
		}
	}
}

// TestAttentionViews: a head's pattern is causal and its rows sum to one;
// the overview's measures are averages of those weights.
func TestAttentionViews(t *testing.T) {
	m := openEmbedded(t, "tiny-pl-llama")
	r := m.Attention(sentence)
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	T := r.Trace.T
	pat := r.Trace.Attn[2][6*T*T : 7*T*T]
	for q := range T {
		s := 0.0
		for k := range T {
			if k > q && pat[q*T+k] != 0 {
				t.Fatalf("query %d attends to future key %d", q, k)
			}
			s += float64(pat[q*T+k])
		}
		if math.Abs(s-1) > 1e-4 {
			t.Fatalf("query %d: weights sum to %v", q, s)
		}
	}
	prev := 0.0
	for q := 1; q < T; q++ {
		prev += float64(pat[q*T+q-1])
	}
	prev /= float64(T - 1)
	if s := r.Overview().String(); !strings.Contains(s, "attention to the previous token") {
		t.Errorf("overview text:\n%s", s)
	}
	if h := r.Head(2, 6).HTML(); !strings.Contains(h, "lk-chart") {
		t.Error("head pattern has no chart")
	}
	if s := r.Head(9, 0).String(); !strings.Contains(s, "out of range") {
		t.Errorf("head 9.0: %q", s)
	}
	t.Logf("head 2.6 on %q: mean attention to the previous token %.3f", sentence, prev)
}

// TestTopContexts: the scan's top activation of a neuron equals the largest
// activation found by running every window on its own, the cache returns
// the same contexts, and bad corpora are refused.
func TestTopContexts(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	m := openEmbedded(t, "")
	dir := t.TempDir()
	corpus := filepath.Join(dir, "small.txt")
	lines := []string{
		"Kliknij przycisk OK, aby zamknąć okno dialogowe.",
		"",
		"System plików ext2 jest montowany przy starcie.",
		"Wybierz polecenie Format - Komórki i kliknij kartę Czcionka.",
		"Nie wiem, czy to dobry pomysł.",
	}
	if err := os.WriteFile(corpus, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	q := m.TopContexts(0, 562, 463).Corpus(corpus).Sample(lenskit.Sample{Seed: 3, Tokens: 1000, Window: 8})
	r := q.Top(3)
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	if r.Cached || r.Tokens == 0 {
		t.Fatalf("first scan: cached %v, %d tokens", r.Cached, r.Tokens)
	}
	// Brute force: every window of every line, every position but a
	// window's first.
	f, _ := m.Forward()
	dff := m.Arch().DFF
	for i, n := range []int{562, 463} {
		best := float32(math.Inf(-1))
		for _, l := range lines {
			if l == "" {
				continue
			}
			ids, _ := m.Vocab.Encode(l)
			for st := 0; st < len(ids); st += 8 {
				w := ids[st:min(st+8, len(ids))]
				tr, err := f.Run([][]int{w}, forward.Want{MLP: true})
				if err != nil {
					t.Fatal(err)
				}
				for p := 1; p < len(w); p++ {
					best = max(best, tr[0].MLP[0][p*dff+n])
				}
			}
		}
		got := r.Contexts[i][0]
		if math.Abs(float64(got.Activation-best)) > 1e-4 {
			t.Errorf("L0/N%d: top activation %v, brute force %v", n, got.Activation, best)
		}
		if !strings.Contains(lines[got.Line-1], strings.TrimSpace(got.Text)) {
			t.Errorf("L0/N%d: token %q not in line %d %q", n, got.Text, got.Line, lines[got.Line-1])
		}
	}
	again := q.Top(3)
	if !again.Cached || again.Contexts[0][0] != r.Contexts[0][0] {
		t.Errorf("second scan: cached %v", again.Cached)
	}
	c, ev, err := r.Neuron(463).Finding()
	if err != nil {
		t.Fatal(err)
	}
	if c.String() != "L0/N463 K" || ev.Corpus != "small.txt" || len(ev.Contexts) != 3 || !strings.Contains(ev.Contexts[0].Text, "⟦") || ev.Sample == "" {
		t.Errorf("finding %v: %+v", c, ev)
	}
	if _, _, err := r.Finding(); err == nil {
		t.Error("a finding of two neurons: no error")
	}
	// A directory is the corpus of its text files, as for token lists.
	sub := filepath.Join(dir, "corpus")
	os.Mkdir(sub, 0o755)
	if b, err := os.ReadFile(corpus); err != nil || os.WriteFile(filepath.Join(sub, "small.txt"), b, 0o644) != nil {
		t.Fatal(err)
	}
	fromDir := m.TopContexts(0, 562, 463).Corpus(sub).Sample(lenskit.Sample{Seed: 3, Tokens: 1000, Window: 8}).Top(3)
	if fromDir.Err() != nil || !slices.Equal(fromDir.Contexts[1], r.Contexts[1]) {
		t.Errorf("a directory holding the same file: %v, %v vs %v", fromDir.Err(), fromDir.Contexts, r.Contexts)
	}
	// Bad corpora.
	bin := filepath.Join(dir, "model.bin")
	os.WriteFile(bin, []byte("abc\x00\x01\x02"), 0o644)
	for _, tc := range []struct{ path, want string }{
		{"/dev/null", "character device"},
		{bin, "NUL byte"},
		{filepath.Join(dir, "missing.txt"), "no such file"},
	} {
		r := m.TopContexts(0, 1).Corpus(tc.path).Top(3)
		if r.Err() == nil || !strings.Contains(r.Err().Error(), tc.want) {
			t.Errorf("corpus %s: %v, want %q", tc.path, r.Err(), tc.want)
		}
	}
	if r := m.TopContexts(7, 1).Top(3); r.Err() == nil || !strings.Contains(r.Err().Error(), "layer 7") {
		t.Errorf("layer 7: %v", r.Err())
	}
	// Windows longer than the model's positions, or an empty budget, are
	// refused naming the limit rather than truncated out of sight.
	for _, s := range []lenskit.Sample{{Seed: 1, Tokens: 1000, Window: 257}, {Seed: 1, Tokens: -5, Window: 8}} {
		r := m.TopContexts(0, 1).Corpus(corpus).Sample(s).Top(3)
		if r.Err() == nil || !strings.Contains(r.Err().Error(), "want a positive budget and windows of 1 … 256 tokens") {
			t.Errorf("sample %v: %v", s, r.Err())
		}
	}
}
