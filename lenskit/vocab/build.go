package vocab

import (
	"fmt"
	"strconv"
)

// build cross-checks a parsed spec and turns it into a Vocab.
func build(sp *spec) (*Vocab, error) {
	vf := sp.vocabFile
	field := func(tok string) string {
		if sp.vocabField == "" {
			return "vocab[" + strconv.Quote(tok) + "]"
		}
		return sp.vocabField + "[" + strconv.Quote(tok) + "]"
	}

	// Ids must be exactly 0..n-1: vocabulary entries plus added tokens that
	// are not also entries.
	var maxID int64 = -1
	for _, e := range sp.entries {
		maxID = max(maxID, e.id)
	}
	entryIDs := make(map[string]int64, len(sp.entries))
	for _, e := range sp.entries {
		entryIDs[e.token] = e.id
	}
	addedByContent := make(map[string]int64)
	for _, a := range sp.added {
		if prev, dup := addedByContent[a.content]; dup && prev != a.id {
			return nil, &FileError{File: a.file, Where: a.where, Err: fmt.Errorf("added token %q has id %d but also id %d", a.content, a.id, prev)}
		}
		addedByContent[a.content] = a.id
		if eid, ok := entryIDs[a.content]; ok && eid != a.id {
			return nil, &FileError{File: a.file, Where: a.where, Err: fmt.Errorf("added token %q has id %d but the vocabulary gives it id %d", a.content, a.id, eid)}
		}
	}
	extra := 0
	for _, a := range sp.added {
		if a.id < 0 || a.id >= maxVocabEntries {
			return nil, &FileError{File: a.file, Where: a.where, Err: fmt.Errorf("id %d out of range [0, %d)", a.id, maxVocabEntries)}
		}
		maxID = max(maxID, a.id)
	}
	for content := range addedByContent {
		if _, ok := entryIDs[content]; !ok {
			extra++
		}
	}
	n := int64(len(sp.entries) + extra)
	if maxID >= n {
		// Find the culprit to name it.
		for _, e := range sp.entries {
			if e.id >= n {
				return nil, fileErr(vf, field(e.token), "id %d out of range: there are %d tokens, so ids must be 0..%d", e.id, n, n-1)
			}
		}
		for _, a := range sp.added {
			if a.id >= n {
				return nil, &FileError{File: a.file, Where: a.where, Err: fmt.Errorf("id %d out of range: there are %d tokens, so ids must be 0..%d", a.id, n, n-1)}
			}
		}
	}
	raw := make([]string, n)
	filled := make([]bool, n)
	for _, e := range sp.entries {
		if filled[e.id] {
			return nil, fileErr(vf, field(e.token), "id %d is already the id of %q", e.id, raw[e.id])
		}
		raw[e.id], filled[e.id] = e.token, true
	}
	isAdded := make([]bool, n)
	special := make([]bool, n)
	var addedToks []addedToken
	for _, a := range sp.added {
		if isAdded[a.id] {
			if raw[a.id] == a.content {
				continue // the same token named twice (e.g. eos and unk)
			}
			return nil, &FileError{File: a.file, Where: a.where, Err: fmt.Errorf("id %d is already the added token %q", a.id, raw[a.id])}
		}
		if filled[a.id] && raw[a.id] != a.content {
			return nil, &FileError{File: a.file, Where: a.where, Err: fmt.Errorf("id %d is %q in the vocabulary but %q here", a.id, raw[a.id], a.content)}
		}
		raw[a.id], filled[a.id] = a.content, true
		isAdded[a.id] = true
		special[a.id] = a.special
		addedToks = append(addedToks, addedToken{content: a.content, id: int32(a.id), lstrip: a.lstrip, rstrip: a.rstrip, singleWord: a.singleWord})
	}
	for id, ok := range filled {
		if !ok {
			return nil, fileErr(vf, sp.vocabField, "no token has id %d: ids must run from 0 to %d without gaps", id, n-1)
		}
	}

	m := &model{
		merges:       make(map[uint64]merge, len(sp.merges)),
		ids:          make(map[string]int32, n),
		added:        newAddedMatcher(addedToks),
		prefixSpace:  sp.prefix,
		ignoreMerges: sp.ignore,
		unk:          -1,
		fuseUnk:      sp.fuseUnk,
	}
	for id, r := range raw {
		m.ids[r] = int32(id)
	}
	for b := range m.byteID {
		m.byteID[b] = -1
		if id, ok := entryIDs[string(byteRune[b])]; ok && !isAdded[id] {
			m.byteID[b] = int32(id)
		}
	}
	if sp.unkToken != "" {
		id, ok := m.ids[sp.unkToken]
		if !ok {
			return nil, fileErr(vf, "model.unk_token", "%q is not in the vocabulary", sp.unkToken)
		}
		m.unk = id
	}
	firstWhere := make(map[uint64]string, len(sp.merges))
	for rank, mg := range sp.merges {
		a, ok := m.ids[mg.a]
		if !ok {
			return nil, fileErr(sp.mergeFile, mg.where, "%q is not in the vocabulary", mg.a)
		}
		b, ok := m.ids[mg.b]
		if !ok {
			return nil, fileErr(sp.mergeFile, mg.where, "%q is not in the vocabulary", mg.b)
		}
		res, ok := m.ids[mg.a+mg.b]
		if !ok {
			return nil, fileErr(sp.mergeFile, mg.where, "the merged token %q is not in the vocabulary", mg.a+mg.b)
		}
		k := pairKey(a, b)
		if prev, dup := firstWhere[k]; dup {
			return nil, fileErr(sp.mergeFile, mg.where, "duplicate of the merge at %s", prev)
		}
		firstWhere[k] = mg.where
		m.merges[k] = merge{rank: int32(rank), id: res}
	}

	v := &Vocab{
		source:  sp.source,
		raw:     raw,
		special: special,
		bytes:   make([][]byte, n),
		m:       m,
	}
	v.isAdded = isAdded
	for id, r := range raw {
		if isAdded[id] {
			v.bytes[id] = []byte(r)
			continue
		}
		if b, ok := decodeByteLevel(r); ok {
			v.bytes[id] = b
		} else {
			v.bytes[id] = []byte(r)
		}
	}
	v.finish()
	return v, nil
}
