package vocab

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The BPE model works on token ids, never on strings: a merge is a pair of
// ids (a, b) with a rank (its line in the merges list; lower merges first) and
// the id of the token a+b. Words are short, so most are merged by a scan over
// an array of pair ranks; pathological words (a megabyte of dashes is one
// pre-token) go through a heap so that the cost stays O(n log n).

// merge is the result of merging one pair.
type merge struct {
	rank int32
	id   int32
}

// pairKey packs two token ids into one map key.
func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// noRank marks a pair that has no merge.
const noRank = int32(1<<31 - 1)

// heapThreshold is the word length (in symbols) above which bpeHeap is used.
// A variable so that tests can force either algorithm.
var heapThreshold = 256

// bpeWord merges the symbols of one word in place and returns the merged
// symbols (a prefix of syms). ranks is scratch space.
//
// The rule is Hugging Face's: repeatedly merge the adjacent pair of lowest
// rank, the leftmost one among equals. For merges lists learnt by BPE training
// this gives the same result as OpenAI's encoder.py, which merges all
// occurrences of the lowest-ranked bigram in one pass.
func (m *model) bpeWord(syms []int32, ranks []int32) ([]int32, []int32) {
	if len(syms) < 2 {
		return syms, ranks
	}
	if len(syms) > heapThreshold {
		return m.bpeHeap(syms), ranks
	}
	ranks = ranks[:0]
	for i := 0; i+1 < len(syms); i++ {
		ranks = append(ranks, m.rankOf(syms[i], syms[i+1]))
	}
	for len(syms) > 1 {
		best, bi := noRank, -1
		for i, r := range ranks {
			if r < best {
				best, bi = r, i
			}
		}
		if bi < 0 {
			break
		}
		syms[bi] = m.merges[pairKey(syms[bi], syms[bi+1])].id
		syms = append(syms[:bi+1], syms[bi+2:]...)
		ranks = append(ranks[:bi], ranks[bi+1:]...)
		if bi > 0 {
			ranks[bi-1] = m.rankOf(syms[bi-1], syms[bi])
		}
		if bi < len(ranks) {
			ranks[bi] = m.rankOf(syms[bi], syms[bi+1])
		}
	}
	return syms, ranks
}

func (m *model) rankOf(a, b int32) int32 {
	if mg, ok := m.merges[pairKey(a, b)]; ok {
		return mg.rank
	}
	return noRank
}

// pairItem is a candidate merge of the symbols at positions left and right,
// valid only while both still hold ids a and b and are adjacent.
type pairItem struct {
	rank, left, right, a, b int32
}

// pairHeap is a binary min-heap of pairItems by (rank, left). It is typed,
// not container/heap, so that pushing and popping do not allocate.
type pairHeap []pairItem

func (h pairHeap) less(i, j int) bool {
	if h[i].rank != h[j].rank {
		return h[i].rank < h[j].rank
	}
	return h[i].left < h[j].left
}

func (h *pairHeap) push(x pairItem) {
	*h = append(*h, x)
	q := *h
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *pairHeap) pop() pairItem {
	q := *h
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q = q[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && q.less(r, l) {
			m = r
		}
		if !q.less(m, i) {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}

// bpeHeap is bpeWord for long words: a doubly linked list of symbols and a
// heap of candidate pairs ordered by (rank, position), as in Hugging Face's
// Word::merge_all. Stale heap entries are skipped when popped.
func (m *model) bpeHeap(syms []int32) []int32 {
	n := len(syms)
	prev := make([]int32, n)
	next := make([]int32, n)
	alive := make([]bool, n)
	for i := range syms {
		prev[i] = int32(i - 1)
		next[i] = int32(i + 1)
		alive[i] = true
	}
	next[n-1] = -1
	h := make(pairHeap, 0, n)
	push := func(l, r int32) {
		if l < 0 || r < 0 {
			return
		}
		if mg, ok := m.merges[pairKey(syms[l], syms[r])]; ok {
			h.push(pairItem{mg.rank, l, r, syms[l], syms[r]})
		}
	}
	for i := 0; i+1 < n; i++ {
		push(int32(i), int32(i+1))
	}
	for len(h) > 0 {
		it := h.pop()
		l, r := it.left, it.right
		if !alive[l] || !alive[r] || next[l] != r || syms[l] != it.a || syms[r] != it.b {
			continue
		}
		syms[l] = m.merges[pairKey(it.a, it.b)].id
		alive[r] = false
		next[l] = next[r]
		if next[r] >= 0 {
			prev[next[r]] = l
		}
		push(prev[l], l)
		push(l, next[l])
	}
	out := syms[:0]
	for i := int32(0); i >= 0 && int(i) < n; i = next[i] {
		out = append(out, syms[i])
	}
	return out
}

// model is the encoding half of a vocabulary: the pipeline (added tokens,
// normalizer, pre-tokenizer), the BPE model's symbols and merges, and
// options.
type model struct {
	kind string
	// byteID is, for byte-level BPE, the id of each byte's symbol ("Ġ" for
	// 0x20); for SentencePiece-style BPE with byte_fallback, the id of its
	// byte token ("<0x0A>"); -1 where the vocabulary has none.
	byteID       [256]int32
	merges       map[uint64]merge
	ids          map[string]int32 // the BPE model's vocabulary (added tokens only when they are entries too)
	added        *addedMatcher    // added tokens matched in the raw text
	addedNorm    *addedMatcher    // added tokens matched in normalized text
	norm         *normalizer
	pre          []preStep
	gpt2Fast     bool // pre is GPT-2's ByteLevel alone: its scanner runs directly
	prefixSpace  bool // some ByteLevel step has add_prefix_space
	cutSafe      bool // see cutSafe
	ignoreMerges bool // BPE ignore_merges: a whole pre-token in the vocabulary is one token
	unk          int32
	fuseUnk      bool
}

// encoder holds the per-goroutine state of encoding: a cache of encoded
// pre-tokens (natural text repeats the same words over and over) and scratch
// buffers. An encoder is not safe for concurrent use; Vocab.Encode takes one
// from a pool.
type encoder struct {
	m        *model
	cache    map[string][]int32
	arena    []int32
	syms     []int32
	ranks    []int32
	out      []int32
	pieces   []piece
	pieces2  []piece
	spans    []span
	err      error
	errPos   int
	keyBytes []byte

	cacheBytes int // text held by cache keys
}

// maxCacheEntries bounds an encoder's cache; when full it starts afresh.
const maxCacheEntries = 1 << 17

// maxCacheBytes bounds the text an encoder's cache keeps (a SentencePiece
// tokenizer without a pre-tokenizer sees whole lines as words, and a
// megabyte of dashes is one GPT-2 pre-token); when full it starts afresh.
const maxCacheBytes = 32 << 20

func newEncoder(m *model) *encoder {
	return &encoder{m: m, cache: make(map[string][]int32, 1024)}
}

// MissingByteError reports text that can't be encoded because the vocabulary
// has no token for one of its bytes (no byte-level symbol, or for a
// SentencePiece tokenizer no piece for its character and no byte token) and
// no unknown token to stand in. Hugging Face's tokenizers drop such
// characters silently; lenskit reports them.
type MissingByteError struct {
	Byte   byte
	Offset int // byte offset in the encoded text (in its normalized form when the tokenizer normalizes)
}

func (e *MissingByteError) Error() string {
	return fmt.Sprintf("vocab: byte 0x%02X at offset %d has no token in the vocabulary (no symbol for it and no unk_token)",
		e.Byte, e.Offset)
}

// encodeWord appends the ids of one pre-token to e.out: for byte-level BPE
// the pre-token's bytes, for SentencePiece-style BPE its text.
func (e *encoder) encodeWord(w string, offset int) {
	if ids, ok := e.cache[w]; ok {
		e.out = append(e.out, ids...)
		return
	}
	m := e.m
	if m.ignoreMerges {
		key := w
		if m.kind == KindByteLevel {
			e.keyBytes = appendByteLevel(e.keyBytes[:0], w)
			key = string(e.keyBytes)
		}
		if id, ok := m.ids[key]; ok {
			e.out = append(e.out, id)
			return
		}
	}
	var syms []int32
	var ok bool
	if m.kind == KindByteLevel {
		syms, ok = e.byteSymbols(w, offset)
	} else {
		syms, ok = e.charSymbols(w, offset)
	}
	if !ok {
		return
	}
	syms, e.ranks = m.bpeWord(syms, e.ranks)
	e.syms = syms
	e.out = append(e.out, syms...)
	if len(w) > maxCacheBytes/4 {
		return
	}
	if len(e.cache) >= maxCacheEntries || e.cacheBytes+len(w) > maxCacheBytes {
		clear(e.cache)
		e.arena = nil
		e.cacheBytes = 0
	}
	e.cacheBytes += len(w)
	if cap(e.arena)-len(e.arena) < len(syms) {
		e.arena = make([]int32, 0, max(4096, len(syms)))
	}
	start := len(e.arena)
	e.arena = append(e.arena, syms...)
	e.cache[strings.Clone(w)] = e.arena[start:len(e.arena):len(e.arena)]
}

// byteSymbols maps each byte of w to its byte-level symbol.
func (e *encoder) byteSymbols(w string, offset int) ([]int32, bool) {
	m := e.m
	syms := e.syms[:0]
	lastUnk := false
	for i := 0; i < len(w); i++ {
		id := m.byteID[w[i]]
		if id < 0 {
			if m.unk < 0 {
				if e.err == nil {
					e.err = &MissingByteError{Byte: w[i], Offset: offset + i}
				}
				return nil, false
			}
			if m.fuseUnk && lastUnk {
				continue
			}
			id, lastUnk = m.unk, true
		} else {
			lastUnk = false
		}
		syms = append(syms, id)
	}
	return syms, true
}

// charSymbols maps each character of w to its vocabulary entry, as Hugging
// Face's BPE.merge_word does: a character without an entry becomes its
// UTF-8 bytes' byte tokens (byte_fallback, when all exist), else the unknown
// token, consecutive unknowns fused into one with fuse_unk. A byte that is
// not valid UTF-8 counts as a character of its own (and so falls back to its
// byte token).
func (e *encoder) charSymbols(w string, offset int) ([]int32, bool) {
	m := e.m
	syms := e.syms[:0]
	lastUnk := false
	for i := 0; i < len(w); {
		_, size := utf8.DecodeRuneInString(w[i:])
		if id, ok := m.ids[w[i:i+size]]; ok {
			syms = append(syms, id)
			lastUnk = false
			i += size
			continue
		}
		fallback := true
		for k := i; k < i+size; k++ {
			if m.byteID[w[k]] < 0 {
				fallback = false
				break
			}
		}
		switch {
		case fallback:
			for k := i; k < i+size; k++ {
				syms = append(syms, m.byteID[w[k]])
			}
			lastUnk = false
		case m.unk >= 0:
			if !(m.fuseUnk && lastUnk) {
				syms = append(syms, m.unk)
			}
			lastUnk = true
		default:
			if e.err == nil {
				e.err = &MissingByteError{Byte: w[i], Offset: offset + i}
			}
			return nil, false
		}
		i += size
	}
	return syms, true
}

// appendByteLevel appends the byte-level spelling of s.
func appendByteLevel(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		dst = utf8.AppendRune(dst, byteRune[s[i]])
	}
	return dst
}

// encode appends the ids of s to e.out. The first error, if any, is left in
// e.err (offsets are relative to s plus base).
func (e *encoder) encode(s string, base int) {
	e.m.added.split(s, func(start, end int, id int32) {
		if id >= 0 {
			e.out = append(e.out, id)
			return
		}
		e.encodeSegment(s[start:end], base+start)
	})
}

// encodeSegment encodes a stretch of text between added tokens: normalized,
// split on normalized added tokens, pre-tokenized, BPE-encoded.
func (e *encoder) encodeSegment(seg string, off int) {
	m := e.m
	if m.norm != nil {
		seg = m.norm.apply(seg)
		if seg == "" {
			return
		}
	}
	if m.addedNorm.empty() {
		e.preTokenize(seg, off)
		return
	}
	m.addedNorm.split(seg, func(start, end int, id int32) {
		if id >= 0 {
			e.out = append(e.out, id)
			return
		}
		e.preTokenize(seg[start:end], off+start)
	})
}

// preTokenize runs the pre-tokenizer steps over s and encodes each
// pre-token.
func (e *encoder) preTokenize(s string, off int) {
	m := e.m
	if m.gpt2Fast {
		splitGPT2(s, func(start, end int) {
			e.encodeWord(s[start:end], off+start)
		})
		return
	}
	ps := append(e.pieces[:0], piece{s, off})
	for i := range m.pre {
		out := e.pieces2[:0]
		for _, p := range ps {
			out = m.pre[i].apply(p, out, e)
		}
		e.pieces, e.pieces2 = out, ps
		ps = out
	}
	for _, p := range ps {
		if p.s != "" {
			e.encodeWord(p.s, p.off)
		}
	}
	e.pieces = ps[:0]
}
