package vocab

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// bruteCounts is the seed's algorithm written as plainly as possible: each
// record on its own, the set of its tokens counted once.
func bruteCounts(t testing.TB, v *Vocab, records []string) (docFreq []int, formFreq map[string]int) {
	t.Helper()
	docFreq = make([]int, v.Len())
	formFreq = map[string]int{}
	seen := map[int]bool{}
	forms := map[string]bool{}
	for _, r := range records {
		ids, err := v.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		clear(seen)
		clear(forms)
		for _, id := range ids {
			seen[id] = true
			forms[v.Form(id)] = true
		}
		for id := range seen {
			docFreq[id]++
		}
		for f := range forms {
			formFreq[f]++
		}
	}
	return docFreq, formFreq
}

// bruteTop keeps the forms of the topN ids of highest count (ties to the
// lower id), 0 for all.
func bruteTop(v *Vocab, docFreq []int, formFreq map[string]int, topN int) map[string]int {
	var ids []int
	for id, n := range docFreq {
		if n > 0 {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b int) int {
		if c := cmp.Compare(docFreq[b], docFreq[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	if topN > 0 && len(ids) > topN {
		ids = ids[:topN]
	}
	out := map[string]int{}
	for _, id := range ids {
		out[v.Form(id)] = formFreq[v.Form(id)]
	}
	return out
}

func bruteList(t testing.TB, v *Vocab, records []string, topN int) map[string]int {
	df, ff := bruteCounts(t, v, records)
	return bruteTop(v, df, ff, topN)
}

func listCounts(l *TokenList) map[string]int {
	out := map[string]int{}
	for _, f := range l.Forms() {
		out[f] = l.Count(f)
	}
	return out
}

func corpusLines(t testing.TB) []string {
	data, err := os.ReadFile(corpusPath(t))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i := range lines {
		lines[i] = strings.TrimSuffix(lines[i], "\r")
	}
	return lines
}

func TestCorpusTokensPL(t *testing.T) {
	v := tiny(t)
	path := corpusPath(t)
	st, _ := os.Stat(path)
	var calls [][2]int64
	all, err := CorpusTokens(v, []string{path}, 0, func(done, total int64) { calls = append(calls, [2]int64{done, total}) })
	if err != nil {
		t.Fatal(err)
	}
	if all.Records() != 147967 || all.String() != "list(pl.txt)" || all.TopN() != 0 {
		t.Errorf("records %d, String %q", all.Records(), all.String())
	}
	// Frequent Polish words are present, with plausible record counts.
	for _, w := range []string{"się", "nie", "jest", "w", "na", "do", "że", "które", "można", "plik"} {
		if !all.Contains(w) || all.Count(w) < 100 {
			t.Errorf("%q: contains %v, count %d", w, all.Contains(w), all.Count(w))
		}
	}
	if !all.Contains(" Się") {
		t.Error("Contains does not normalize its argument")
	}
	// Progress: monotone, ends at the file size, called more than once.
	if len(calls) < 3 || calls[len(calls)-1] != [2]int64{st.Size(), st.Size()} {
		t.Errorf("progress calls %v", calls)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i][0] < calls[i-1][0] || calls[i][1] != st.Size() {
			t.Fatalf("progress not monotone: %v", calls)
		}
	}
	top, err := CorpusTokens(v, []string{path}, 500, nil)
	if err != nil {
		t.Fatal(err)
	}
	if top.String() != "list(pl.txt,top=500)" || top.Len() > 500 || top.Len() < 300 {
		t.Errorf("%s: %d forms", top, top.Len())
	}
	for _, f := range top.Forms() {
		if !all.Contains(f) || all.Count(f) != top.Count(f) {
			t.Fatalf("top form %q not in the full list with the same count", f)
		}
	}
	if testing.Short() {
		return
	}
	// Exactly what the plain sequential algorithm gives.
	df, ff := bruteCounts(t, v, corpusLines(t))
	for _, n := range []int{0, 500} {
		want := bruteTop(v, df, ff, n)
		got := listCounts(map[int]*TokenList{0: all, 500: top}[n])
		if len(got) != len(want) {
			t.Errorf("top %d: %d forms, brute force %d", n, len(got), len(want))
		}
		for f, c := range want {
			if got[f] != c {
				t.Errorf("top %d: %q count %d, brute force %d", n, f, got[f], c)
				break
			}
		}
	}
}

func writeFile(t testing.TB, name, data string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCorpusTokensSmall(t *testing.T) {
	v := tiny(t)
	a := writeFile(t, "a.txt", "Ala ma kota.\r\nKot ma Alę\n\nkot")
	b := writeFile(t, "b.txt", "ma")
	l, err := CorpusTokens(v, []string{a, b}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := bruteList(t, v, []string{"Ala ma kota.", "Kot ma Alę", "", "kot", "ma"}, 0)
	if !maps_equal(listCounts(l), want) || l.Records() != 5 || l.Name() != "a.txt,b.txt" {
		t.Errorf("list %v (%d records, %q), want %v", listCounts(l), l.Records(), l.Name(), want)
	}
	if l.Contains("") {
		t.Error("a \\r or an empty line produced a token")
	}
}

func maps_equal(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestCorpusTokensErrors(t *testing.T) {
	v := tiny(t)
	dir := t.TempDir()
	m := newMini()
	m.entries[int('z')].token = "zq"
	noZ := mustLoad(t, m.fastFS())
	long := writeFile(t, "long.txt", "ok\n"+strings.Repeat("x", maxRecordBytes+10))
	for _, tc := range []struct {
		name  string
		v     *Vocab
		paths []string
		topN  int
		want  string
	}{
		{"nil vocabulary", nil, []string{"x"}, 0, "nil vocabulary"},
		{"no files", v, nil, 0, "no corpus files"},
		{"negative topN", v, []string{"x"}, -1, "negative"},
		{"missing file", v, []string{filepath.Join(dir, "nope.txt")}, 0, "nope.txt"},
		{"empty directory", v, []string{dir}, 0, "directory holds no corpus file"},
		{"record too long", v, []string{long}, 0, "long.txt: line 2: line is longer than"},
		{"byte without a token", noZ, []string{writeFile(t, "z.txt", "abc\nxyz\n")}, 0, "z.txt: line 2: vocab: byte 0x7A at offset 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CorpusTokens(tc.v, tc.paths, tc.topN, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestTokenListSaveLoad(t *testing.T) {
	l := NewTokenList("my \"list\"", map[string]int{"Się": 5, " się": 2, "dom": 3, "tab\there": 1, "\u00a0x": 1, "": 4})
	l.topN, l.records = 10, 42
	var buf bytes.Buffer
	if err := l.Save(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := LoadTokenList(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != l.String() || got.Records() != 42 || !maps_equal(listCounts(got), listCounts(l)) || got.fingerprint != l.fingerprint {
		t.Errorf("round trip: %s %v, want %s %v", got, listCounts(got), l, listCounts(l))
	}
	if l.Count("się") != 7 || l.Forms()[0] != "się" {
		t.Errorf("normalized counts: %v", listCounts(l))
	}
}

func TestLoadTokenListErrors(t *testing.T) {
	h := tokenListHeader + "\nname \"x\"\ntop 0\nrecords 1\n"
	for _, tc := range []struct{ in, want string }{
		{"", "truncated header"},
		{"hello\n", "line 1: not a lenskit token list"},
		{tokenListHeader + "\nnam \"x\"\n", "line 2: want \"name\" field"},
		{tokenListHeader + "\nname x\n", "line 2: bad name"},
		{tokenListHeader + "\nname \"x\"\ntop -3\n", "line 3: bad top"},
		{tokenListHeader + "\nname \"x\"\ntop 1\nrecords z\n", "line 4: bad records"},
		{h + "5 \"dom\"\n", "line 5: want count<TAB>"},
		{h + "-1\t\"dom\"\n", "line 5: count \"-1\""},
		{h + "1\tdom\n", "line 5: form \"dom\" is not a quoted string"},
		{h + "1\t\"Dom\"\n", "line 5: form \"Dom\" is not normalized"},
		{h + "1\t\"dom\"\n2\t\"dom\"\n", "line 6: form \"dom\" appears twice"},
		{h + "1\t\"" + strings.Repeat("x", maxListLine) + "\"\n", "line 5: longer than"},
	} {
		_, err := LoadTokenList(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadTokenList(%.40q): %v, want %q", tc.in, err, tc.want)
		}
	}
}

type parquetRow struct {
	ID   int64   `parquet:"id"`
	Text *string `parquet:"text,optional"`
}

func TestParquetTokens(t *testing.T) {
	v := tiny(t)
	lines := corpusLines(t)[:3000]
	rows := make([]parquetRow, len(lines)+1)
	for i := range lines {
		rows[i] = parquetRow{ID: int64(i), Text: &lines[i]}
	}
	rows[len(lines)] = parquetRow{ID: -1} // a null text
	path := filepath.Join(t.TempDir(), "train.parquet")
	if err := parquet.WriteFile(path, rows, parquet.MaxRowsPerRowGroup(700)); err != nil {
		t.Fatal(err)
	}
	var calls [][2]int64
	for _, topN := range []int{0, 300} {
		l, err := ParquetTokens(v, path, "text", topN, func(d, tot int64) { calls = append(calls, [2]int64{d, tot}) })
		if err != nil {
			t.Fatal(err)
		}
		want := bruteList(t, v, append(slices.Clone(lines), ""), topN)
		if !maps_equal(listCounts(l), want) || l.Records() != int64(len(rows)) {
			t.Errorf("top %d: %d forms, %d records; want %d forms", topN, l.Len(), l.Records(), len(want))
		}
		if wantName := map[int]string{0: "list(train.parquet:text)", 300: "list(train.parquet:text,top=300)"}[topN]; l.String() != wantName {
			t.Errorf("String %q", l.String())
		}
	}
	if len(calls) < 5 || calls[len(calls)-1][0] != calls[len(calls)-1][1] {
		t.Errorf("progress calls %v", calls)
	}

	data, _ := os.ReadFile(path)
	trunc := writeFile(t, "trunc.parquet", string(data[:len(data)-100]))
	badFooter := append(slices.Clone(data[:len(data)-8]), 0xff, 0xff, 0xff, 0x7f, 'P', 'A', 'R', '1')
	bigFooter := writeFile(t, "bigfooter.parquet", string(badFooter))
	// A footer that fits but holds garbage metadata.
	garbage := slices.Clone(data)
	copy(garbage[len(garbage)-60:len(garbage)-8], bytes.Repeat([]byte{0xee}, 52))
	garbled := writeFile(t, "garbled.parquet", string(garbage))
	lyingData, lyingAt := lyingPageHeader(t, data)
	lying := writeFile(t, "lying.parquet", string(lyingData))
	for _, tc := range []struct{ path, column, want string }{
		{lying, "text", fmt.Sprintf("row group 0, column text: page at offset %d: compressed size 1073741824 does not fit in its column chunk", lyingAt)},
		{path, "texts", "column texts: no such column (the file has: id, text)"},
		{path, "id", "column id: holds INT64 values, not strings"},
		{filepath.Join(t.TempDir(), "none.parquet"), "text", "none.parquet"},
		{writeFile(t, "x.parquet", "not parquet at all"), "text", "no PAR1 magic"},
		{writeFile(t, "tiny.parquet", "PAR1"), "text", "too short"},
		{trunc, "text", "trunc.parquet"},
		{bigFooter, "text", "does not fit in the"},
		{garbled, "text", "garbled.parquet"},
	} {
		_, err := ParquetTokens(v, tc.path, tc.column, 0, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParquetTokens(%s, %s): %v, want %q", filepath.Base(tc.path), tc.column, err, tc.want)
		}
		var fe *FileError
		if err != nil && !errors.As(err, &fe) {
			t.Errorf("%v is not a *FileError", err)
		}
	}
	if _, err := ParquetTokens(nil, path, "text", 0, nil); err == nil {
		t.Error("nil vocabulary accepted")
	}
	if _, err := ParquetTokens(v, path, "text", -2, nil); err == nil {
		t.Error("negative topN accepted")
	}
}

// lyingPageHeader rewrites the first page header of the file's text column
// to claim a 1 GiB page, which parquet-go would allocate before reading.
func lyingPageHeader(t *testing.T, data []byte) ([]byte, int64) {
	t.Helper()
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := pf.Schema().Lookup("text")
	md := pf.Metadata().RowGroups[0].Columns[leaf.ColumnIndex].MetaData
	start := md.DataPageOffset
	if md.DictionaryPageOffset > 0 && md.DictionaryPageOffset < start {
		start = md.DictionaryPageOffset
	}
	proto := &thrift.CompactProtocol{}
	pr := proto.NewReaderFromBytes(data[start:])
	var h format.PageHeader
	if err := thrift.NewDecoder(pr).Decode(&h); err != nil {
		t.Fatal(err)
	}
	hl := pr.BytesRead()
	h.CompressedPageSize = 1 << 30
	nh, err := thrift.Marshal(proto, &h)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	out.Write(data[:start])
	out.Write(nh)
	io.Copy(&out, bytes.NewReader(data[start+int64(hl):]))
	return out.Bytes(), start
}

func TestTokenListWriteFile(t *testing.T) {
	l := NewTokenList("x.txt", map[string]int{"dom": 3, "kot": 1})
	path := filepath.Join(t.TempDir(), "sub", "x.tokens")
	if err := l.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	back, err := LoadTokenList(f)
	if err != nil || !slices.Equal(back.Forms(), l.Forms()) {
		t.Fatalf("read back %v, %v", back, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st.Mode())
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".tokens-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
