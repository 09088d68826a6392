package vocab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"lenskit.dev/lenskit/internal/untrusted"
)

// Limits for parquet input, checked against the file's own metadata before
// the parquet reader allocates anything for it.
const (
	maxParquetFooter = 64 << 20
	maxParquetChunk  = 2 << 30 // uncompressed bytes of one column chunk
	maxParquetHeader = 1 << 20 // one page header
)

// ParquetTokens is CorpusTokens for one column of a Hugging Face dataset
// file in parquet format (a local path, e.g. a file from the hub cache):
// every row is a record, null values count as empty records. The column must
// hold strings (parquet BYTE_ARRAY) and must not be repeated; a missing
// column is reported with the columns the file has. progress is called with
// the column's compressed bytes done and total, once per row group and once
// at the end.
//
// The file's footer and column sizes are checked against its length and
// fixed limits before it is decoded, and the decoder (parquet-go) is run
// behind a recover, so a corrupt file is an error naming it, never a crash.
func ParquetTokens(v *Vocab, path string, column string, topN int, progress func(done, total int64)) (*TokenList, error) {
	if v == nil {
		return nil, errors.New("vocab: ParquetTokens: nil vocabulary")
	}
	if topN < 0 {
		return nil, fmt.Errorf("vocab: ParquetTokens: topN %d is negative", topN)
	}
	f, err := untrusted.Open(path) // a regular file, checked without blocking
	if err != nil {
		return nil, corpusOpenErr(path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &FileError{File: path, Err: err}
	}
	size := st.Size()
	if err := checkParquetFooter(f, size); err != nil {
		return nil, &FileError{File: path, Err: err}
	}
	var pf *parquet.File
	if err := safely(func() error {
		var err error
		pf, err = parquet.OpenFile(f, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
		return err
	}); err != nil {
		return nil, &FileError{File: path, Err: err}
	}
	leaf, ok := pf.Schema().Lookup(strings.Split(column, ".")...)
	if !ok {
		var cols []string
		for _, c := range pf.Schema().Columns() {
			cols = append(cols, strings.Join(c, "."))
		}
		return nil, fileErr(path, "column "+column, "no such column (the file has: %s)", strings.Join(cols, ", "))
	}
	if k := leaf.Node.Type().Kind(); k != parquet.ByteArray {
		return nil, fileErr(path, "column "+column, "holds %v values, not strings", k)
	}
	if leaf.MaxRepetitionLevel > 0 {
		return nil, fileErr(path, "column "+column, "is a repeated (list) column; name a plain string column")
	}
	var total int64
	meta := pf.Metadata()
	for g, rg := range meta.RowGroups {
		if leaf.ColumnIndex >= len(rg.Columns) {
			return nil, fileErr(path, fmt.Sprintf("row group %d", g), "has no column chunk %d", leaf.ColumnIndex)
		}
		md := rg.Columns[leaf.ColumnIndex].MetaData
		if md.TotalCompressedSize < 0 || md.TotalCompressedSize > size {
			return nil, fileErr(path, fmt.Sprintf("row group %d, column %s", g, column), "compressed size %d does not fit in the %d-byte file", md.TotalCompressedSize, size)
		}
		if md.TotalUncompressedSize < 0 || md.TotalUncompressedSize > maxParquetChunk {
			return nil, fileErr(path, fmt.Sprintf("row group %d, column %s", g, column), "uncompressed size %d is over the %d-byte limit", md.TotalUncompressedSize, int64(maxParquetChunk))
		}
		if err := checkParquetPages(f, size, &md); err != nil {
			return nil, fileErr(path, fmt.Sprintf("row group %d, column %s", g, column), "%v", err)
		}
		total += md.TotalCompressedSize
	}
	p := newPool(v, progress, total)
	p.quietSend = true
	base := filepath.Base(path)
	err = safely(func() error { return p.readParquet(pf, path, leaf.ColumnIndex, column) })
	if err != nil {
		var fe *FileError
		if !errors.As(err, &fe) {
			err = &FileError{File: path, Where: "column " + column, Err: err}
		}
		p.fail(err)
	}
	return p.finish(base+":"+column, topN)
}

// checkParquetFooter validates the trailer (footer length and magic) before
// parquet-go allocates a buffer of the length it claims.
func checkParquetFooter(r io.ReaderAt, size int64) error {
	if size < 12 {
		return fmt.Errorf("%d bytes is too short for a parquet file", size)
	}
	var tail [8]byte
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return err
	}
	if string(tail[4:]) != "PAR1" {
		return errors.New("not a parquet file (no PAR1 magic at the end)")
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	if n > size-12 {
		return fmt.Errorf("footer length %d does not fit in the %d-byte file", n, size)
	}
	if n > maxParquetFooter {
		return fmt.Errorf("footer length %d is over the %d-byte limit", n, maxParquetFooter)
	}
	return nil
}

// checkParquetPages walks the page headers of one column chunk and checks
// that every page's sizes fit in the chunk, before parquet-go allocates the
// buffers those headers ask for. Headers are decoded from a bounded window,
// so a lying length inside a header cannot allocate either.
func checkParquetPages(r io.ReaderAt, size int64, md *format.ColumnMetaData) error {
	start := md.DataPageOffset
	if md.DictionaryPageOffset > 0 && md.DictionaryPageOffset < start {
		start = md.DictionaryPageOffset
	}
	end := start + md.TotalCompressedSize
	if start < 4 || end > size || end < start {
		return fmt.Errorf("column chunk [%d, %d) does not fit in the %d-byte file", start, end, size)
	}
	proto := &thrift.CompactProtocol{}
	buf := make([]byte, 64<<10)
	for pos := start; pos < end; {
		var h format.PageHeader
		var hl int64
		for win := int64(64 << 10); ; win = maxParquetHeader {
			n := min(win, end-pos)
			if int64(len(buf)) < n {
				buf = make([]byte, n)
			}
			if _, err := r.ReadAt(buf[:n], pos); err != nil {
				return fmt.Errorf("page header at offset %d: %v", pos, err)
			}
			h = format.PageHeader{}
			pr := proto.NewReaderFromBytes(buf[:n])
			err := thrift.NewDecoder(pr).Decode(&h)
			if err == nil {
				hl = int64(pr.BytesRead())
				break
			}
			if win == maxParquetHeader || n == end-pos {
				return fmt.Errorf("page header at offset %d: %v", pos, err)
			}
		}
		if h.CompressedPageSize < 0 || int64(h.CompressedPageSize) > end-pos-hl {
			return fmt.Errorf("page at offset %d: compressed size %d does not fit in its column chunk", pos, h.CompressedPageSize)
		}
		if h.UncompressedPageSize < 0 || int64(h.UncompressedPageSize) > md.TotalUncompressedSize {
			return fmt.Errorf("page at offset %d: uncompressed size %d is more than its column chunk's %d", pos, h.UncompressedPageSize, md.TotalUncompressedSize)
		}
		pos += hl + int64(h.CompressedPageSize)
	}
	return nil
}

// safely runs fn, turning a panic in the parquet decoder into an error.
func safely(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed parquet file (decoder failed: %v)", r)
		}
	}()
	return fn()
}

func (p *pool) readParquet(pf *parquet.File, path string, col int, column string) error {
	row := int64(1)
	var cur *batch
	flush := func() {
		if cur != nil && len(cur.recs) > 0 {
			p.send(cur)
			p.records += int64(len(cur.recs))
		}
		cur = nil
	}
	values := make([]parquet.Value, 256)
	meta := pf.Metadata()
	for g, rg := range pf.RowGroups() {
		where := fmt.Sprintf("row group %d, column %s", g, column)
		pages := rg.ColumnChunks()[col].Pages()
		for !p.failed.Load() {
			page, err := pages.ReadPage()
			if err == io.EOF {
				break
			}
			if err != nil {
				pages.Close()
				return fileErr(path, where, "%v", err)
			}
			vr := page.Values()
			for {
				n, err := vr.ReadValues(values)
				for _, val := range values[:n] {
					if cur == nil {
						cur = &batch{src: path, unit: "row", firstNo: row, recs: make([][]byte, 0, 256)}
					}
					var rec []byte
					if !val.IsNull() {
						rec = append([]byte(nil), val.ByteArray()...)
					} else {
						rec = []byte{}
					}
					cur.recs = append(cur.recs, rec)
					cur.size += int64(len(rec))
					row++
					if cur.size >= corpusChunk {
						flush()
					}
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					pages.Close()
					return fileErr(path, fmt.Sprintf("%s, row %d", where, row), "%v", err)
				}
				if n == 0 {
					break
				}
			}
			parquet.Release(page)
		}
		pages.Close()
		flush()
		// Parquet progress counts column-chunk bytes, not text bytes.
		p.doneChunks += meta.RowGroups[g].Columns[col].MetaData.TotalCompressedSize
		if p.progress != nil {
			p.progress(min(p.doneChunks, p.total), p.total)
		}
	}
	flush()
	return nil
}
