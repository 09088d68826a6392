package weights

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"lenskit.dev/lenskit/checkpoint"
)

// hfConfig reads the fields of a Hugging Face config.json that the typed
// checkpoint.Config does not cover, from its Raw map. Where a field is absent
// it applies the default that the family's transformers config class gives
// it and records "field=value" for Arch.Defaults, so info can say what was
// assumed. The first fault (a field of the wrong JSON kind, a number out of
// range) is kept in err and every later read returns its default, so a
// family's reader can read all its fields and check err once.
//
// JSON null and absence differ in transformers: an absent field takes the
// class default, a null one is None. For the fields where None means
// something (sliding_window, the softcaps, rope_scaling, head_dim,
// num_key_value_heads) the family readers ask isNull; for the others null is
// read as absent.
type hfConfig struct {
	path     string         // config.json as shown in errors
	raw      map[string]any // the (sub-)object read
	prefix   string         // "text_config." when reading a nested config, for messages and Defaults
	defaults []string
	err      error
}

func newHFConfig(c *checkpoint.Checkpoint) *hfConfig {
	path := c.ID() + "/config.json"
	if c.Dir() != "" {
		path = filepath.Join(c.Dir(), checkpoint.ConfigFile)
	}
	return &hfConfig{path: path, raw: c.Config().Raw}
}

// fail records the first fault: "weights: <config.json>: bad config: …".
func (c *hfConfig) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("weights: %s: %w: "+format, append([]any{c.path, ErrConfig}, args...)...)
	}
}

// name is the field as the user finds it in config.json.
func (c *hfConfig) name(key string) string { return c.prefix + key }

func (c *hfConfig) setDefault(key string, v any) {
	c.defaults = append(c.defaults, c.name(key)+"="+formatValue(v))
}

// value returns the field; ok is false when it is absent or null.
func (c *hfConfig) value(key string) (any, bool) {
	v, ok := c.raw[key]
	return v, ok && v != nil
}

func (c *hfConfig) has(key string) bool { _, ok := c.value(key); return ok }

func (c *hfConfig) isNull(key string) bool {
	v, ok := c.raw[key]
	return ok && v == nil
}

// integer reads a non-negative integer field (4096 and 4096.0 both count).
func (c *hfConfig) integer(key string, def int) int {
	v, ok := c.value(key)
	if !ok {
		c.setDefault(key, def)
		return def
	}
	n, ok := asInt(v)
	if !ok {
		c.fail("%s is %s, want a non-negative integer", c.name(key), short(v))
		return def
	}
	return n
}

// integerOr reads an integer field whose default is derived from others
// (head_dim = hidden_size / num_attention_heads); the derived value is what
// Defaults records.
func (c *hfConfig) integerOr(key string, derive func() int) int {
	if c.has(key) {
		return c.integer(key, 0)
	}
	return c.integer(key, derive())
}

func (c *hfConfig) number(key string, def float64) float64 {
	v, ok := c.value(key)
	if !ok {
		c.setDefault(key, def)
		return def
	}
	f, ok := asFloat(v)
	if !ok {
		c.fail("%s is %s, want a number", c.name(key), short(v))
		return def
	}
	return f
}

func (c *hfConfig) boolean(key string, def bool) bool {
	v, ok := c.value(key)
	if !ok {
		c.setDefault(key, def)
		return def
	}
	b, ok := v.(bool)
	if !ok {
		c.fail("%s is %s, want true or false", c.name(key), short(v))
		return def
	}
	return b
}

func (c *hfConfig) str(key string, def string) string {
	v, ok := c.value(key)
	if !ok {
		c.setDefault(key, def)
		return def
	}
	s, ok := v.(string)
	if !ok {
		c.fail("%s is %s, want a string", c.name(key), short(v))
		return def
	}
	return s
}

// object returns a nested object field; ok is false when absent or null.
func (c *hfConfig) object(key string) (map[string]any, bool) {
	v, ok := c.value(key)
	if !ok {
		return nil, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		c.fail("%s is %s, want an object", c.name(key), short(v))
	}
	return m, ok
}

// sub returns a reader of a nested object (Gemma 3's text_config) sharing
// this one's error and Defaults; absent, it reads an empty object, so every
// field takes its default.
func (c *hfConfig) sub(key string) *hfConfig {
	m, _ := c.object(key)
	if m == nil {
		m = map[string]any{}
	}
	return &hfConfig{path: c.path, raw: m, prefix: c.prefix + key + ".", defaults: c.defaults, err: c.err}
}

// adopt takes back a sub-reader's Defaults and error.
func (c *hfConfig) adopt(s *hfConfig) {
	c.defaults, c.err = s.defaults, s.err
}

// positive checks that each named value is > 0.
func (c *hfConfig) positive(fields ...any) {
	for i := 0; i+1 < len(fields); i += 2 {
		name := fields[i].(string)
		switch v := fields[i+1].(type) {
		case int:
			if v <= 0 {
				c.fail("%s is %d, want a positive number", c.name(name), v)
			}
		case float64:
			if !(v > 0) || math.IsInf(v, 0) {
				c.fail("%s is %v, want a positive number", c.name(name), v)
			}
		}
	}
}

func asInt(v any) (int, bool) {
	f, ok := asFloat(v)
	if !ok || f < 0 || f != math.Trunc(f) || f > 1<<40 {
		return 0, false
	}
	return int(f), true
}

func asFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil && !math.IsNaN(f)
	case float64:
		return n, !math.IsNaN(n)
	case int:
		return float64(n), true
	}
	return 0, false
}

// formatValue spells a default as config.json would: 10000, 1e-06, true, "silu" unquoted.
func formatValue(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// short quotes a (possibly hostile) config value for an error message: its
// JSON spelling, escaped, cut to 40 bytes.
func short(v any) string {
	b, err := json.Marshal(v)
	s := string(b)
	if err != nil {
		s = fmt.Sprintf("%q", fmt.Sprint(v))
	}
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

// shortString quotes a string value, cut to 32 bytes.
func shortString(s string) string {
	if len(s) > 32 {
		return strconv.Quote(s[:32]) + "…"
	}
	return strconv.Quote(s)
}

// ropeTypes are the rope_scaling types lenskit computes, as transformers'
// ROPE_INIT_FUNCTIONS names them ("default" means none).
var ropeTypes = []string{"linear", "dynamic", "llama3", "yarn"}

// rotary reads the rotary embedding of a config: the legacy fields
// (rope_theta and rope_scaling, transformers 4.x) or transformers 5's
// rope_parameters, either flat or keyed by layer type
// ({"full_attention": {…}, "sliding_attention": {…}}). thetaKey and
// defaultTheta are the family's base field and default; localKey (Gemma 3's
// rope_local_base_freq) names a separate base for sliding layers. dims is
// the number of rotated coordinates per head; maxPos the config's
// max_position_embeddings, which yarn and llama3 fall back to for
// original_max_position_embeddings (transformers 5's standardize_rope_params).
func (c *hfConfig) rotary(thetaKey string, defaultTheta float64, localKey string, defaultLocal float64, maxPos int) *Rotary {
	r := &Rotary{Fraction: 1}
	if params, ok := c.object("rope_parameters"); ok {
		full, sliding, nested := params, map[string]any(nil), false
		if f, ok := params["full_attention"].(map[string]any); ok {
			full, nested = f, true
			sliding, _ = params["sliding_attention"].(map[string]any)
		}
		r.Theta = c.ropeTheta(full, "rope_parameters", thetaKey, defaultTheta)
		r.Scaling = c.ropeScaling(full, "rope_parameters", maxPos)
		if nested && sliding != nil {
			local := c.ropeTheta(sliding, "rope_parameters.sliding_attention", localKey, defaultLocal)
			if sc := c.ropeScaling(sliding, "rope_parameters.sliding_attention", maxPos); sc != nil {
				c.fail("rope_parameters.sliding_attention has rope_type %s: scaling on sliding-window layers is not supported (only default)", shortString(sc.Type))
			}
			if local != r.Theta || localKey != "" {
				r.LocalTheta = local
			}
		} else if localKey != "" {
			r.LocalTheta = c.number(localKey, defaultLocal)
		}
		return r
	}
	r.Theta = c.number(thetaKey, defaultTheta)
	if localKey != "" {
		r.LocalTheta = c.number(localKey, defaultLocal)
	}
	if sc, ok := c.object("rope_scaling"); ok {
		r.Scaling = c.ropeScaling(sc, "rope_scaling", maxPos)
	}
	c.positive(thetaKey, r.Theta)
	if localKey != "" {
		c.positive(localKey, r.LocalTheta)
	}
	return r
}

// ropeTheta reads rope_theta from a rope_parameters object, falling back to
// the legacy top-level field (and then the family default), as
// standardize_rope_params does.
func (c *hfConfig) ropeTheta(p map[string]any, where, legacyKey string, def float64) float64 {
	if v, ok := p["rope_theta"]; ok && v != nil {
		f, ok := asFloat(v)
		if !ok || !(f > 0) {
			c.fail("%s.rope_theta is %s, want a positive number", c.name(where), short(v))
			return def
		}
		return f
	}
	if legacyKey == "" {
		legacyKey = "rope_theta"
	}
	f := c.number(legacyKey, def)
	c.positive(legacyKey, f)
	return f
}

// ropeScaling reads a rope_scaling (or rope_parameters) object; nil for the
// default rotary. Unknown types are an error naming the supported ones. The
// fields each type needs are checked here, at open, so that RotaryAt cannot
// fail later.
func (c *hfConfig) ropeScaling(m map[string]any, where string, maxPos int) *RopeScaling {
	typ := ""
	for _, k := range []string{"rope_type", "type"} {
		if v, ok := m[k]; ok && v != nil {
			s, ok := v.(string)
			if !ok {
				c.fail("%s.%s is %s, want a string", c.name(where), k, short(v))
				return nil
			}
			typ = s
			break
		}
	}
	if typ == "" || typ == "default" {
		return nil
	}
	sc := &RopeScaling{Type: typ}
	field := func(key string, required bool) (float64, bool) {
		v, ok := m[key]
		if !ok || v == nil {
			if required {
				c.fail("%s type %q needs %s", c.name(where), typ, key)
			}
			return 0, false
		}
		f, ok := asFloat(v)
		if !ok {
			c.fail("%s.%s is %s, want a number", c.name(where), key, short(v))
		}
		return f, ok
	}
	origMax := func() int {
		v, ok := m["original_max_position_embeddings"]
		if !ok || v == nil {
			c.setDefault(where+".original_max_position_embeddings", maxPos)
			return maxPos
		}
		n, ok := asInt(v)
		if !ok || n == 0 {
			c.fail("%s.original_max_position_embeddings is %s, want a positive integer", c.name(where), short(v))
		}
		return n
	}
	switch typ {
	case "linear", "dynamic":
		sc.Factor, _ = field("factor", true)
	case "llama3":
		sc.Factor, _ = field("factor", true)
		sc.LowFreqFactor, _ = field("low_freq_factor", true)
		sc.HighFreqFactor, _ = field("high_freq_factor", true)
		sc.OriginalMaxPositions = origMax()
		if c.err == nil && !(sc.HighFreqFactor > sc.LowFreqFactor && sc.LowFreqFactor > 0) {
			c.fail("%s: llama3 needs 0 < low_freq_factor < high_freq_factor, not %v and %v", c.name(where), sc.LowFreqFactor, sc.HighFreqFactor)
		}
	case "yarn":
		sc.Factor, _ = field("factor", true)
		sc.OriginalMaxPositions = origMax()
		sc.AttentionFactor, _ = field("attention_factor", false)
		sc.BetaFast, _ = field("beta_fast", false)
		sc.BetaSlow, _ = field("beta_slow", false)
		sc.Mscale, _ = field("mscale", false)
		sc.MscaleAllDim, _ = field("mscale_all_dim", false)
		if v, ok := m["truncate"]; ok && v != nil {
			b, ok := v.(bool)
			if !ok {
				c.fail("%s.truncate is %s, want true or false", c.name(where), short(v))
			}
			sc.NoTruncate = !b
		}
	default:
		c.fail("%s type %s is not supported (supported: %s)", c.name(where), shortString(typ), strings.Join(ropeTypes, ", "))
		return nil
	}
	if c.err == nil && !(sc.Factor > 0) {
		c.fail("%s.factor is %v, want a positive number", c.name(where), sc.Factor)
	}
	return sc
}

// layerTypes reads an explicit layer_types list (transformers ≥ 4.53 writes
// one for Qwen2/3 and Gemma 2/3): true where a layer is "sliding_attention".
// ok is false when the config has none.
func (c *hfConfig) layerTypes(layers int) (sliding []bool, ok bool) {
	v, ok := c.value("layer_types")
	if !ok {
		return nil, false
	}
	list, isList := v.([]any)
	if !isList {
		c.fail("layer_types is %s, want a list", short(v))
		return nil, false
	}
	if len(list) != layers {
		c.fail("layer_types has %d entries for %d layers (num_hidden_layers)", len(list), layers)
		return nil, false
	}
	sliding = make([]bool, layers)
	for i, t := range list {
		switch t {
		case "sliding_attention":
			sliding[i] = true
		case "full_attention":
		default:
			c.fail("layer_types[%d] is %s, want \"full_attention\" or \"sliding_attention\"", i, short(t))
			return nil, false
		}
	}
	return sliding, true
}
