package lenskit

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"lenskit.dev/lenskit/project"
	"lenskit.dev/lenskit/view"
	"lenskit.dev/lenskit/vocab"
)

// A Filter decides which tokens, and which token pairs, take part in a
// projection. Token filters apply before any computation; pair filters
// (ExcludeSame, ExcludeFuzzy) drop pairs of a head view as they are found.
// Filters given to one Lens compose: a token must pass every token filter.
type Filter struct {
	name  string
	token func(m *Model) (vocab.Filter, error) // nil for pair filters
	pair  vocab.PairFilter
	proc  func(p *project.Processing) // weight processing options
}

// String is the filter's description, as recorded with findings.
func (f Filter) String() string { return f.name }

func tokenFilter(f vocab.Filter) Filter {
	return Filter{name: f.String(), token: func(*Model) (vocab.Filter, error) { return f, nil }}
}

// ASCII keeps tokens whose text is printable ASCII (the seed notebook's
// only_ascii for neurons; control-byte tokens such as <0x18> are not ASCII;
// it drops every Polish letter — use Alnum for Polish).
func ASCII() Filter { return tokenFilter(vocab.ASCII()) }

// SeedASCII is the seed's exact only_ascii test on the raw vocabulary entry,
// for parity with its published tables (see vocab.SeedRawASCII).
func SeedASCII() Filter { return tokenFilter(vocab.SeedRawASCII()) }

// SeedHeadASCII is the ASCII test the seed's head tables used, on decoded
// text (so newline and tab tokens pass, unlike ASCII, which keeps printable
// ASCII only), for parity with those tables (see vocab.SeedDecodedASCII).
func SeedHeadASCII() Filter { return tokenFilter(vocab.SeedDecodedASCII()) }

// Alnum keeps tokens made of letters and digits in any script (Polish,
// Cyrillic and accented Latin count as letters), after the leading space.
func Alnum() Filter { return tokenFilter(vocab.Alnum()) }

// NoBrackets drops tokens containing a bracket.
func NoBrackets() Filter { return tokenFilter(vocab.NoBrackets()) }

// Where applies any vocab.Filter, including ones written in a notebook
// with vocab.FilterFunc.
func Where(f vocab.Filter) Filter { return tokenFilter(f) }

// InList keeps tokens whose lowercased, space-trimmed text is in the list.
func InList(l *vocab.TokenList) Filter { return tokenFilter(vocab.InList(l)) }

// CorpusTokens keeps tokens seen in text files (one record per line), or
// only the topN most frequent of them (by the number of lines they occur in,
// as the seed counts) when topN > 0. The list is built once per model and
// path set, with a progress bar.
func CorpusTokens(topN int, paths ...string) Filter {
	name := fmt.Sprintf("corpus(%s", strings.Join(baseNames(paths), ","))
	if topN > 0 {
		name += fmt.Sprintf(",top=%d", topN)
	}
	name += ")"
	return Filter{name: name, token: func(m *Model) (vocab.Filter, error) {
		l, err := m.CorpusTokens(topN, paths...)
		if err != nil {
			return nil, err
		}
		return vocab.InList(l), nil
	}}
}

// ExcludeSame drops pairs of the same token (equal after lowercasing and
// trimming spaces), the seed's exclude_same.
func ExcludeSame() Filter {
	return Filter{name: vocab.SameToken().String(), pair: vocab.SameToken()}
}

// ExcludeFuzzy drops pairs of near-identical tokens (see vocab.FuzzyEqual
// for the exact rule: same form, a prefix of ≥ 3 letters, or one edit
// between forms of ≥ 4 letters).
func ExcludeFuzzy() Filter {
	return Filter{name: vocab.FuzzyEqual().String(), pair: vocab.FuzzyEqual()}
}

// CorpusTokens builds the token list of the given text files for this
// model's vocabulary: every token seen, or the topN most frequent by line
// count. Lists are cached in memory and on disk (under the user cache
// directory, keyed by the vocabulary, the files' paths, sizes and
// modification times, and topN), so a notebook — where every cell is a
// new process — tokenizes a corpus once.
func (m *Model) CorpusTokens(topN int, paths ...string) (*vocab.TokenList, error) {
	if m.err != nil {
		return nil, m.err
	}
	key, err := m.corpusKey(topN, paths)
	if err != nil {
		return nil, err
	}
	m.listsMu.Lock()
	l, ok := m.lists[key]
	m.listsMu.Unlock()
	if ok {
		return l, nil
	}
	cache := ""
	if dir, err := os.UserCacheDir(); err == nil {
		cache = filepath.Join(dir, "lenskit", "token-lists", key+".tokens")
		if l, err := vocab.ReadTokenListFile(cache); err == nil {
			m.remember(key, l)
			return l, nil
		}
	}
	p := view.NewProgress("tokenizing "+strings.Join(baseNames(paths), ", "), 0)
	l, err = vocab.CorpusTokens(m.Vocab, paths, topN, p.Func())
	p.Done()
	if err != nil {
		return nil, err
	}
	m.remember(key, l)
	if cache != "" {
		// A cache that cannot be written only costs time next run.
		_ = l.WriteFile(cache)
	}
	return l, nil
}

// baseNames shortens paths to file names for descriptions that end up in
// notes and saved notebooks, which must not depend on where a checkout is.
func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}

func (m *Model) remember(key string, l *vocab.TokenList) {
	m.listsMu.Lock()
	m.lists[key] = l
	m.listsMu.Unlock()
}

// corpusKey identifies a token list: the vocabulary (every raw entry), and
// each file by absolute path, size and modification time.
func (m *Model) corpusKey(topN int, paths []string) (string, error) {
	if len(paths) == 0 {
		return "", fmt.Errorf("lenskit: CorpusTokens needs at least one file")
	}
	h := sha256.New()
	m.vocabHashOnce.Do(func() {
		vh := sha256.New()
		for id := range m.Vocab.Len() {
			fmt.Fprintf(vh, "%q\n", m.Vocab.Raw(id))
		}
		m.vocabHash = fmt.Sprintf("%x", vh.Sum(nil))
	})
	fmt.Fprintf(h, "vocab %s\ntop %d\n", m.vocabHash, topN)
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", err
		}
		st, err := os.Stat(abs)
		if err != nil {
			return "", fmt.Errorf("lenskit: corpus: %w", err)
		}
		fmt.Fprintf(h, "%q %d %d\n", abs, st.Size(), st.ModTime().UnixNano())
	}
	return fmt.Sprintf("%x", h.Sum(nil))[:32], nil
}

// Shared finds a file of the shared data directory that sits next to a
// lenskit checkout (for example "corpus/pl.txt"): in $LENSKIT_SHARED, in
// $LENSKIT_ROOT/../shared (the lenskit kernel sets LENSKIT_ROOT), or in a
// "shared" directory beside the working directory or one of its parents.
// The error lists every place it looked.
func Shared(rel string) (string, error) {
	var tried []string
	try := func(dir string) (string, bool) {
		p := filepath.Join(dir, rel)
		tried = append(tried, p)
		st, err := os.Stat(p)
		return p, err == nil && !st.IsDir()
	}
	if d := os.Getenv("LENSKIT_SHARED"); d != "" {
		if p, ok := try(d); ok {
			return p, nil
		}
	}
	if r := os.Getenv("LENSKIT_ROOT"); r != "" {
		if p, ok := try(filepath.Join(r, "..", "shared")); ok {
			return p, nil
		}
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if p, ok := try(filepath.Join(d, "shared")); ok {
				return p, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("lenskit: shared file %s not found (set LENSKIT_SHARED); looked in:\n  %s", rel, strings.Join(tried, "\n  "))
}

// FoldNorms folds the gain of the norm feeding each matrix into it (the
// attention norm's into W_Q, W_K, W_V; the MLP norm's into neuron keys).
// Weight processing is off by default, as the paper and the seed read raw
// weights; it is recorded with findings. Like the filters, it is given to
// Lens: m.Lens(lenskit.Alnum(), lenskit.FoldNorms()).
func FoldNorms() Filter {
	return Filter{name: "fold-norms", proc: func(p *project.Processing) { p.FoldNorms = true }}
}

// FoldFinalNorm folds the final norm's gain into W_U.
func FoldFinalNorm() Filter {
	return Filter{name: "fold-final-norm", proc: func(p *project.Processing) { p.FoldFinalNorm = true }}
}

// CenterUnembed centres W_U over the vocabulary (subtracts its mean row).
func CenterUnembed() Filter {
	return Filter{name: "center-unembed", proc: func(p *project.Processing) { p.CenterUnembed = true }}
}

// Processed applies the weight processing p (see FoldNorms, FoldFinalNorm,
// CenterUnembed).
func Processed(p project.Processing) Filter {
	return Filter{name: p.String(), proc: func(q *project.Processing) {
		q.FoldNorms = q.FoldNorms || p.FoldNorms
		q.FoldFinalNorm = q.FoldFinalNorm || p.FoldFinalNorm
		q.CenterUnembed = q.CenterUnembed || p.CenterUnembed
	}}
}

// resolved is a Lens's filters applied to its model.
type resolved struct {
	ids     []int // token ids taking part, ascending; nil = all
	exclude func(a, b int) bool
	desc    string
	proc    project.Processing
}

func (m *Model) resolve(filters []Filter) (resolved, error) {
	var r resolved
	var toks []vocab.Filter
	var pairs []vocab.PairFilter
	var names []string
	for _, f := range filters {
		if f.name == "" {
			return r, fmt.Errorf("lenskit: zero Filter value (use lenskit.Alnum(), lenskit.ASCII(), …)")
		}
		if f.proc != nil {
			f.proc(&r.proc)
			continue
		}
		names = append(names, f.name)
		if f.pair != nil {
			pairs = append(pairs, f.pair)
			continue
		}
		vf, err := f.token(m)
		if err != nil {
			return r, err
		}
		toks = append(toks, vf)
	}
	if len(toks) > 0 {
		r.ids = m.Vocab.Select(vocab.And(toks...))
		if r.ids == nil {
			r.ids = []int{}
		}
	}
	if len(pairs) > 0 {
		pf := vocab.AnyPair(pairs...)
		v := m.Vocab
		r.exclude = func(a, b int) bool { return pf.Exclude(v, a, b) }
	}
	r.desc = strings.Join(names, "+")
	if r.desc == "" {
		r.desc = "all"
	}
	return r, nil
}
