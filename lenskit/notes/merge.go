package notes

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"lenskit.dev/lenskit/internal/untrusted"
)

// A MergeReport says what a merge did with every incoming note. Nothing is
// dropped without being listed here.
type MergeReport struct {
	From string // name of the merged file

	Added     []Note     // new notes, as stored (conflicting ones included)
	Same      int        // incoming notes already present, identical
	Duplicate []Note     // incoming notes saying exactly what a local note says, under another id; not added again
	Edits     []Edit     // the same note (same id) differing on the two sides
	Conflicts []Conflict // a component labelled differently on the two sides; both notes kept
	Renamed   [][2]string
	Rejected  []Rejected // incoming notes this model cannot hold
	Warning   *Warning   // set when the merged file was written against other weights
}

// An Edit is one note (one id) that differs between the two sides. The
// version edited later is kept; the other is listed here. Two versions
// updated at the same second are not an edit but a conflict: both are kept.
type Edit struct {
	Kept, Older  Note
	FromIncoming bool // Kept came from the merged file and replaced the local note
}

// A Conflict is a component labelled one way here and another way in the
// merged file. Both are kept; the incoming note is in the store under
// Incoming.ID.
type Conflict struct {
	Component Component
	Local     []Note // the notes here about the component, with other labels
	Incoming  Note
}

// Rejected is an incoming note refused by the store, with why.
type Rejected struct {
	Note Note
	Err  error
}

// MergeFile merges the notes file at path into the store; see Merge.
func (s *Store) MergeFile(path string) (*MergeReport, error) {
	return s.MergeFileContext(context.Background(), path)
}

// MergeFileContext is MergeFile, giving up waiting for the store's lock
// when ctx is done.
func (s *Store) MergeFileContext(ctx context.Context, path string) (*MergeReport, error) {
	f, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return s.MergeContext(ctx, path, f)
}

// Merge brings another researcher's notes (from, named name in the report)
// into the store in one locked write:
//
//   - a note not here is added; if the component already carries another
//     label here, both are kept and the pair is reported as a Conflict;
//   - a note here with the same id and content is counted as Same;
//   - a note here with the same id and other content is an Edit: the later
//     Updated wins and the other version is listed; equal times are a
//     Conflict, and the incoming note is added under a new id;
//   - a note saying exactly what a note here says under another id is a
//     Duplicate and not added twice;
//   - a note about a component this model lacks is Rejected.
//
// Notes keep their weights hash; when the merged file's model differs from
// the store's, the report carries a Warning.
func (s *Store) Merge(name string, from *File) (*MergeReport, error) {
	return s.MergeContext(context.Background(), name, from)
}

// MergeContext is Merge, giving up waiting for the store's lock when ctx is
// done.
func (s *Store) MergeContext(ctx context.Context, name string, from *File) (*MergeReport, error) {
	r := &MergeReport{From: name}
	if m := from.Model; m.Hash != s.model.Hash || m.ID != s.model.ID || m.Revision != s.model.Revision || !sameShape(m, s.model) {
		r.Warning = &Warning{Path: name, Stored: m, Opened: s.model}
	}
	err := s.write(ctx, func(f *File) error {
		*r = MergeReport{From: r.From, Warning: r.Warning} // the write may be retried on a fresh read
		for _, in := range from.Notes {
			in = in.clone()
			if in.Weights == "" {
				in.Weights = from.Model.Hash
			}
			in.normalize()
			if _, err := in.check(s.model); err != nil {
				r.Rejected = append(r.Rejected, Rejected{Note: in, Err: err})
				continue
			}
			if i := f.index(in.ID); i >= 0 {
				here := f.Notes[i]
				switch {
				case equalNote(here, in):
					r.Same++
					continue
				case here.Component == in.Component && !here.Updated.Equal(in.Updated):
					e := Edit{Kept: here, Older: in}
					if in.Updated.After(here.Updated) {
						e = Edit{Kept: in, Older: here, FromIncoming: true}
						f.Notes[i] = in
					}
					r.Edits = append(r.Edits, e)
					continue
				}
				// Same id, but another component or a simultaneous
				// edit: a different note; give it an id of its own.
				old := in.ID
				for in.ID == old || f.index(in.ID) >= 0 {
					in.ID = newID()
				}
				r.Renamed = append(r.Renamed, [2]string{old, in.ID})
			}
			if j := slices.IndexFunc(f.Notes, func(n Note) bool { return sameFinding(n, in) }); j >= 0 {
				r.Duplicate = append(r.Duplicate, in)
				continue
			}
			var others []Note
			agree := false
			for _, n := range f.Notes {
				if !n.Component.Overlaps(in.Component) {
					continue
				}
				if sameLabel(n.Label, in.Label) {
					agree = true
				} else {
					others = append(others, n.clone())
				}
			}
			if len(others) > 0 && !agree {
				r.Conflicts = append(r.Conflicts, Conflict{Component: in.Component, Local: others, Incoming: in})
			}
			f.Notes = append(f.Notes, in)
			r.Added = append(r.Added, in)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func sameLabel(a, b string) bool {
	return strings.EqualFold(strings.Join(strings.Fields(a), " "), strings.Join(strings.Fields(b), " "))
}

// String summarizes the merge for a person, conflicts in full.
func (r *MergeReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "merged %s: %d added, %d already here, %d duplicates, %d edits, %d conflicts, %d rejected\n",
		r.From, len(r.Added), r.Same, len(r.Duplicate), len(r.Edits), len(r.Conflicts), len(r.Rejected))
	if r.Warning != nil {
		fmt.Fprintf(&b, "warning: %v\n", r.Warning)
	}
	who := func(n Note) string {
		return fmt.Sprintf("%s (%s, %s, id %s)", untrusted.Quote(n.Label), orNone(untrusted.Name(n.Author)), n.Updated.Format(time.DateOnly), untrusted.Name(n.ID))
	}
	for _, c := range r.Conflicts {
		fmt.Fprintf(&b, "conflict on %v, both kept:\n", c.Component)
		for _, n := range c.Local {
			fmt.Fprintf(&b, "  here:     %s\n", who(n))
		}
		fmt.Fprintf(&b, "  incoming: %s\n", who(c.Incoming))
	}
	for _, e := range r.Edits {
		side := "here"
		if e.FromIncoming {
			side = "incoming"
		}
		fmt.Fprintf(&b, "edit of %s on %v: kept the later version (%s) %s over %s\n", e.Kept.ID, e.Kept.Component, side, who(e.Kept), who(e.Older))
	}
	for _, rn := range r.Renamed {
		fmt.Fprintf(&b, "incoming note %s clashes with a different note here; added as %s\n", rn[0], rn[1])
	}
	for _, d := range r.Duplicate {
		fmt.Fprintf(&b, "duplicate of a note here, not added: %v %s\n", d.Component, who(d))
	}
	for _, x := range r.Rejected {
		fmt.Fprintf(&b, "rejected %v %s: %v\n", x.Note.Component, who(x.Note), x.Err)
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" || s == `""` {
		return "no author"
	}
	return s
}
