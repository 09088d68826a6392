package notes

import (
	"fmt"
	"strings"

	"lenskit.dev/lenskit/project"
)

// A Query selects notes. Zero fields select everything; set fields must all
// match.
type Query struct {
	Kind ComponentKind // HeadKind, NeuronKind or TokenSetKind; 0 for any
	// Component is a component or a part of one: "20.7" (both views of
	// head 20.7), "20.7 OV", "L23/N907" (any part), "L23/N907 V" (value side,
	// including K+V notes), "L23" (every head and neuron of layer 23),
	// "set:names".
	Component string
	View      string // "OV" or "QK" for heads, "K" or "V" for neurons
	Tag       string // a tag the note carries, ignoring case
	Author    string // ignoring case
	Text      string // search terms, as Store.Search
}

// Select returns the notes of f that q selects, in file order. The error
// reports a Component or View that does not parse.
func (f *File) Select(q Query) ([]Note, error) {
	match, err := q.compile()
	if err != nil {
		return nil, err
	}
	var out []Note
	for _, n := range f.Notes {
		if match(n) {
			out = append(out, n.clone())
		}
	}
	return out, nil
}

func (q Query) compile() (func(Note) bool, error) {
	var tests []func(Note) bool
	if q.Kind != 0 {
		tests = append(tests, func(n Note) bool { return n.Component.Kind == q.Kind })
	}
	if q.Component != "" {
		p, err := parsePattern(q.Component)
		if err != nil {
			return nil, err
		}
		tests = append(tests, func(n Note) bool { return p.match(n.Component) })
	}
	if q.View != "" {
		if k, err := project.ParseKind(q.View); err == nil {
			tests = append(tests, func(n Note) bool { return n.Component.Kind == HeadKind && n.Component.View == k })
		} else if part, err := ParsePart(q.View); err == nil {
			tests = append(tests, func(n Note) bool { return n.Component.Kind == NeuronKind && n.Component.Part&part == part })
		} else {
			return nil, fmt.Errorf("notes: unknown view %q (want OV, QK, K, V or K+V)", q.View)
		}
	}
	if q.Tag != "" {
		tests = append(tests, func(n Note) bool {
			for _, t := range n.Tags {
				if strings.EqualFold(t, q.Tag) {
					return true
				}
			}
			return false
		})
	}
	if q.Author != "" {
		tests = append(tests, func(n Note) bool { return strings.EqualFold(n.Author, q.Author) })
	}
	if terms := strings.Fields(strings.ToLower(q.Text)); len(terms) > 0 {
		tests = append(tests, func(n Note) bool {
			hay := strings.ToLower(haystack(n))
			for _, t := range terms {
				if !strings.Contains(hay, t) {
					return false
				}
			}
			return true
		})
	}
	return func(n Note) bool {
		for _, t := range tests {
			if !t(n) {
				return false
			}
		}
		return true
	}, nil
}

// haystack is the text a search looks through, fields separated by a
// character no term contains, so a term cannot match across two fields.
func haystack(n Note) string {
	var b strings.Builder
	add := func(s string) { b.WriteString(s); b.WriteByte('\n') }
	add(n.Component.String())
	add(n.Label)
	add(n.Text)
	for _, t := range n.Tags {
		add(t)
	}
	add(n.Author)
	for _, t := range n.Members {
		add(t.Text)
	}
	if e := n.Evidence; e != nil {
		add(e.Filter)
		for _, p := range e.Pairs {
			add(p.SourceText)
			add(p.TargetText)
		}
		for _, col := range e.Columns {
			for _, t := range col {
				add(t.Text)
			}
		}
	}
	return b.String()
}
