package checkpoint

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// maxConfigSize bounds config.json; real ones are a few kilobytes.
const maxConfigSize = 16 << 20

// Config is the parsed config.json of a checkpoint. The typed fields are the
// ones GPT-2 uses (Hugging Face's GPT2Config names, with its defaults); Raw
// keeps every field so that an adapter for another architecture can read its
// own names (num_hidden_layers, hidden_size, …) without this package knowing
// them.
type Config struct {
	ModelType     string   // "gpt2"
	Architectures []string // e.g. ["GPT2LMHeadModel"]

	NLayer     int // n_layer (alias num_hidden_layers)
	NHead      int // n_head (alias num_attention_heads)
	NEmbd      int // n_embd (alias hidden_size)
	NInner     int // n_inner; null or absent means 4·n_embd, as in GPT2MLP
	VocabSize  int // vocab_size
	NPositions int // n_positions (alias max_position_embeddings)

	// TieWordEmbeddings: lm_head shares the token embedding. Absent means
	// true, the PretrainedConfig default.
	TieWordEmbeddings bool
	LayerNormEpsilon  float64 // layer_norm_epsilon, default 1e-5
	Activation        string  // activation_function, default "gelu_new"

	Raw map[string]any // every field as decoded by encoding/json
}

// ParseConfig decodes a config.json. file names it in errors. Only the JSON
// shape is checked here; whether the numbers fit the tensors is the weights
// adapter's job, which knows what each number means.
func ParseConfig(file string, data []byte) (*Config, error) {
	if len(data) > maxConfigSize {
		return nil, fault(file, "", ErrMalformed, "%d bytes, more than the %d accepted for a config", len(data), maxConfigSize)
	}
	var raw map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fault(file, "", ErrMalformed, "not a JSON object: %s", quoteMessage(err.Error()))
	}
	if raw == nil {
		return nil, fault(file, "", ErrMalformed, "not a JSON object")
	}
	c := &Config{Raw: raw, TieWordEmbeddings: true, LayerNormEpsilon: 1e-5, Activation: "gelu_new"}
	var err error
	str := func(key string, dst *string) {
		if v, ok := raw[key]; ok && v != nil && err == nil {
			s, ok := v.(string)
			if !ok {
				err = fault(file, "", ErrMalformed, "%s is %s, want a string", key, describe(v))
			}
			*dst = s
		}
	}
	integer := func(dst *int, keys ...string) {
		for _, key := range keys {
			v, ok := raw[key]
			if !ok || v == nil || err != nil {
				continue
			}
			num, ok := v.(json.Number)
			var i int64
			var perr error
			if ok {
				i, perr = num.Int64()
			}
			if !ok || perr != nil || i < 0 || int64(int(i)) != i {
				err = fault(file, "", ErrMalformed, "%s is %s, want a non-negative integer", key, describe(v))
				return
			}
			*dst = int(i)
			return
		}
	}
	str("model_type", &c.ModelType)
	str("activation_function", &c.Activation)
	if v, ok := raw["architectures"].([]any); ok {
		for _, a := range v {
			if s, ok := a.(string); ok {
				c.Architectures = append(c.Architectures, s)
			}
		}
	}
	integer(&c.NLayer, "n_layer", "num_hidden_layers")
	integer(&c.NHead, "n_head", "num_attention_heads")
	integer(&c.NEmbd, "n_embd", "hidden_size")
	integer(&c.NInner, "n_inner", "intermediate_size")
	integer(&c.VocabSize, "vocab_size")
	integer(&c.NPositions, "n_positions", "max_position_embeddings")
	if err != nil {
		return nil, err
	}
	if c.NInner == 0 {
		c.NInner = 4 * c.NEmbd
	}
	if v, ok := raw["tie_word_embeddings"]; ok && v != nil {
		b, ok := v.(bool)
		if !ok {
			return nil, fault(file, "", ErrMalformed, "tie_word_embeddings is %s, want true or false", describe(v))
		}
		c.TieWordEmbeddings = b
	}
	if v, ok := raw["layer_norm_epsilon"]; ok && v != nil {
		num, ok := v.(json.Number)
		f, perr := num.Float64()
		if !ok || perr != nil {
			return nil, fault(file, "", ErrMalformed, "layer_norm_epsilon is %s, want a number", describe(v))
		}
		c.LayerNormEpsilon = f
	}
	return c, nil
}

// String summarizes the GPT-2 fields.
func (c *Config) String() string {
	return fmt.Sprintf("%s: %d layers, d=%d, %d heads, d_ff=%d, vocab %d, %d positions",
		c.ModelType, c.NLayer, c.NEmbd, c.NHead, c.NInner, c.VocabSize, c.NPositions)
}
