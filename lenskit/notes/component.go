package notes

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"lenskit.dev/lenskit/internal/untrusted"
	"lenskit.dev/lenskit/project"
)

// ComponentKind says what a note is attached to. The zero value is not a
// kind, so a zero Query field can mean "any kind".
type ComponentKind uint8

const (
	HeadKind     ComponentKind = iota + 1 // an attention head, seen through W_OV or W_QK
	NeuronKind                            // an MLP neuron, its key and/or value side
	TokenSetKind                          // a named set of tokens, not tied to weights
)

func (k ComponentKind) String() string {
	switch k {
	case HeadKind:
		return "head"
	case NeuronKind:
		return "neuron"
	case TokenSetKind:
		return "set"
	}
	return "ComponentKind(" + strconv.Itoa(int(k)) + ")"
}

// ParseComponentKind accepts "head", "neuron" and "set" (also the plurals
// and "tokens"), the words the CLI's --kind flag takes.
func ParseComponentKind(s string) (ComponentKind, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "head", "heads":
		return HeadKind, nil
	case "neuron", "neurons", "mlp":
		return NeuronKind, nil
	case "set", "sets", "tokens", "token-set", "tokenset":
		return TokenSetKind, nil
	}
	return 0, fmt.Errorf("notes: unknown component kind %s (want head, neuron or set)", untrusted.Quote(s))
}

// Part says which side of an MLP neuron a finding is about. A neuron's key
// (a row of the first FF matrix) says what the neuron reads; its value (a
// row of the second) says what it writes; researchers label them apart, and
// sometimes together.
type Part uint8

const (
	KeyPart   Part                  = 1 << iota // E·k: what the neuron responds to
	ValuePart                                   // E·v: what the neuron promotes
	BothParts = KeyPart | ValuePart             // a finding about key and value together
)

func (p Part) String() string {
	switch p {
	case KeyPart:
		return "K"
	case ValuePart:
		return "V"
	case BothParts:
		return "K+V"
	}
	return "Part(" + strconv.Itoa(int(p)) + ")"
}

// ParsePart accepts "K", "key", "V", "value", "K+V", "KV" and "both".
func ParsePart(s string) (Part, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "K", "KEY":
		return KeyPart, nil
	case "V", "VALUE":
		return ValuePart, nil
	case "K+V", "KV", "BOTH", "V+K":
		return BothParts, nil
	}
	return 0, fmt.Errorf("notes: unknown neuron part %s (want K, V or K+V)", untrusted.Quote(s))
}

// A Component is the thing a note is about: head 20.7 through W_OV, the
// value side of neuron L23/N907, or a named token set. Components are
// comparable values, so they can key maps; their String form ("20.7 OV",
// "L23/N907 V", "set:names") is what the notes file stores.
type Component struct {
	Kind  ComponentKind
	Layer int          // heads and neurons
	Index int          // head index or neuron index within the layer
	View  project.Kind // heads: OV or QK
	Part  Part         // neurons: KeyPart, ValuePart or BothParts
	Set   string       // token sets: the set's name
}

// Head is head id seen through view (project.OV or project.QK).
func Head(id project.HeadID, view project.Kind) Component {
	return Component{Kind: HeadKind, Layer: id.Layer, Index: id.Head, View: view}
}

// Neuron is one part of MLP neuron id.
func Neuron(id project.NeuronID, part Part) Component {
	return Component{Kind: NeuronKind, Layer: id.Layer, Index: id.Index, Part: part}
}

// TokenSet is the named token set name; the set's members live in the
// note (Note.Members), so the file stays readable without the model.
func TokenSet(name string) Component {
	return Component{Kind: TokenSetKind, Set: name}
}

// HeadID returns the head of a head component.
func (c Component) HeadID() project.HeadID { return project.HeadID{Layer: c.Layer, Head: c.Index} }

// NeuronID returns the neuron of a neuron component.
func (c Component) NeuronID() project.NeuronID {
	return project.NeuronID{Layer: c.Layer, Index: c.Index}
}

// String gives the canonical form: "20.7 OV", "L23/N907 K+V", "set:names".
func (c Component) String() string {
	switch c.Kind {
	case HeadKind:
		return c.HeadID().String() + " " + c.View.String()
	case NeuronKind:
		return c.NeuronID().String() + " " + c.Part.String()
	case TokenSetKind:
		return "set:" + c.Set
	}
	return "Component(" + strconv.Itoa(int(c.Kind)) + ")"
}

// Overlaps reports whether c and o are about the same weights: equal
// components, or two parts of one neuron that share a side (K+V overlaps
// K). Merges use it to find conflicting labels.
func (c Component) Overlaps(o Component) bool {
	if c.Kind != o.Kind {
		return false
	}
	switch c.Kind {
	case NeuronKind:
		return c.Layer == o.Layer && c.Index == o.Index && c.Part&o.Part != 0
	case TokenSetKind:
		return c.Set == o.Set
	}
	return c == o
}

// ParseComponent reads the canonical form written by String, and the
// variants people type: "20.7 OV", "20.7/ov", "20.7:W_QK", "L23/N907 V",
// "L23/N907:value", "set:names". A head needs its view and a neuron its
// part; use a Query's Component pattern to match several.
func ParseComponent(s string) (Component, error) {
	p, err := parsePattern(s)
	if err != nil {
		return Component{}, err
	}
	switch {
	case p.kind == TokenSetKind:
	case p.kind == HeadKind && p.hasIndex && p.hasView:
	case p.kind == NeuronKind && p.hasIndex && p.hasPart:
	case p.kind == HeadKind:
		return Component{}, fmt.Errorf("notes: component %s: a head needs its view, e.g. %q", untrusted.Quote(s), "20.7 OV")
	case p.kind == NeuronKind:
		return Component{}, fmt.Errorf("notes: component %s: a neuron needs its part, e.g. %q", untrusted.Quote(s), "L23/N907 V")
	default:
		return Component{}, fmt.Errorf("notes: component %s: want a head (20.7 OV), a neuron (L23/N907 V) or a token set (set:name)", untrusted.Quote(s))
	}
	return p.c, nil
}

// check reports whether c is a well-formed component of model m.
func (c Component) check(m Model) error {
	switch c.Kind {
	case HeadKind:
		if c.View != project.OV && c.View != project.QK {
			return fmt.Errorf("head %d.%d: unknown view %v", c.Layer, c.Index, c.View)
		}
		if c.Layer < 0 || c.Layer >= m.Layers {
			return fmt.Errorf("head %v: layer %d %w: model %s has layers 0..%d", c.HeadID(), c.Layer, ErrOutOfRange, m.name(), m.Layers-1)
		}
		if c.Index < 0 || c.Index >= m.Heads {
			return fmt.Errorf("head %v: head %d %w: model %s has heads 0..%d per layer", c.HeadID(), c.Index, ErrOutOfRange, m.name(), m.Heads-1)
		}
	case NeuronKind:
		if c.Part != KeyPart && c.Part != ValuePart && c.Part != BothParts {
			return fmt.Errorf("neuron %v: unknown part %v", c.NeuronID(), c.Part)
		}
		if c.Layer < 0 || c.Layer >= m.Layers {
			return fmt.Errorf("neuron %v: layer %d %w: model %s has layers 0..%d", c.NeuronID(), c.Layer, ErrOutOfRange, m.name(), m.Layers-1)
		}
		if c.Index < 0 || c.Index >= m.Neurons {
			return fmt.Errorf("neuron %v: neuron %d %w: model %s has neurons 0..%d per layer", c.NeuronID(), c.Index, ErrOutOfRange, m.name(), m.Neurons-1)
		}
	case TokenSetKind:
		return checkSetName(c.Set)
	default:
		return fmt.Errorf("unknown component kind %d", c.Kind)
	}
	return nil
}

const maxSetName = 100

func checkSetName(name string) error {
	if strings.TrimSpace(name) != name || name == "" {
		return fmt.Errorf("token set name %s: must be non-empty without surrounding spaces", untrusted.Quote(name))
	}
	if utf8.RuneCountInString(name) > maxSetName {
		return fmt.Errorf("token set name %s: longer than %d characters", untrusted.Quote(name), maxSetName)
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return fmt.Errorf("token set name %s: contains a control or invalid character", untrusted.Quote(name))
		}
	}
	return nil
}

// compare orders components the way the notes file lists them: heads, then
// neurons, then token sets; by layer, index, then view or part.
func (c Component) compare(o Component) int {
	if c.Kind != o.Kind {
		return cmpInt(int(c.Kind), int(o.Kind))
	}
	if c.Kind == TokenSetKind {
		return strings.Compare(c.Set, o.Set)
	}
	if d := cmpInt(c.Layer, o.Layer); d != 0 {
		return d
	}
	if d := cmpInt(c.Index, o.Index); d != 0 {
		return d
	}
	if d := cmpInt(int(c.View), int(o.View)); d != 0 {
		return d
	}
	return cmpInt(int(c.Part), int(o.Part))
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// pattern is a component with parts left open, for queries: "20.7" matches
// both views of head 20.7, "L23" every head and neuron of layer 23.
type pattern struct {
	c        Component
	kind     ComponentKind // 0: heads and neurons of a layer
	hasIndex bool
	hasView  bool
	hasPart  bool
}

func (p pattern) match(c Component) bool {
	if p.kind == TokenSetKind {
		return c.Kind == TokenSetKind && c.Set == p.c.Set
	}
	if c.Kind == TokenSetKind || c.Layer != p.c.Layer {
		return false
	}
	if p.kind != 0 && c.Kind != p.kind {
		return false
	}
	if p.hasIndex && c.Index != p.c.Index {
		return false
	}
	if p.hasView && c.View != p.c.View {
		return false
	}
	if p.hasPart && c.Part&p.c.Part == 0 {
		return false
	}
	return true
}

// parsePattern reads a full or partial component.
func parsePattern(s string) (pattern, error) {
	t := strings.TrimSpace(s)
	if name, ok := strings.CutPrefix(t, "set:"); ok {
		name = strings.TrimSpace(name)
		if err := checkSetName(name); err != nil {
			return pattern{}, fmt.Errorf("notes: component %s: %v", untrusted.Quote(s), err)
		}
		return pattern{c: TokenSet(name), kind: TokenSetKind}, nil
	}
	// Split off a trailing view or part: "20.7 OV", "20.7/OV", "20.7:OV",
	// "L23/N907 K", "L23/N907:K". Neurons use "/" inside the id, so only a
	// space or colon separates their part.
	id, suffix := t, ""
	if i := strings.LastIndexAny(t, " \t:"); i >= 0 {
		id, suffix = strings.TrimSpace(t[:i]), strings.TrimSpace(t[i+1:])
	} else if i := strings.LastIndex(t, "/"); i >= 0 && strings.Contains(t[:i], ".") {
		id, suffix = t[:i], t[i+1:] // "20.7/OV"
	}
	bad := func(why string) (pattern, error) {
		return pattern{}, fmt.Errorf("notes: bad component %s: %s (want e.g. 20.7 OV, L23/N907 V or set:name)", untrusted.Quote(s), why)
	}
	up := strings.ToUpper(id)
	switch {
	case strings.Contains(id, "."):
		h, err := project.ParseHead(id)
		if err != nil {
			return bad("head is layer.head")
		}
		p := pattern{c: Head(h, 0), kind: HeadKind, hasIndex: true}
		if suffix != "" {
			v, err := project.ParseKind(suffix)
			if err != nil {
				return bad("a head's view is OV or QK")
			}
			p.c.View, p.hasView = v, true
		}
		return p, nil
	case strings.HasPrefix(up, "L") && strings.Contains(up, "/"):
		n, err := project.ParseNeuron(id)
		if err != nil {
			return bad("neuron is L<layer>/N<index>")
		}
		p := pattern{c: Neuron(n, 0), kind: NeuronKind, hasIndex: true}
		if suffix != "" {
			part, err := ParsePart(suffix)
			if err != nil {
				return bad("a neuron's part is K, V or K+V")
			}
			p.c.Part, p.hasPart = part, true
		}
		return p, nil
	case strings.HasPrefix(up, "L") && suffix == "":
		l, err := strconv.Atoi(up[1:])
		if err != nil || l < 0 {
			return bad("layer is L<layer>")
		}
		return pattern{c: Component{Layer: l}}, nil
	}
	return bad("not a head, neuron, layer or token set")
}
