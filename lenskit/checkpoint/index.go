package checkpoint

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"slices"
	"strings"

	"lenskit.dev/lenskit/internal/untrusted"
)

// MaxIndex bounds a shard index file (model.safetensors.index.json).
// Real ones list a few thousand tensors in well under a megabyte.
const MaxIndex = 64 << 20

// An Index is a parsed shard index: which file holds each tensor.
type Index struct {
	WeightMap map[string]string // tensor name → shard file name
	Shards    []string          // distinct shard file names, sorted
	Metadata  map[string]any    // the "metadata" object (total_size, …), if any
}

// ParseIndex parses a model.safetensors.index.json or
// pytorch_model.bin.index.json. file names it in errors. Shard names must be
// plain relative paths inside the checkpoint directory (fs.ValidPath, no
// backslashes): an index is no way to reach files elsewhere.
func ParseIndex(file string, data []byte) (*Index, error) {
	if len(data) > MaxIndex {
		return nil, fault(file, "", ErrMalformed, "%d bytes, more than the %d accepted for an index", len(data), MaxIndex)
	}
	var raw struct {
		Metadata  map[string]any     `json:"metadata"`
		WeightMap map[string]*string `json:"weight_map"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, fault(file, "", ErrMalformed, "not an index: %s", quoteMessage(err.Error()))
	}
	if len(raw.WeightMap) == 0 {
		return nil, fault(file, "", ErrMalformed, "no weight_map entries")
	}
	idx := &Index{WeightMap: make(map[string]string, len(raw.WeightMap)), Metadata: raw.Metadata}
	seen := make(map[string]bool)
	for name, shard := range raw.WeightMap {
		if name == "" {
			return nil, fault(file, "", ErrMalformed, "empty tensor name in weight_map")
		}
		if shard == nil || !fs.ValidPath(*shard) || *shard == "." || strings.ContainsRune(*shard, '\\') {
			s := "null"
			if shard != nil {
				s = *shard
			}
			return nil, fault(file, name, ErrMalformed, "shard %s is not a file name inside the checkpoint", untrusted.Quote(s))
		}
		idx.WeightMap[name] = *shard
		if !seen[*shard] {
			seen[*shard] = true
			idx.Shards = append(idx.Shards, *shard)
		}
	}
	slices.Sort(idx.Shards)
	return idx, nil
}
