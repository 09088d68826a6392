package vocab

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"lenskit.dev/lenskit/internal/untrusted"
)

// Building a token list tokenizes a whole corpus, so it runs on every core:
// the calling goroutine reads the input in chunks of whole records and hands
// them to one worker per core; each worker has its own encoder (with its own
// cache of encoded words) and its own counters, merged at the end. Progress
// is reported from the calling goroutine only, once per chunk.

const (
	corpusChunk    = 1 << 20  // bytes of records per batch
	maxRecordBytes = 32 << 20 // longest record (line) accepted
)

// batch is a run of consecutive records from one source.
type batch struct {
	src         string   // file name, for messages
	unit        string   // "line" or "row"
	data        []byte   // newline-separated records (text files), or
	recs        [][]byte // one record each (parquet)
	firstNo     int64    // line/row number of the first record, 1-based
	firstRecord int64    // global record number of the first record
	size        int64    // bytes, for progress
}

// counter is one worker's share of the counting.
type counter struct {
	v         *Vocab
	enc       *encoder
	docFreq   []int64 // records containing each id
	formFreq  []int64 // records containing each form id
	stampID   []int64 // last record counted for each id
	stampForm []int64 // last record counted for each form id
}

func newCounter(v *Vocab, nForms int) *counter {
	c := &counter{
		v:         v,
		enc:       newEncoder(v.m),
		docFreq:   make([]int64, v.Len()),
		formFreq:  make([]int64, nForms),
		stampID:   make([]int64, v.Len()),
		stampForm: make([]int64, nForms),
	}
	for i := range c.stampID {
		c.stampID[i] = -1
	}
	for i := range c.stampForm {
		c.stampForm[i] = -1
	}
	return c
}

// record counts the distinct tokens and forms of one record: document
// frequency, as the seed's Counter.update(set(tokenizer.tokenize(txt))).
func (c *counter) record(text string, recNo int64) error {
	e := c.enc
	e.out = e.out[:0]
	e.err = nil
	e.encode(text, 0)
	if e.err != nil {
		return e.err
	}
	for _, id := range e.out {
		if c.stampID[id] != recNo {
			c.stampID[id] = recNo
			c.docFreq[id]++
		}
		f := c.v.formID[id]
		if c.stampForm[f] != recNo {
			c.stampForm[f] = recNo
			c.formFreq[f]++
		}
	}
	if cap(e.out) > 1<<20 {
		e.out = nil
	}
	return nil
}

func (c *counter) batch(b *batch) error {
	rec := b.firstRecord
	no := b.firstNo
	do := func(r []byte) error {
		if err := c.record(string(r), rec); err != nil {
			return &FileError{File: b.src, Where: fmt.Sprintf("%s %d", b.unit, no), Err: err}
		}
		rec++
		no++
		return nil
	}
	if b.recs != nil {
		for _, r := range b.recs {
			if err := do(r); err != nil {
				return err
			}
		}
		return nil
	}
	data := b.data
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if err := do(bytes.TrimSuffix(line, []byte{'\r'})); err != nil {
			return err
		}
	}
	return nil
}

// pool runs the workers of one token-list build.
type pool struct {
	v        *Vocab
	work     chan *batch
	wg       sync.WaitGroup
	counters []*counter
	done     atomic.Int64 // bytes processed
	failed   atomic.Bool
	errMu    sync.Mutex
	err      error
	records  int64 // assigned by the producer
	progress func(done, total int64)
	total    int64

	quietSend  bool  // progress is reported by the producer, not by send
	doneChunks int64 // the producer's own progress count
}

func newPool(v *Vocab, progress func(done, total int64), total int64) *pool {
	n := runtime.GOMAXPROCS(0)
	p := &pool{v: v, work: make(chan *batch, n), progress: progress, total: total}
	nForms := 0
	for _, f := range v.formID {
		nForms = max(nForms, int(f)+1)
	}
	for i := 0; i < n; i++ {
		c := newCounter(v, nForms)
		p.counters = append(p.counters, c)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for b := range p.work {
				if p.failed.Load() {
					continue
				}
				if err := c.batch(b); err != nil {
					p.fail(err)
				}
				p.done.Add(b.size)
			}
		}()
	}
	return p
}

func (p *pool) fail(err error) {
	p.errMu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.errMu.Unlock()
	p.failed.Store(true)
}

// send hands a batch to the workers and reports progress.
func (p *pool) send(b *batch) {
	b.firstRecord = p.records
	p.work <- b
	if p.progress != nil && !p.quietSend {
		p.progress(min(p.done.Load(), p.total), p.total)
	}
}

// finish waits for the workers and builds the list.
func (p *pool) finish(name string, topN int) (*TokenList, error) {
	close(p.work)
	p.wg.Wait()
	if p.err != nil {
		return nil, p.err
	}
	if p.progress != nil {
		p.progress(p.total, p.total)
	}
	v := p.v
	docFreq := make([]int64, v.Len())
	formFreq := make([]int64, len(p.counters[0].formFreq))
	for _, c := range p.counters {
		for i, n := range c.docFreq {
			docFreq[i] += n
		}
		for i, n := range c.formFreq {
			formFreq[i] += n
		}
	}
	var seen []int
	for id, n := range docFreq {
		if n > 0 {
			seen = append(seen, id)
		}
	}
	if topN > 0 && len(seen) > topN {
		// The seed's Counter.most_common(N) over tokens; ties, which Python
		// leaves in hash order, go to the lower id here.
		slices.SortStableFunc(seen, func(a, b int) int { return cmp.Compare(docFreq[b], docFreq[a]) })
		seen = seen[:topN]
	}
	l := &TokenList{name: name, topN: topN, records: p.records, counts: make(map[string]int)}
	for _, id := range seen {
		l.counts[v.form[id]] = int(formFreq[v.formID[id]])
	}
	l.seal()
	return l, nil
}

// CorpusTokens builds the list of tokens seen in text files, one record per
// line (a trailing "\r" is dropped), as the seed builds its tokens_list: each
// record is tokenized, and a token counts once per record it occurs in.
// topN > 0 keeps the forms of the topN tokens of highest record count (ties
// to the lower id), 0 keeps all. The list's count for a form is the number of
// records containing any token of that form. Records longer than 32 MiB are
// an error naming file and line. progress, if not nil, is called from the
// calling goroutine with bytes processed and the total, about once per MiB
// and once at the end.
//
// Each path is a regular file or a directory; a directory stands for every
// regular file under it, at any depth, in lexical order, except files and
// directories whose names start with "." (.git, editor backups), and
// without following symbolic links to directories. Anything else — a FIFO,
// a socket, a device such as /dev/urandom, which would be read for ever —
// is refused before it is opened, with its path and type; and so is a file
// that is not text: a NUL byte, or more than 30% invalid UTF-8 or control
// characters, in its first 64 KiB (see CorpusFiles).
func CorpusTokens(v *Vocab, paths []string, topN int, progress func(done, total int64)) (*TokenList, error) {
	if v == nil {
		return nil, errors.New("vocab: CorpusTokens: nil vocabulary")
	}
	if len(paths) == 0 {
		return nil, errors.New("vocab: CorpusTokens: no corpus files")
	}
	if topN < 0 {
		return nil, fmt.Errorf("vocab: CorpusTokens: topN %d is negative", topN)
	}
	files, err := CorpusFiles(paths)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, f := range files {
		total += f.Size
	}
	names := make([]string, len(paths))
	for i, path := range paths {
		names[i] = filepath.Base(path)
	}
	p := newPool(v, progress, total)
	for _, f := range files {
		path := f.Path
		if err := p.readLines(path); err != nil {
			p.fail(err)
			break
		}
		if p.failed.Load() {
			break
		}
	}
	return p.finish(strings.Join(names, ","), topN)
}

// readLines splits one file into batches of whole lines. The file is opened
// only if it is (still) a regular file, and refused if its first block is
// not text.
func (p *pool) readLines(path string) error {
	f, err := untrusted.Open(path)
	if err != nil {
		return corpusOpenErr(path, err)
	}
	defer f.Close()
	first := true
	var carry []byte
	line := int64(1)
	buf := make([]byte, corpusChunk)
	for !p.failed.Load() {
		n, rerr := io.ReadFull(f, buf)
		if first {
			first = false
			if err := checkText(path, buf[:n]); err != nil {
				return err
			}
		}
		data := append(carry, buf[:n]...)
		carry = nil
		eof := rerr == io.EOF || rerr == io.ErrUnexpectedEOF
		if rerr != nil && !eof {
			return &FileError{File: path, Where: fmt.Sprintf("line %d", line), Err: rerr}
		}
		cut := len(data)
		if eof && len(data)-(bytes.LastIndexByte(data, '\n')+1) > maxRecordBytes {
			last := line + int64(bytes.Count(data, []byte{'\n'}))
			return fileErr(path, fmt.Sprintf("line %d", last), "line is longer than %d bytes", maxRecordBytes)
		}
		if !eof {
			cut = bytes.LastIndexByte(data, '\n') + 1
			if cut == 0 {
				if len(data) > maxRecordBytes {
					return fileErr(path, fmt.Sprintf("line %d", line), "line is longer than %d bytes", maxRecordBytes)
				}
				carry = data
				continue
			}
			carry = append([]byte(nil), data[cut:]...)
		}
		if cut > 0 {
			chunk := data[:cut]
			nl := int64(bytes.Count(chunk, []byte{'\n'}))
			if chunk[len(chunk)-1] != '\n' {
				nl++
			}
			p.send(&batch{src: path, unit: "line", data: chunk, firstNo: line, size: int64(cut)})
			line += nl
			p.records += nl
		}
		if eof {
			return nil
		}
	}
	return nil
}

// A CorpusFile is one text file of a corpus, as CorpusFiles lists them.
type CorpusFile struct {
	Path string
	Size int64
}

// CorpusFiles expands corpus paths into the regular files they stand for
// (see CorpusTokens): a regular file is itself, a directory every regular
// file under it in lexical order, skipping names that start with "." and
// symbolic links to directories. Anything else is an error naming the path
// and its type, found without opening it, and so is a directory holding no
// file.
func CorpusFiles(paths []string) ([]CorpusFile, error) {
	var out []CorpusFile
	for _, path := range paths {
		st, err := os.Stat(path)
		if err != nil {
			return nil, &FileError{File: path, Err: err}
		}
		if st.Mode().IsRegular() {
			out = append(out, CorpusFile{path, st.Size()})
			continue
		}
		if !st.IsDir() {
			return nil, notCorpus(path, st.Mode())
		}
		n := len(out)
		err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return &FileError{File: p, Err: err}
			}
			if p != path && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			st, err := os.Stat(p) // follows a link to a file
			if err != nil {
				return &FileError{File: p, Err: err}
			}
			switch {
			case st.Mode().IsRegular():
				out = append(out, CorpusFile{p, st.Size()})
			case st.IsDir(): // a link to a directory: not followed
			default:
				return notCorpus(p, st.Mode())
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(out) == n {
			return nil, fileErr(path, "", "directory holds no corpus file (files whose names start with \".\" are skipped)")
		}
	}
	return out, nil
}

func notCorpus(path string, mode fs.FileMode) error {
	return &FileError{File: path, Err: fmt.Errorf("%w: is a %s; a corpus is a text file or a directory of text files", untrusted.ErrNotRegular, untrusted.Kind(mode))}
}

// corpusOpenErr reports a corpus file that could not be opened.
func corpusOpenErr(path string, err error) error {
	var pe *fs.PathError
	if errors.Is(err, untrusted.ErrNotRegular) && errors.As(err, &pe) {
		return &FileError{File: path, Err: fmt.Errorf("%w; a corpus is a text file or a directory of text files", pe.Err)}
	}
	return &FileError{File: path, Err: err}
}

// ReadCorpusFile reads one corpus file (as CorpusFiles lists them) whole,
// for callers that need random access to its lines (a neuron's top
// contexts): a regular file only, at most limit bytes, refused as binary by
// the same test CorpusTokens applies.
func ReadCorpusFile(path string, limit int64) ([]byte, error) {
	f, err := untrusted.Open(path)
	if err != nil {
		return nil, corpusOpenErr(path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &FileError{File: path, Err: err}
	}
	if int64(len(data)) > limit {
		return nil, fileErr(path, "", "more than the %d bytes read at once", limit)
	}
	if err := checkText(path, data); err != nil {
		return nil, err
	}
	return data, nil
}

// ErrBinary is wrapped by the error for a corpus file that is not text.
var ErrBinary = errors.New("not a text file")

// textProbe is how much of a corpus file's start checkText looks at.
const textProbe = 64 << 10

// checkText refuses a corpus file whose first block is not text: one that
// holds a NUL byte (no text encoding lenskit reads has one; compressed and
// binary files nearly always do within 64 KiB), or of which more than 30%
// is invalid UTF-8 or control characters other than tab, newline, carriage
// return and form feed. A text file in a legacy 8-bit encoding (Polish in
// ISO-8859-2: a few letters in a hundred) passes, and is tokenized as its
// bytes are.
func checkText(path string, block []byte) error {
	block = block[:min(len(block), textProbe)]
	if i := bytes.IndexByte(block, 0); i >= 0 {
		return &FileError{File: path, Err: fmt.Errorf("%w: a NUL byte at offset %d; a corpus is UTF-8 text, one record per line (compressed or binary files must be converted first)", ErrBinary, i)}
	}
	bad := 0
	for i := 0; i < len(block); {
		r, n := utf8.DecodeRune(block[i:])
		if r == utf8.RuneError && n <= 1 {
			if len(block)-i < utf8.UTFMax && !utf8.FullRune(block[i:]) {
				break // a character cut by the end of the block
			}
			bad++
		} else if r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != '\f' || r == 0x7f {
			bad += n
		}
		i += n
	}
	if len(block) > 0 && bad*10 > 3*len(block) {
		return &FileError{File: path, Err: fmt.Errorf("%w: %d of the first %d bytes are invalid UTF-8 or control characters; a corpus is UTF-8 text, one record per line", ErrBinary, bad, len(block))}
	}
	return nil
}
