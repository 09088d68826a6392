package catalogue

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/parquet-go/parquet-go"

	"lenskit.dev/lenskit/internal/untrusted"
)

// HeadRow is one row of heads.parquet (see the package documentation for
// the columns).
type HeadRow struct {
	Layer             int32    `parquet:"layer"`
	Head              int32    `parquet:"head"`
	KVHead            int32    `parquet:"kv_head"`
	View              string   `parquet:"view,dict"`
	Offset            int32    `parquet:"offset"`
	Sigma1            float64  `parquet:"sigma1"`
	EffectiveRank     float64  `parquet:"effective_rank"`
	CopyingScore      *float64 `parquet:"copying_score,optional"`
	CopyFraction      *float64 `parquet:"copy_fraction,optional"`
	PrevTokenMargin   *float64 `parquet:"prev_token_margin,optional"`
	PrevTokenFraction *float64 `parquet:"prev_token_fraction,optional"`
	TopScore          float32  `parquet:"top_score"`
	BottomScore       float32  `parquet:"bottom_score"`
}

// PairRow is one row of pairs.parquet.
type PairRow struct {
	Layer      int32   `parquet:"layer"`
	Head       int32   `parquet:"head"`
	View       string  `parquet:"view,dict"`
	Offset     int32   `parquet:"offset"`
	Side       string  `parquet:"side,dict"`
	Rank       int32   `parquet:"rank"`
	SourceID   int32   `parquet:"source_id"`
	TargetID   int32   `parquet:"target_id"`
	Source     string  `parquet:"source,dict"`
	Target     string  `parquet:"target,dict"`
	SourceText string  `parquet:"source_text,dict"`
	TargetText string  `parquet:"target_text,dict"`
	Score      float32 `parquet:"score"`
}

// NeuronRow is one row of neurons.parquet.
type NeuronRow struct {
	Layer         int32    `parquet:"layer"`
	Neuron        int32    `parquet:"neuron"`
	KeyNorm       float64  `parquet:"key_norm"`
	UpNorm        *float64 `parquet:"up_norm,optional"`
	ValueNorm     float64  `parquet:"value_norm"`
	CosKeyValue   float64  `parquet:"cos_key_value"`
	CosUpValue    *float64 `parquet:"cos_up_value,optional"`
	ValueMean     float64  `parquet:"value_mean"`
	ValueStd      float64  `parquet:"value_std"`
	ValueSkew     float64  `parquet:"value_skew"`
	ValueKurtosis float64  `parquet:"value_kurtosis"`
}

// TokenRow is one row of tokens.parquet.
type TokenRow struct {
	Layer   int32   `parquet:"layer"`
	Neuron  int32   `parquet:"neuron"`
	Column  string  `parquet:"column,dict"`
	Rank    int32   `parquet:"rank"`
	TokenID int32   `parquet:"token_id"`
	Token   string  `parquet:"token,dict"`
	Text    string  `parquet:"text,dict"`
	Score   float32 `parquet:"score"`
}

// The four tables, by file name.
const (
	HeadsTable   = "heads.parquet"
	PairsTable   = "pairs.parquet"
	NeuronsTable = "neurons.parquet"
	TokensTable  = "tokens.parquet"
)

// Tables lists the table files in the order parts and manifests list them.
var Tables = []string{HeadsTable, PairsTable, NeuronsTable, TokensTable}

// writerOptions are fixed, so that the same rows always give the same
// bytes, whichever binary writes them: created_by names the catalogue
// schema, not the build.
func writerOptions() []parquet.WriterOption {
	return []parquet.WriterOption{
		parquet.CreatedBy("lenskit", Schema, "catalogue"),
		parquet.Compression(&parquet.Zstd),
		parquet.PageBufferSize(1 << 20),
	}
}

// tableWriter streams row groups of one table to a file.
type tableWriter[T any] struct {
	f    *os.File
	w    *parquet.GenericWriter[T]
	rows int64
}

func newTableWriter[T any](path string) (*tableWriter[T], error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return &tableWriter[T]{f: f, w: parquet.NewGenericWriter[T](f, writerOptions()...)}, nil
}

// group writes rows as one row group (an empty slice writes nothing).
func (t *tableWriter[T]) group(rows []T) error {
	if len(rows) == 0 {
		return nil
	}
	if _, err := t.w.Write(rows); err != nil {
		return err
	}
	t.rows += int64(len(rows))
	return t.w.Flush()
}

// close finishes the file and syncs it to disk.
func (t *tableWriter[T]) close() error {
	err := t.w.Close()
	if err == nil {
		err = t.f.Sync()
	}
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeTable writes rows as a one-row-group table.
func writeTable[T any](path string, rows []T) (int64, error) {
	t, err := newTableWriter[T](path)
	if err != nil {
		return 0, err
	}
	if err := t.group(rows); err != nil {
		t.close()
		return 0, err
	}
	return t.rows, t.close()
}

// Limits on the tables a catalogue reads back: they may come from a shared
// directory anyone could have written.
const (
	maxTableBytes  = 64 << 30
	maxFooterBytes = 64 << 20
	maxRowsRead    = 1 << 31
)

// readTable reads a whole table into rows.
func readTable[T any](path string) ([]T, error) {
	var rows []T
	err := scanTable(path, func(batch []T) { rows = append(rows, batch...) })
	return rows, err
}

// scanTable reads a table in batches, handing each to f (which must not
// keep the slice). The file's footer size is checked before the Parquet
// reader sees it, and the reader runs behind a recover, so a corrupt file
// is an error naming it, never a crash.
func scanTable[T any](path string, f func([]T)) (err error) {
	file, err := untrusted.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if size > maxTableBytes {
		return fmt.Errorf("%s: %d bytes, more than a catalogue table may hold (%d)", path, size, int64(maxTableBytes))
	}
	if err := checkFooter(file, size); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: corrupt Parquet file (%v)", path, r)
		}
	}()
	pf, err := parquet.OpenFile(file, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if n := pf.NumRows(); n < 0 || n > maxRowsRead {
		return fmt.Errorf("%s: %d rows, more than a catalogue table may hold", path, n)
	}
	r := parquet.NewGenericReader[T](pf)
	defer r.Close()
	buf := make([]T, 4096)
	var read int64
	for {
		n, err := r.Read(buf)
		read += int64(n)
		f(buf[:n])
		clear(buf[:n])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	if read != pf.NumRows() {
		return fmt.Errorf("%s: read %d rows, the footer says %d", path, read, pf.NumRows())
	}
	return nil
}

// checkFooter checks the Parquet magic at both ends and that the footer
// length fits the file and a fixed limit.
func checkFooter(f *os.File, size int64) error {
	if size < 12 {
		return fmt.Errorf("not a Parquet file: %d bytes", size)
	}
	var head, tail [8]byte
	if _, err := f.ReadAt(head[:4], 0); err != nil {
		return err
	}
	if _, err := f.ReadAt(tail[:], size-8); err != nil {
		return err
	}
	if string(head[:4]) != "PAR1" || string(tail[4:]) != "PAR1" {
		return errors.New("not a Parquet file (no PAR1 magic)")
	}
	n := int64(uint32(tail[0]) | uint32(tail[1])<<8 | uint32(tail[2])<<16 | uint32(tail[3])<<24)
	if n > size-12 || n > maxFooterBytes {
		return fmt.Errorf("corrupt Parquet footer: length %d in a file of %d bytes", n, size)
	}
	return nil
}
