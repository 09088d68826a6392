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

// Side names one of the four columns of a neuron projection.
type Side int

const (
	Key      Side = iota // top tokens of E·k
	Value                // top tokens of E·v
	NegKey               // top tokens of −E·k
	NegValue             // top tokens of −E·v
)

// Sides lists the four columns in display order.
var Sides = [4]Side{Key, Value, NegKey, NegValue}

func (s Side) String() string {
	switch s {
	case Key:
		return "K"
	case Value:
		return "V"
	case NegKey:
		return "-K"
	case NegValue:
		return "-V"
	}
	return "Side(" + strconv.Itoa(int(s)) + ")"
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

// NeuronTop is the four-column vocabulary projection of one MLP neuron
// (the seed notebook's display_top_tokens): the k highest-scoring tokens of
// E·k, E·v, −E·k and −E·v among the tokens the filter keeps. Scores of the
// negated columns are reported as computed, i.e. as values of −E·k and −E·v.
type NeuronTop struct {
	Neuron  NeuronID
	K       int
	Columns [4][]Token // indexed by Side
	Filter  string     // description of the token filter, recorded as evidence
}

// PairTop is the top (or bottom) k entries of a head view among the tokens
// and pairs the filters keep, ordered by score (descending for top,
// ascending for bottom), ties broken by Source then Target id.
type PairTop struct {
	Head   HeadID
	Kind   Kind
	K      int
	Bottom bool
	Pairs  []Pair
	Filter string // description of the token and pair filters
	Stats  Stats  // work the search did; zero for results loaded from notes
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
