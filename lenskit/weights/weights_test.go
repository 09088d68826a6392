package weights_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/checkpoint/synth"
	"lenskit.dev/lenskit/weights"
)

func open(t testing.TB, dir string) *weights.Model {
	t.Helper()
	c, err := checkpoint.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := weights.FromCheckpoint(c)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// reference holds a model's canonical parameters as float32 values, to
// compute what every accessor must return with plain index arithmetic.
type reference struct {
	a      weights.Arch
	params map[string][]float32
	untied bool
}

func (r reference) get(name string) []float32 { return r.params[name] }

// check compares every accessor of m against r: exactly when exact, else
// within tol relative to the largest magnitude of the tensor.
func (r reference) check(t *testing.T, m *weights.Model, tol float64) {
	t.Helper()
	a := m.Arch()
	if !reflect.DeepEqual(a, r.a) {
		t.Fatalf("arch %+v, want %+v", a, r.a)
	}
	d, dh, ff := a.DModel, a.DHead, a.DFF
	same := func(what string, got, want []float32) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
		}
		for i := range got {
			if diff := math.Abs(float64(got[i] - want[i])); diff > tol*(1+math.Abs(float64(want[i]))) || math.IsNaN(diff) {
				t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
			}
		}
	}
	mat := func(what string, got weights.Matrix, err error, rows, cols int, at func(i, j int) float32) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got.Rows != rows || got.Cols != cols {
			t.Fatalf("%s is %v, want %d×%d", what, got, rows, cols)
		}
		want := make([]float32, rows*cols)
		for i := range rows {
			for j := range cols {
				want[i*cols+j] = at(i, j)
			}
		}
		same(what, got.F32().Data, want)
	}
	wte := r.get("wte.weight")
	e, err := m.Embedding()
	mat("Embedding", e, err, a.Vocab, d, func(i, j int) float32 { return wte[i*d+j] })
	head := wte
	if r.untied {
		head = r.get("lm_head.weight")
	}
	u, err := m.Unembedding()
	mat("Unembedding", u, err, a.Vocab, d, func(i, j int) float32 { return head[i*d+j] })
	for l := range a.Layers {
		fc := r.get(fmt.Sprintf("h.%d.mlp.c_fc.weight", l))
		proj := r.get(fmt.Sprintf("h.%d.mlp.c_proj.weight", l))
		attn := r.get(fmt.Sprintf("h.%d.attn.c_attn.weight", l))
		out := r.get(fmt.Sprintf("h.%d.attn.c_proj.weight", l))
		k, err := m.FFKeys(l, 0)
		mat("FFKeys", k, err, ff, d, func(i, j int) float32 { return fc[j*ff+i] })
		v, err := m.FFValues(l)
		mat("FFValues", v, err, ff, d, func(i, j int) float32 { return proj[i*d+j] })
		for _, n := range []int{0, ff / 2, ff - 1} {
			key, err := m.FFKey(l, 0, n)
			if err != nil {
				t.Fatal(err)
			}
			val, err := m.FFValue(l, n)
			if err != nil {
				t.Fatal(err)
			}
			wantK, wantV := make([]float32, d), make([]float32, d)
			for i := range d {
				wantK[i] = fc[i*ff+n]
				wantV[i] = proj[n*d+i]
			}
			same(fmt.Sprintf("FFKey(%d,%d)", l, n), key, wantK)
			same(fmt.Sprintf("FFValue(%d,%d)", l, n), val, wantV)
		}
		for h := range a.Heads {
			// The seed: W_Q, W_K, W_V = c_attn.chunk(3, dim=-1), each
			// reshaped to (d, heads, d_head).
			for part, get := range []func(int, int) (weights.Matrix, error){m.WQ, m.WK, m.WV} {
				w, err := get(l, h)
				mat(fmt.Sprintf("W%c(%d,%d)", "QKV"[part], l, h), w, err, d, dh, func(i, j int) float32 {
					return attn[i*3*d+part*d+h*dh+j]
				})
			}
			wo, err := m.WO(l, h)
			mat(fmt.Sprintf("WO(%d,%d)", l, h), wo, err, dh, d, func(i, j int) float32 { return out[(h*dh+i)*d+j] })
		}
	}
	g, b, err := m.LnF()
	if err != nil {
		t.Fatal(err)
	}
	same("LnF gain", g, r.get("ln_f.weight"))
	same("LnF bias", b, r.get("ln_f.bias"))
}

// gpt2Arch is the Arch a GPT-2 checkpoint of shape s must report.
func gpt2Arch(s synth.Shape, tied bool, dtype string) weights.Arch {
	return weights.Arch{ModelType: "gpt2", Layers: s.Layers, Heads: s.Heads, KVHeads: s.Heads, DModel: s.DModel,
		DHead: s.DModel / s.Heads, DFF: s.DFF, Vocab: s.Vocab, Positions: s.Positions,
		MLP: weights.MLPPlain, Activation: "gelu_new", Norm: weights.LayerNorm, NormEps: 1e-5, Tied: tied, DType: dtype,
		EmbedScale: 1, AttnScale: 1 / math.Sqrt(float64(s.DModel/s.Heads))}
}

func synthReference(o synth.Options) reference {
	r := reference{
		a:      gpt2Arch(o.Shape, o.Naming.LMHead != synth.LMHeadUntied, dtypeName(o.DType)),
		params: map[string][]float32{},
		untied: o.Naming.LMHead == synth.LMHeadUntied,
	}
	for _, s := range synth.Specs(o) {
		if s.Parameter {
			r.params[s.Name] = synth.Values(o, s.Name, s.Shape)
		}
	}
	return r
}

// roundTo applies the storage dtype's rounding, giving what a reader must
// return exactly.
func roundTo(dt checkpoint.DType, v []float32) []float32 {
	out := slices.Clone(v)
	for i, x := range out {
		switch dt {
		case checkpoint.F16:
			out[i] = checkpoint.F16ToF32(checkpoint.F32ToF16(x))
		case checkpoint.BF16:
			out[i] = checkpoint.BF16ToF32(checkpoint.F32ToBF16(x))
		}
	}
	return out
}

// Every naming variant × dtype × format × sharding of the same synthetic
// model gives the same numbers through the weights view: exactly the stored
// (dtype-rounded) values, and within the dtype's rounding of the F32
// originals. The weights hash does not depend on naming, format or sharding,
// only on dtype.
func TestVariantsAgree(t *testing.T) {
	hashes := map[checkpoint.DType]map[string]bool{}
	tol := map[checkpoint.DType]float64{checkpoint.F32: 0, checkpoint.F64: 0, checkpoint.F16: 1.0 / 2048, checkpoint.BF16: 1.0 / 256}
	n := 0
	for _, dt := range []checkpoint.DType{checkpoint.F32, checkpoint.F16, checkpoint.BF16, checkpoint.F64} {
		for _, format := range []synth.Format{synth.Safetensors, synth.PyTorch} {
			if dt == checkpoint.F64 && format == synth.PyTorch {
				continue
			}
			for _, prefix := range []bool{true, false} {
				for _, head := range []synth.LMHead{synth.LMHeadAbsent, synth.LMHeadTiedCopy, synth.LMHeadUntied} {
					for _, buffers := range []bool{true, false} {
						for _, shards := range []int{1, 3} {
							o := synth.Options{Shape: synth.Tiny, Seed: 42, DType: dt, Format: format, Shards: shards,
								Naming: synth.Naming{Prefix: prefix, LMHead: head, Buffers: buffers}}
							name := fmt.Sprintf("%s/%d/prefix=%v/head=%d/buffers=%v/shards=%d", dt, format, prefix, head, buffers, shards)
							dir := t.TempDir()
							if err := synth.Write(dir, o); err != nil {
								t.Fatal(err)
							}
							m := open(t, dir)
							ref := synthReference(o)
							t.Run(name+"/exact", func(t *testing.T) {
								exact := ref
								exact.params = map[string][]float32{}
								for k, v := range ref.params {
									exact.params[k] = roundTo(dt, v)
								}
								exact.check(t, m, 0)
							})
							t.Run(name+"/original", func(t *testing.T) { ref.check(t, m, tol[dt]) })
							h, err := m.Hash()
							if err != nil {
								t.Fatal(err)
							}
							key := fmt.Sprint(head == synth.LMHeadUntied)
							if hashes[dt] == nil {
								hashes[dt] = map[string]bool{}
							}
							hashes[dt][key+h] = true
							n++
						}
					}
				}
			}
		}
	}
	for dt, hs := range hashes {
		// One hash for tied variants, one for untied (which has an extra
		// parameter with its own values).
		if len(hs) != 2 {
			t.Errorf("%s: %d distinct hashes over naming/format/sharding variants, want 2 (tied, untied)", dt, len(hs))
		}
	}
	t.Logf("%d checkpoints compared", n)
}

// The fixtures written by the real torch.save (testdata of the checkpoint
// package) read through the weights view as the values the script stored.
func TestTorchSaveFixtures(t *testing.T) {
	b, err := os.ReadFile("../checkpoint/testdata/torch/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Parameters map[string]struct{ Values []float32 }
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	ref := reference{
		a:      gpt2Arch(synth.Shape{Layers: 2, Heads: 2, DModel: 8, DFF: 16, Vocab: 24, Positions: 8}, true, ""),
		params: map[string][]float32{},
	}
	for k, v := range exp.Parameters {
		if k != "lm_head.weight" {
			ref.params[k[len("transformer."):]] = v.Values
		}
	}
	var hashes []string
	for _, dir := range []string{"gpt2-zip-f32", "gpt2-legacy-f32", "gpt2-zip-f16", "gpt2-zip-bf16"} {
		t.Run(dir, func(t *testing.T) {
			m := open(t, "../checkpoint/testdata/torch/"+dir)
			ref := ref
			ref.a.DType = strings.ToUpper(dir[strings.LastIndex(dir, "-")+1:])
			ref.check(t, m, 0) // the values are exact in every dtype
			h, _ := m.Hash()
			hashes = append(hashes, h)
		})
	}
	if len(hashes) == 4 && (hashes[0] != hashes[1] || hashes[0] == hashes[2] || hashes[2] == hashes[3]) {
		t.Errorf("hashes %v: zip and legacy F32 must agree, dtypes must differ", hashes)
	}
}

func TestEmbeddedModel(t *testing.T) {
	c, err := checkpoint.Load(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := weights.FromCheckpoint(c)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want := gpt2Arch(synth.Shape{Layers: 4, Heads: 8, DModel: 256, DFF: 1024, Vocab: 8192, Positions: 256}, true, "F32")
	if !reflect.DeepEqual(m.Arch(), want) {
		t.Errorf("arch %+v, want %+v", m.Arch(), want)
	}
	if m.ID() != "embedded:tiny-pl-gpt2" || m.Name() != "tiny-pl-gpt2" {
		t.Errorf("id %q name %q", m.ID(), m.Name())
	}
	e, _ := m.Embedding()
	u, _ := m.Unembedding()
	if &e.Data[0] != &u.Data[0] {
		t.Error("tied unembedding is not the embedding")
	}
	// Notes record this hash and compare it on load: it must not change
	// while the embedded weights do not.
	h, err := m.Hash()
	if err != nil {
		t.Fatal(err)
	}
	const golden = "sha256:c41b491ea94c002ab933b8e34fd54262b5a3da6c270992a8d0f912241c9fd9a9"
	if h != golden {
		t.Errorf("weights hash %s, want %s", h, golden)
	}
}

func TestRangeErrors(t *testing.T) {
	c, _ := checkpoint.OpenEmbedded()
	m, err := weights.FromCheckpoint(c)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, tc := range []struct {
		call func() error
		want string
	}{
		{func() error { _, err := m.FFKeys(7, 0); return err }, "weights: layer 7 out of range [0,4) for tiny-pl-gpt2"},
		{func() error { _, err := m.FFValues(-1); return err }, "weights: layer -1 out of range [0,4) for tiny-pl-gpt2"},
		{func() error { _, err := m.FFKey(0, 0, 1024); return err }, "weights: neuron 1024 out of range [0,1024) for tiny-pl-gpt2"},
		{func() error { _, err := m.FFValue(4, 0); return err }, "weights: layer 4 out of range [0,4) for tiny-pl-gpt2"},
		{func() error { _, err := m.FFValue(3, -5); return err }, "weights: neuron -5 out of range [0,1024) for tiny-pl-gpt2"},
		{func() error { _, err := m.WQ(0, 8); return err }, "weights: head 8 out of range [0,8) for tiny-pl-gpt2"},
		{func() error { _, err := m.WK(9, 0); return err }, "weights: layer 9 out of range [0,4) for tiny-pl-gpt2"},
		{func() error { _, err := m.WV(1, -1); return err }, "weights: KV head -1 out of range [0,8) for tiny-pl-gpt2"},
		{func() error { _, err := m.FFKeys(0, 1); return err }, "weights: MLP read direction 1 out of range [0,1) for tiny-pl-gpt2"},
		{func() error { _, err := m.WO(2, 100); return err }, "weights: head 100 out of range [0,8) for tiny-pl-gpt2"},
	} {
		err := tc.call()
		var re *weights.RangeError
		if !errors.As(err, &re) || err.Error() != tc.want {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}

// Conversions happen once per tensor: two calls return the same memory.
func TestConversionCached(t *testing.T) {
	dir := t.TempDir()
	if err := synth.Write(dir, synth.Options{Shape: synth.Tiny, DType: checkpoint.BF16}); err != nil {
		t.Fatal(err)
	}
	m := open(t, dir)
	a, _ := m.WO(1, 0)
	b, _ := m.WO(1, 0)
	if &a.Data[0] != &b.Data[0] {
		t.Error("BF16 tensor converted twice")
	}
}

func ExampleFromCheckpoint() {
	c, err := checkpoint.Load(context.Background(), "")
	if err != nil {
		panic(err)
	}
	m, err := weights.FromCheckpoint(c)
	if err != nil {
		panic(err)
	}
	defer m.Close()
	fmt.Println(m.Arch())
	wq, _ := m.WQ(2, 4) // head 2.4
	wo, _ := m.WO(2, 4)
	key, _ := m.FFKey(3, 0, 907) // the key of neuron L3/N907
	fmt.Println(wq, wo, len(key))
	_, err = m.FFValue(7, 0)
	fmt.Println(err)
	// Output:
	// gpt2: 4 layers, 8 heads, d=256, d_head=32, d_ff=1024, vocab 8192
	// Matrix[256×32] Matrix[32×256] 256
	// weights: layer 7 out of range [0,4) for tiny-pl-gpt2
}

func dtypeName(dt checkpoint.DType) string {
	if dt == "" {
		return "F32"
	}
	return string(dt)
}
