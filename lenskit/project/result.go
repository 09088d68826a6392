package project

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind names a head's vocabulary view.
type Kind int

const (
	// OV is E·W_V·W_O·Eᵀ: row = source token (the token attended to),
	// column = target token (the token the head writes towards).
	OV Kind = iota
	// QK is E·W_Q·W_Kᵀ·Eᵀ: row = query token, column = key token.
	QK
)

func (k Kind) String() string {
	switch k {
	case OV:
		return "OV"
	case QK:
		return "QK"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind accepts "ov", "OV", "W_OV", "qk", "QK", "W_QK".
func ParseKind(s string) (Kind, error) {
	switch strings.ToUpper(strings.TrimPrefix(strings.TrimPrefix(s, "W_"), "w_")) {
	case "OV", "VO":
		return OV, nil
	case "QK":
		return QK, nil
	}
	return 0, fmt.Errorf("project: unknown view %q (want OV or QK)", s)
}

// Side names one column of a neuron projection. A plain MLP neuron (GPT-2,
// GPT-NeoX) has a key and a value; a gated one (SwiGLU, GeGLU) reads with a
// gate and an up projection and writes one value.
type Side int

const (
	Key      Side = iota // top tokens of W_E·k
	Value                // top tokens of W_U·v
	NegKey               // top tokens of −W_E·k
	NegValue             // top tokens of −W_U·v
	Gate                 // top tokens of W_E·g (gated MLPs)
	Up                   // top tokens of W_E·u (gated MLPs)
	NegGate              // top tokens of −W_E·g
	NegUp                // top tokens of −W_E·u
	NumSides             // the number of sides
)

// Sides lists a plain neuron's four columns in display order; GatedSides a
// gated neuron's six.
var (
	Sides      = []Side{Key, Value, NegKey, NegValue}
	GatedSides = []Side{Gate, Up, Value, NegGate, NegUp, NegValue}
)

// Negated reports whether s is the top of a negated projection.
func (s Side) Negated() bool { return s == NegKey || s == NegValue || s == NegGate || s == NegUp }

// Reads reports whether s is a read direction (key, gate or up, either sign).
func (s Side) Reads() bool { return s != Value && s != NegValue }

func (s Side) String() string {
	if s >= 0 && s < NumSides {
		return [...]string{"K", "V", "-K", "-V", "gate", "up", "-gate", "-up"}[s]
	}
	return "Side(" + strconv.Itoa(int(s)) + ")"
}

// ParseSide accepts the names String gives ("K", "-gate", …), in any case.
func ParseSide(name string) (Side, error) {
	for s := range NumSides {
		if strings.EqualFold(s.String(), name) {
			return s, nil
		}
	}
	return 0, fmt.Errorf("project: unknown neuron column %q (want K, V, -K, -V, gate, up, -gate or -up)", name)
}

// Token is one vocabulary entry and its score in a projection.
type Token struct {
	ID    int
	Score float32
}

// Pair is one entry of a head's V×V view. For OV, Source is the token read
// and Target the token written; for QK, Source is the query token and Target
// the key token.
type Pair struct {
	Source, Target int
	Score          float32
}

// HeadID names attention head Layer.Head, written "20.7" as in the
// literature.
type HeadID struct{ Layer, Head int }

func (h HeadID) String() string { return fmt.Sprintf("%d.%d", h.Layer, h.Head) }

// NeuronID names MLP neuron Index of Layer, written "L23/N907".
type NeuronID struct{ Layer, Index int }

func (n NeuronID) String() string { return fmt.Sprintf("L%d/N%d", n.Layer, n.Index) }

// ParseHead parses "20.7".
func ParseHead(s string) (HeadID, error) {
	l, h, ok := strings.Cut(s, ".")
	li, err1 := strconv.Atoi(l)
	hi, err2 := strconv.Atoi(h)
	if !ok || err1 != nil || err2 != nil || li < 0 || hi < 0 {
		return HeadID{}, fmt.Errorf("project: bad head %q (want layer.head, e.g. 20.7)", s)
	}
	return HeadID{li, hi}, nil
}

// ParseNeuron parses "L23/N907" (also "23/907" and "23.907").
func ParseNeuron(s string) (NeuronID, error) {
	t := strings.ToUpper(s)
	l, n, ok := strings.Cut(t, "/")
	if !ok {
		l, n, ok = strings.Cut(t, ".")
	}
	li, err1 := strconv.Atoi(strings.TrimPrefix(l, "L"))
	ni, err2 := strconv.Atoi(strings.TrimPrefix(n, "N"))
	if !ok || err1 != nil || err2 != nil || li < 0 || ni < 0 {
		return NeuronID{}, fmt.Errorf("project: bad neuron %q (want L<layer>/N<index>, e.g. L23/N907)", s)
	}
	return NeuronID{li, ni}, nil
}

// NeuronTop is the vocabulary projection of one MLP neuron (the seed
// notebook's display_top_tokens): the k highest-scoring tokens of W_E·k,
// W_U·v, −W_E·k and −W_U·v among the tokens the filter keeps — for a gated
// neuron W_E·g and W_E·u in place of the key. Scores of the negated columns
// are reported as computed, i.e. as values of −W_E·k and so on.
type NeuronTop struct {
	Neuron     NeuronID
	K          int
	Gated      bool              // gate and up columns instead of K
	Columns    [NumSides][]Token // indexed by Side; the sides of the other MLP kind are empty
	Filter     string            // description of the token filter, recorded as evidence
	Processing string            // weight processing ("" for raw weights), recorded as evidence
}

// Sides returns the neuron's columns in display order: K, V, −K, −V, or
// gate, up, V, −gate, −up, −V.
func (n *NeuronTop) Sides() []Side {
	if n.Gated {
		return GatedSides
	}
	return Sides
}

// PairTop is the top (or bottom) k entries of a head view among the tokens
// and pairs the filters keep, ordered by score (descending for top,
// ascending for bottom), ties broken by Source then Target id.
type PairTop struct {
	Head       HeadID
	Kind       Kind
	KV         int  // the KV head the query head reads (= Head.Head without grouped-query attention)
	GQA        bool // the model groups query heads over fewer KV heads: results name the group
	Offset     int  // QK of a rotary model: query position − key position (δ)
	K          int
	Bottom     bool
	Pairs      []Pair
	Filter     string // description of the token and pair filters
	Processing string // weight processing ("" for raw weights)
	Stats      Stats  // work the search did; zero for results loaded from notes
}

// Title names the view as researchers write it: "2.4 W_OV", "12.7 · kv 12.1
// W_QK δ=1".
func (p *PairTop) Title() string {
	s := p.Head.String()
	if p.GQA {
		s += fmt.Sprintf(" · kv %d.%d", p.Head.Layer, p.KV)
	}
	s += " W_" + p.Kind.String()
	if p.Offset != 0 {
		s += fmt.Sprintf(" δ=%d", p.Offset)
	}
	return s
}

// Stats reports how much of the dense product a search actually computed.
type Stats struct {
	Rows, Cols   int     // filtered vocabulary on each side
	DenseFLOPs   float64 // 2·Rows·Cols·d_head: what brute force would spend
	SpentFLOPs   float64 // multiply-adds × 2 actually executed, bounds included
	Candidates   int64   // entries rescored exactly
	Engine       string  // which engine ran the search
	RankFallback bool    // rotation skipped (ill-conditioned factors)
}

// Fraction is the share of the dense product's FLOPs the search spent.
func (s Stats) Fraction() float64 {
	if s.DenseFLOPs == 0 {
		return 0
	}
	return s.SpentFLOPs / s.DenseFLOPs
}
