// Package catalogue writes and reads a catalogue of a whole model: for every
// attention head the top and bottom k pairs of its OV and QK views (QK at
// offsets δ = 0 and 1 for rotary models) with the views' statistics, and
// for every MLP neuron the top k tokens of each of its columns with the
// neuron's statistics — under one lens's token filters and weight
// processing — as Parquet tables that pandas, polars and DuckDB read, with
// a small JSON manifest.
//
// # Layout
//
// A catalogue is a directory:
//
//	manifest.json        what was scanned (model, weights hash, filters, k, …)
//	heads.parquet        one row per head view
//	pairs.parquet        the top and bottom k pairs of every head view
//	neurons.parquet      one row per neuron
//	tokens.parquet       the top k tokens of every neuron column
//	parts/layer-NNNN/    the same four tables for one layer, and part.json
//
// A scan computes one part per layer and writes it atomically (into a
// temporary directory, renamed into place once part.json, which records
// every file's size and SHA-256, is written). A scan that finds a part of
// the same catalogue already there skips it, so a killed scan resumes where
// it stopped; a part whose files do not match its part.json is reported and
// computed again. Merge joins the parts, in layer order, into the four
// top-level tables, and refuses while any part is missing or corrupt.
//
// A scan with a Shard computes only its share of the layers (contiguous
// ranges, as even as the layer count allows), so a large model's catalogue
// is built by a Slurm job array or a Kubernetes indexed job writing into one
// shared directory, then merged (see docs/scan-slurm.sh and
// docs/scan-k8s.yaml). Parts and tables are byte-for-byte the same whether
// they were computed sharded or not, on any number of cores: every result
// is exact and every reduction runs in a fixed order.
//
// A directory that holds a catalogue of other weights, or of the same
// weights under other filters, k or processing, is refused, never mixed.
//
// # Tables
//
// heads.parquet (one row per head view; statistics over the tokens the
// lens keeps, on both sides):
//
//	layer, head, kv_head    int32   the head; kv_head is its KV group's head (= head without GQA)
//	view                    string  "OV" or "QK"
//	offset                  int32   QK of a rotary model: query − key position δ (0 or 1); else 0
//	sigma1                  double  largest singular value of the V × V view
//	effective_rank          double  exp(entropy of σ/Σσ), Roy & Vetterli: 1 … d_head
//	copying_score           double  OV: Σ Re λ / Σ |λ| over the view's eigenvalues; null for QK
//	copy_fraction           double  OV: share of the top-k pairs whose tokens are the same or
//	                                fuzzy-same (vocab.SameToken, vocab.FuzzyEqual); null for QK
//	prev_token_margin       double  QK, learned positions only: mean logit margin of position p−1 (see project.PrevToken); else null
//	prev_token_fraction     double  QK, learned positions only: share of positions where p−1 wins; else null
//	top_score, bottom_score float   the view's largest and most negative entry among the lens's pairs
//
// pairs.parquet (k rows per head view and side):
//
//	layer, head, view, offset       as in heads.parquet
//	side                    string  "top" or "bottom"
//	rank                    int32   1 … k, best first
//	source_id, target_id    int32   token ids (QK: source is the query, target the key)
//	source, target          string  raw vocabulary entries ("Ġdom")
//	source_text, target_text string decoded text (" dom")
//	score                   float   the view's exact entry
//
// neurons.parquet (one row per neuron):
//
//	layer, neuron           int32
//	key_norm                double  |k| (gated MLPs: the gate's), the MLP norm's gain folded in when the lens folds norms
//	up_norm                 double  gated MLPs: |u|; else null
//	value_norm              double  |v|
//	cos_key_value           double  cos(k, v) (gated: gate and value)
//	cos_up_value            double  gated MLPs: cos(u, v); else null
//	value_mean, value_std   double  moments of the value's vocabulary projection W_U·v over the lens's tokens
//	value_skew              double  its skewness (positive: a prediction neuron's tail)
//	value_kurtosis          double  its excess kurtosis (0 for a normal distribution)
//
// (From 2²² tokens × d_model up, on VNNI CPUs, the neuron scan screens with
// int8 and value_std, value_skew and value_kurtosis are those of the int8
// estimates: within about 1%, 0.04 and 4% of the exact ones; value_mean and
// every token list stay exact.)
//
// tokens.parquet (k rows per neuron column):
//
//	layer, neuron           int32
//	column                  string  "K", "V", "-K", "-V" (gated: "gate", "up", "V", "-gate", "-up", "-V")
//	rank                    int32   1 … k, best first
//	token_id                int32
//	token, text             string  raw vocabulary entry and decoded text
//	score                   float   the exact score (of the negated projection for "-" columns)
//
// Each row equals what a single query through the same lens returns:
// lens.OV(l, h).Top(k), .Bottom(k), lens.Neuron(l, i).Top(k).
package catalogue
