package weights_test

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"lenskit.dev/lenskit/checkpoint"
	"lenskit.dev/lenskit/weights"
)

const tinyLlama = "/work/shared/models/tiny-pl-llama"

// readBF16Tensor reads a BF16 tensor straight from a safetensors file —
// header length, JSON header, offsets — without the checkpoint package.
func readBF16Tensor(t *testing.T, path, name string) (shape []int, values []float32) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	var e struct {
		DType       string  `json:"dtype"`
		Shape       []int   `json:"shape"`
		DataOffsets []int64 `json:"data_offsets"`
	}
	if err := json.Unmarshal(header[name], &e); err != nil || e.DType != "BF16" {
		t.Fatalf("%s: %v, dtype %q", name, err, e.DType)
	}
	data := b[8+n+uint64(e.DataOffsets[0]) : 8+n+uint64(e.DataOffsets[1])]
	values = make([]float32, len(data)/2)
	for i := range values {
		values[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(data[2*i:])) << 16)
	}
	return e.Shape, values
}

// The real Llama trained for lenskit (../shared/models/tiny-pl-llama, see
// its MODEL_CARD.md) opens as the card describes it, and its heads and
// neurons are the file's rows read independently.
func TestTinyPlLlama(t *testing.T) {
	if _, err := os.Stat(filepath.Join(tinyLlama, "model.safetensors")); err != nil {
		t.Skip("tiny-pl-llama is not on this machine:", err)
	}
	c, err := checkpoint.Open(tinyLlama)
	if err != nil {
		t.Fatal(err)
	}
	m, err := weights.FromCheckpoint(c)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want := weights.Arch{ModelType: "llama", Layers: 4, Heads: 8, KVHeads: 2, DModel: 256, DHead: 32, DFF: 768, Vocab: 8192,
		Positions: 256, MLP: weights.MLPGated, Activation: "silu", Norm: weights.RMSNorm, NormEps: 1e-5,
		Rotary: &weights.Rotary{Theta: 10000, Fraction: 1, Dims: 32}, Tied: false, DType: "BF16",
		EmbedScale: 1, AttnScale: 1 / math.Sqrt(32)}
	if got := m.Arch(); !reflect.DeepEqual(got, want) {
		t.Fatalf("arch\n%+v\nwant\n%+v", got, want)
	}
	if g := m.Arch().KVGroup(6); g != 1 {
		t.Errorf("head 2.6 reads KV head %d, want 1 (heads 4–7 share KV head 1)", g)
	}
	file := filepath.Join(tinyLlama, "model.safetensors")
	const d, dh = 256, 32
	// W_Q of head 2.6: q = x·q_projᵀ, so column j of W_Q is row 6·32 + j.
	shape, q := readBF16Tensor(t, file, "model.layers.2.self_attn.q_proj.weight")
	if !reflect.DeepEqual(shape, []int{8 * dh, d}) {
		t.Fatalf("q_proj shape %v", shape)
	}
	wq, err := m.WQ(2, 6)
	if err != nil {
		t.Fatal(err)
	}
	for i := range d {
		for j := range dh {
			if got, want := wq.At(i, j), q[(6*dh+j)*d+i]; got != want {
				t.Fatalf("W_Q(2,6)[%d][%d] = %v, q_proj row %d col %d = %v", i, j, got, 6*dh+j, i, want)
			}
		}
	}
	// W_K of KV head 1 and W_O of head 2.6.
	_, k := readBF16Tensor(t, file, "model.layers.2.self_attn.k_proj.weight")
	wk, _ := m.WK(2, 1)
	_, o := readBF16Tensor(t, file, "model.layers.2.self_attn.o_proj.weight")
	wo, _ := m.WO(2, 6)
	for i := range d {
		for j := range dh {
			if wk.At(i, j) != k[(dh+j)*d+i] || wo.At(j, i) != o[i*8*dh+6*dh+j] {
				t.Fatalf("W_K(2,1) or W_O(2,6) differs from the file at %d,%d", i, j)
			}
		}
	}
	// Neuron 2/100: gate and up rows as stored, value a column of down_proj.
	_, gate := readBF16Tensor(t, file, "model.layers.2.mlp.gate_proj.weight")
	_, down := readBF16Tensor(t, file, "model.layers.2.mlp.down_proj.weight")
	key, _ := m.FFKey(2, 0, 100)
	val, _ := m.FFValue(2, 100)
	for i := range d {
		if key[i] != gate[100*d+i] || val[i] != down[i*768+100] {
			t.Fatalf("neuron 2/100 differs from the file at coordinate %d", i)
		}
	}
	e, _ := m.Embedding()
	u, _ := m.Unembedding()
	if !e.IsBF16() || !u.IsBF16() || &e.BF16[0] == &u.BF16[0] {
		t.Error("the BF16 embedding and the untied lm_head should be aliased BF16 matrices of their own")
	}
}
