package catalogue

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// duckDBVersion is the npm release of DuckDB's Node API the test reads
// the tables with: a prebuilt DuckDB engine, nothing of lenskit's or of
// parquet-go's.
const duckDBVersion = "1.5.6-r.1"

// duckDB returns a directory holding node_modules/@duckdb/node-api,
// installing it (once, into the user cache) with npm. Without npm or node
// the test skips, unless LENSKIT_REQUIRE_NPM is set (make test sets it).
func duckDB(t *testing.T) (node, dir string) {
	t.Helper()
	npm, err1 := exec.LookPath("npm")
	node, err2 := exec.LookPath("node")
	if err1 != nil || err2 != nil {
		if os.Getenv("LENSKIT_REQUIRE_NPM") != "" {
			t.Fatalf("npm and node are needed to read the catalogue with DuckDB (LENSKIT_REQUIRE_NPM is set): %v %v", err1, err2)
		}
		t.Skip("npm or node not installed; the independent Parquet reader (DuckDB from npm) is not available")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir = filepath.Join(cache, "lenskit", "npm", "duckdb-node-api-"+duckDBVersion)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@duckdb", "node-api", "package.json")); err == nil {
		return node, dir
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", tmp, "--no-audit", "--no-fund", "--no-save", "@duckdb/node-api@"+duckDBVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install @duckdb/node-api@%s: %v\n%s", duckDBVersion, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(dir); serr != nil { // another test installed it meanwhile: fine
			t.Fatal(err)
		}
	}
	return node, dir
}

// readerScript queries a catalogue directory with DuckDB and prints JSON:
// each table's columns (name and type), row count, and a few aggregates.
const readerScript = `
const { DuckDBInstance } = require('@duckdb/node-api');
(async () => {
  const dir = process.argv[2];
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  const q = async (sql) => (await con.runAndReadAll(sql)).getRowObjectsJson();
  const out = {};
  for (const t of ['heads', 'pairs', 'neurons', 'tokens']) {
    const f = "read_parquet('" + dir + "/" + t + ".parquet')";
    out[t] = {
      columns: await q('SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM ' + f + ')'),
      count: (await q('SELECT count(*)::BIGINT AS n FROM ' + f))[0].n,
    };
  }
  const h = "read_parquet('" + dir + "/heads.parquet')";
  const p = "read_parquet('" + dir + "/pairs.parquet')";
  const n = "read_parquet('" + dir + "/neurons.parquet')";
  const k = "read_parquet('" + dir + "/tokens.parquet')";
  out.heads.agg = (await q('SELECT sum(sigma1) AS s, count(copying_score) AS c, count(prev_token_margin) AS p FROM ' + h))[0];
  out.pairs.agg = (await q('SELECT sum(score::DOUBLE) AS s, sum(source_id)::BIGINT AS i FROM ' + p))[0];
  out.pairs.best = (await q("SELECT layer, head, source_text, target, score::DOUBLE AS score FROM " + p +
      " WHERE view = 'OV' AND side = 'top' ORDER BY score DESC, layer, head, rank LIMIT 1"))[0];
  out.neurons.agg = (await q('SELECT sum(value_kurtosis) AS s, count(up_norm) AS u FROM ' + n))[0];
  out.tokens.agg = (await q('SELECT sum(token_id)::BIGINT AS i, count(DISTINCT "column") AS c FROM ' + k))[0];
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`

// TestDuckDBReadsTheTables: DuckDB — an independent Parquet reader — opens
// the four tables, sees the documented columns with the right types, and
// computes the same counts and sums as the tables hold.
func TestDuckDBReadsTheTables(t *testing.T) {
	node, mod := duckDB(t)
	mdir := t.TempDir()
	writeGPT2(t, mdir, 2, 21)
	dir := t.TempDir()
	if _, err := Scan(dir, alnumSource(t, mdir), Options{K: 6}); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(mod, "read-catalogue.js")
	if err := os.WriteFile(script, []byte(readerScript), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, script, dir).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("DuckDB: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	type column struct {
		Name string `json:"column_name"`
		Type string `json:"column_type"`
	}
	var got map[string]struct {
		Columns []column       `json:"columns"`
		Count   json.Number    `json:"count"`
		Agg     map[string]any `json:"agg"`
		Best    map[string]any `json:"best"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cat, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	pairs, _ := cat.Pairs(nil)
	toks, _ := cat.Tokens(nil)
	wantCols := map[string]string{
		"heads":   "layer:INTEGER head:INTEGER kv_head:INTEGER view:VARCHAR offset:INTEGER sigma1:DOUBLE effective_rank:DOUBLE copying_score:DOUBLE copy_fraction:DOUBLE prev_token_margin:DOUBLE prev_token_fraction:DOUBLE top_score:FLOAT bottom_score:FLOAT",
		"pairs":   "layer:INTEGER head:INTEGER view:VARCHAR offset:INTEGER side:VARCHAR rank:INTEGER source_id:INTEGER target_id:INTEGER source:VARCHAR target:VARCHAR source_text:VARCHAR target_text:VARCHAR score:FLOAT",
		"neurons": "layer:INTEGER neuron:INTEGER key_norm:DOUBLE up_norm:DOUBLE value_norm:DOUBLE cos_key_value:DOUBLE cos_up_value:DOUBLE value_mean:DOUBLE value_std:DOUBLE value_skew:DOUBLE value_kurtosis:DOUBLE",
		"tokens":  "layer:INTEGER neuron:INTEGER column:VARCHAR rank:INTEGER token_id:INTEGER token:VARCHAR text:VARCHAR score:FLOAT",
	}
	counts := map[string]int{"heads": len(cat.Heads), "pairs": len(pairs), "neurons": len(cat.Neurons), "tokens": len(toks)}
	for name, want := range wantCols {
		var cols []string
		for _, c := range got[name].Columns {
			cols = append(cols, c.Name+":"+c.Type)
		}
		if strings.Join(cols, " ") != want {
			t.Errorf("%s columns (DuckDB):\n got %s\nwant %s", name, strings.Join(cols, " "), want)
		}
		if n, _ := got[name].Count.Int64(); int(n) != counts[name] || n == 0 {
			t.Errorf("%s: DuckDB counts %v rows, lenskit wrote %d", name, got[name].Count, counts[name])
		}
	}
	num := func(v any) float64 {
		switch x := v.(type) {
		case float64:
			return x
		case string:
			var f float64
			json.Unmarshal([]byte(x), &f)
			return f
		}
		return math.NaN()
	}
	var sigma, kurt, score float64
	var copying, srcIDs, tokIDs int
	for _, h := range cat.Heads {
		sigma += h.Sigma1
		if h.CopyingScore != nil {
			copying++
		}
	}
	for _, n := range cat.Neurons {
		kurt += n.ValueKurtosis
	}
	best := pairs[0]
	for _, p := range pairs {
		score += float64(p.Score)
		srcIDs += int(p.SourceID)
		if p.View == "OV" && p.Side == "top" && (p.Score > best.Score || best.View != "OV" || best.Side != "top") {
			best = p
		}
	}
	cols := map[string]bool{}
	for _, r := range toks {
		tokIDs += int(r.TokenID)
		cols[r.Column] = true
	}
	close := func(what string, a, b float64) {
		if math.Abs(a-b) > 1e-9*math.Max(1, math.Abs(b)) {
			t.Errorf("%s: DuckDB %v, lenskit %v", what, a, b)
		}
	}
	close("sum(sigma1)", num(got["heads"].Agg["s"]), sigma)
	close("count(copying_score)", num(got["heads"].Agg["c"]), float64(copying))
	close("count(prev_token_margin)", num(got["heads"].Agg["p"]), float64(len(cat.Heads)/2))
	close("sum(pairs.score)", num(got["pairs"].Agg["s"]), score)
	close("sum(source_id)", num(got["pairs"].Agg["i"]), float64(srcIDs))
	close("sum(value_kurtosis)", num(got["neurons"].Agg["s"]), kurt)
	close("count(up_norm)", num(got["neurons"].Agg["u"]), 0)
	close("sum(token_id)", num(got["tokens"].Agg["i"]), float64(tokIDs))
	close("distinct columns", num(got["tokens"].Agg["c"]), float64(len(cols)))
	b := got["pairs"].Best
	if num(b["layer"]) != float64(best.Layer) || num(b["head"]) != float64(best.Head) || b["source_text"] != best.SourceText ||
		b["target"] != best.Target || float32(num(b["score"])) != best.Score {
		t.Errorf("best OV pair: DuckDB %v, lenskit %+v", b, best)
	}
	if !slices.Contains([]int{4}, len(cols)) {
		t.Errorf("token columns %v", cols)
	}
}
