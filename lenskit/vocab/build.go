package vocab

import (
	"fmt"
	"strings"
)

// build cross-checks a parsed spec and turns it into a Vocab.
//
// Ids need not run from 0 to n-1 without gaps: real files reserve ids (a
// tokenizer.json whose added tokens start above its vocabulary), so Len is
// the highest id + 1 and every id that no entry or added token has becomes a
// placeholder (see Vocab.Placeholder) that no filter keeps. A vocabulary
// with more holes than tokens (beyond a slack of maxGapSlack) is refused:
// that is not a reservation but an attempt to make the loader allocate for
// ids nobody uses.
func build(sp *spec) (*Vocab, error) {
	if err := sp.resolvePending(); err != nil {
		return nil, err
	}
	vf := sp.vocabFile
	field := func(tok string) string { return sp.vocabField + "[" + quote(tok) + "]" }

	var maxID int64 = -1
	for _, e := range sp.entries {
		maxID = max(maxID, e.id)
	}
	addedByContent := make(map[string]int64, len(sp.added))
	for _, a := range sp.added {
		if prev, dup := addedByContent[a.content]; dup && prev != a.id {
			return nil, &FileError{File: a.file, Where: a.where, Err: fmt.Errorf("added token %s has id %d but also id %d", quote(a.content), a.id, prev)}
		}
		addedByContent[a.content] = a.id
		if eid, ok := sp.ids[a.content]; ok && int64(eid) != a.id {
			return nil, &FileError{File: a.file, Where: a.where, Err: fmt.Errorf("added token %s has id %d but the vocabulary gives it id %d", quote(a.content), a.id, eid)}
		}
		maxID = max(maxID, a.id)
	}
	n := int(maxID + 1)
	// At most this many ids have a token; refuse mostly-hole vocabularies
	// before allocating for their ids.
	if most := len(sp.entries) + len(sp.added); n-most > most+maxGapSlack {
		return nil, fileErr(vf, sp.vocabField, "ids run up to %d but at most %d ids have a token: more holes than tokens", n-1, most)
	}
	raw := make([]string, n)
	filled := make([]bool, n)
	for _, e := range sp.entries {
		if filled[e.id] {
			return nil, fileErr(vf, field(e.token), "id %d is already the id of %s", e.id, quote(raw[e.id]))
		}
		raw[e.id], filled[e.id] = e.token, true
	}
	isAdded := make([]bool, n)
	special := make([]bool, n)
	var rawToks, normToks []addedToken
	addedIDs := make(map[string]int32)
	for _, a := range sp.added {
		if isAdded[a.id] {
			if raw[a.id] == a.content {
				continue // the same token named twice (e.g. eos and unk)
			}
			return nil, &FileError{File: a.file, Where: a.where, Err: fmt.Errorf("id %d is already the added token %s", a.id, quote(raw[a.id]))}
		}
		if filled[a.id] && raw[a.id] != a.content {
			return nil, &FileError{File: a.file, Where: a.where, Err: fmt.Errorf("id %d is %s in the vocabulary but %s here", a.id, quote(raw[a.id]), quote(a.content))}
		}
		if _, ok := sp.ids[a.content]; !ok {
			addedIDs[a.content] = int32(a.id)
		}
		raw[a.id], filled[a.id] = a.content, true
		isAdded[a.id] = true
		special[a.id] = a.special
		t := addedToken{content: a.content, id: int32(a.id), lstrip: a.lstrip, rstrip: a.rstrip, singleWord: a.singleWord}
		if a.normalized && sp.norm != nil {
			t.content = sp.norm.apply(a.content)
			normToks = append(normToks, t)
		} else {
			rawToks = append(rawToks, t)
		}
	}
	real := 0
	for _, ok := range filled {
		if ok {
			real++
		}
	}
	if gaps := n - real; gaps > real+maxGapSlack {
		return nil, fileErr(vf, sp.vocabField, "ids run up to %d but only %d ids have a token: %d holes is more than one per token", n-1, real, gaps)
	}

	m := &model{
		kind:         sp.kind,
		merges:       make(map[uint64]merge, len(sp.merges)),
		ids:          sp.ids,
		added:        newAddedMatcher(rawToks),
		addedNorm:    newAddedMatcher(normToks),
		norm:         sp.norm,
		pre:          sp.pre,
		ignoreMerges: sp.ignore,
		unk:          -1,
		fuseUnk:      sp.fuseUnk,
		cutSafe:      cutSafe(sp),
	}
	m.gpt2Fast = len(sp.pre) == 1 && sp.pre[0].kind == preByteLevel && sp.pre[0].regex == patGPT2 && !sp.pre[0].prefix
	for _, st := range sp.pre {
		m.prefixSpace = m.prefixSpace || st.prefix
	}
	for b := range m.byteID {
		m.byteID[b] = -1
		var sym string
		switch {
		case sp.kind == KindByteLevel:
			sym = string(byteRune[b])
		case sp.byteFallback:
			sym = fmt.Sprintf("<0x%02X>", b)
		default:
			continue
		}
		if id, ok := sp.ids[sym]; ok {
			m.byteID[b] = id
		}
	}
	if sp.unkToken != "" {
		id, ok := sp.ids[sp.unkToken]
		if !ok {
			return nil, fileErr(vf, "model.unk_token", "%s is not in the vocabulary", quote(sp.unkToken))
		}
		m.unk = id
	}
	for rank, mg := range sp.merges {
		k := pairKey(mg.a, mg.b)
		if prev, dup := m.merges[k]; dup {
			return nil, fileErr(sp.mergeFile, sp.mergeAt(rank), "duplicate of the merge at %s", sp.mergeAt(int(prev.rank)))
		}
		m.merges[k] = merge{rank: int32(rank), id: mg.res}
	}
	sp.merges = nil

	v := &Vocab{
		source:   sp.source,
		kind:     sp.kind,
		raw:      raw,
		special:  special,
		isAdded:  isAdded,
		m:        m,
		bos:      -1,
		addedIDs: addedIDs,
		gap:      make([]bool, n),
		byteOff:  make([]uint32, n+1),
	}
	if sp.bos != "" {
		if id, ok := v.ID(sp.bos); ok {
			v.bos = int32(id)
		}
	}
	size := 0
	for _, r := range raw {
		size += len(r)
	}
	arena := make([]byte, 0, size)
	for id, r := range raw {
		switch {
		case !filled[id]:
			v.gap[id] = true
		case special[id]:
			arena = append(arena, r...)
		case sp.kind == KindSentencePiece:
			arena = appendPiece(arena, r, sp.replacement, sp.byteFallback)
		default:
			arena = appendByteLevelDecoded(arena, r)
		}
		v.byteOff[id+1] = uint32(len(arena))
	}
	v.byteArena = arena
	v.finish()
	return v, nil
}

// appendPiece appends the bytes a SentencePiece-style entry stands for, as
// Hugging Face's decoders Replace("▁", " ") and ByteFallback produce them: a
// byte token "<0x0A>" is its byte, anything else is its text with the word
// marker as a space.
func appendPiece(dst []byte, raw, repl string, byteFallback bool) []byte {
	if byteFallback {
		if b, ok := byteToken(raw); ok {
			return append(dst, b)
		}
	}
	for repl != "" {
		i := strings.Index(raw, repl)
		if i < 0 {
			break
		}
		dst = append(append(dst, raw[:i]...), ' ')
		raw = raw[i+len(repl):]
	}
	return append(dst, raw...)
}

// byteToken parses "<0xNN>" (hex digits in either case, as ByteFallback
// accepts them).
func byteToken(s string) (byte, bool) {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return 0, false
	}
	var b byte
	for _, c := range []byte(s[3:5]) {
		switch {
		case '0' <= c && c <= '9':
			b = b<<4 | (c - '0')
		case 'a' <= c && c <= 'f':
			b = b<<4 | (c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			b = b<<4 | (c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return b, true
}
