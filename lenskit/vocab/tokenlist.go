package vocab

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"lenskit.dev/lenskit/internal/untrusted"
)

// A TokenList is a set of token forms, usually the tokens seen in a corpus,
// with how many records (lines, dataset rows) each form occurred in. Filters
// use it through InList to restrict projections to tokens that matter for a
// language or domain, as the seed notebook does with its token list.
//
// Forms are compared case-folded without the space marker: the seed's
// x.strip('Ġ▁').lower(), which lenskit computes on decoded text as
// NormalizeForm(Text(id)) (see Vocab.Form). A TokenList is immutable.
type TokenList struct {
	name        string
	topN        int
	records     int64
	counts      map[string]int
	fingerprint string
}

// NewTokenList makes a list from forms and their counts, for lists built by
// other means (a researcher's word list). Forms are normalized with
// NormalizeForm; counts of forms that normalize alike are added.
func NewTokenList(name string, counts map[string]int) *TokenList {
	l := &TokenList{name: name, counts: make(map[string]int, len(counts))}
	for f, c := range counts {
		l.counts[NormalizeForm(f)] += c
	}
	l.seal()
	return l
}

// seal computes the fingerprint that distinguishes lists in Select's cache.
func (l *TokenList) seal() {
	forms := l.Forms()
	slices.Sort(forms)
	h := fnv.New64a()
	for _, f := range forms {
		io.WriteString(h, f)
		h.Write([]byte{0})
	}
	l.fingerprint = strconv.FormatUint(h.Sum64(), 16)
}

// Name describes the list's source: file base names, or a parquet file and
// column ("train.parquet:text").
func (l *TokenList) Name() string { return l.name }

// TopN is the number of most frequent tokens the list was cut to, 0 for all
// tokens seen.
func (l *TokenList) TopN() int { return l.topN }

// Records is the number of records (lines or rows) the list was built from.
func (l *TokenList) Records() int64 { return l.records }

// Len is the number of distinct forms.
func (l *TokenList) Len() int { return len(l.counts) }

// Contains reports whether the list holds form (normalized first, so
// Contains(" Dom") is Contains("dom")).
func (l *TokenList) Contains(form string) bool {
	return l.containsNormalized(NormalizeForm(form))
}

func (l *TokenList) containsNormalized(form string) bool {
	_, ok := l.counts[form]
	return ok
}

// Count returns the number of records form occurred in (0 if absent).
func (l *TokenList) Count(form string) int { return l.counts[NormalizeForm(form)] }

// Forms returns the forms, most frequent first, ties in byte order.
func (l *TokenList) Forms() []string {
	out := make([]string, 0, len(l.counts))
	for f := range l.counts {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b string) int {
		if c := cmp.Compare(l.counts[b], l.counts[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return out
}

// String is the list's description for findings: "list(pl.txt,top=5000)",
// or "list(pl.txt)" for all tokens seen.
func (l *TokenList) String() string {
	if l.topN > 0 {
		return fmt.Sprintf("list(%s,top=%d)", l.name, l.topN)
	}
	return fmt.Sprintf("list(%s)", l.name)
}

const tokenListHeader = "# lenskit token list v1"

// Save writes the list in a small text format, so that a list built once
// from a large corpus can be shipped or cached:
//
//	# lenskit token list v1
//	name "pl.txt"
//	top 5000
//	records 147967
//	17704	"się"
//	...
//
// one form per line, count and Go-quoted form separated by a tab, most
// frequent first.
func (l *TokenList) Save(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%s\nname %s\ntop %d\nrecords %d\n", tokenListHeader, strconv.Quote(l.name), l.topN, l.records)
	for _, f := range l.Forms() {
		fmt.Fprintf(bw, "%d\t%s\n", l.counts[f], strconv.Quote(f))
	}
	return bw.Flush()
}

// WriteFile saves the list to path atomically (a temporary file in the same
// directory, then a rename), creating the directory if needed, so that a
// reader — or a cache lookup — never sees half a list.
func (l *TokenList) WriteFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tokens-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	if err := l.Save(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// ReadTokenListFile reads a list written by Save (or WriteFile) from path,
// which must be a regular file: the type is checked without blocking, so a
// FIFO named as a token list is refused at once, naming its type. Errors
// name the file.
func ReadTokenListFile(path string) (*TokenList, error) {
	f, err := untrusted.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &FileError{File: path, Err: err}
	}
	defer f.Close()
	l, err := LoadTokenList(f)
	if err != nil {
		return nil, &FileError{File: path, Err: errors.New(strings.TrimPrefix(err.Error(), "vocab: "))}
	}
	return l, nil
}

// Limits for LoadTokenList, checked as it reads.
const (
	maxListLine    = 1 << 20
	maxListEntries = 1 << 22
)

// LoadTokenList reads a list written by Save. Malformed input is reported
// with its line number: a missing or wrong header, a count that is not a
// non-negative integer, a form that is not a quoted string, a form that is
// not normalized or appears twice, lines over 1 MiB, more than 4 Mi forms.
func LoadTokenList(r io.Reader) (*TokenList, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxListLine)
	l := &TokenList{counts: make(map[string]int)}
	line := 0
	fail := func(format string, args ...any) error {
		return fmt.Errorf("vocab: token list: line %d: %s", line, fmt.Sprintf(format, args...))
	}
	header := []string{"", "name", "top", "records"}
	for sc.Scan() {
		line++
		text := sc.Text()
		if line <= len(header) {
			if line == 1 {
				if text != tokenListHeader {
					return nil, fail("not a lenskit token list (want %q)", tokenListHeader)
				}
				continue
			}
			key, val, ok := strings.Cut(text, " ")
			if !ok || key != header[line-1] {
				return nil, fail("want %q field", header[line-1])
			}
			var err error
			switch key {
			case "name":
				l.name, err = strconv.Unquote(val)
			case "top":
				l.topN, err = strconv.Atoi(val)
				if err == nil && l.topN < 0 {
					err = errors.New("negative")
				}
			case "records":
				l.records, err = strconv.ParseInt(val, 10, 64)
				if err == nil && l.records < 0 {
					err = errors.New("negative")
				}
			}
			if err != nil {
				return nil, fail("bad %s %s: %v", key, untrusted.Quote(val), err)
			}
			continue
		}
		cs, qf, ok := strings.Cut(text, "\t")
		if !ok {
			return nil, fail("want count<TAB>\"form\"")
		}
		c, err := strconv.Atoi(cs)
		if err != nil || c < 0 {
			return nil, fail("count %s is not a non-negative integer", untrusted.Quote(cs))
		}
		f, err := strconv.Unquote(qf)
		if err != nil {
			return nil, fail("form %s is not a quoted string", untrusted.Quote(qf))
		}
		if NormalizeForm(f) != f {
			return nil, fail("form %s is not normalized (lower case, no surrounding space)", untrusted.Quote(f))
		}
		if _, dup := l.counts[f]; dup {
			return nil, fail("form %s appears twice", untrusted.Quote(f))
		}
		if len(l.counts) >= maxListEntries {
			return nil, fail("more than %d forms", maxListEntries)
		}
		l.counts[f] = c
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			line++
			return nil, fail("longer than %d bytes", maxListLine)
		}
		return nil, fmt.Errorf("vocab: token list: %w", err)
	}
	if line < len(header) {
		return nil, fmt.Errorf("vocab: token list: truncated header (%d of %d lines)", line, len(header))
	}
	l.seal()
	return l, nil
}
