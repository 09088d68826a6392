package notes

import (
	"strings"
	"testing"

	"lenskit.dev/lenskit/project"
)

func TestParseComponent(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"20.7 OV", "20.7 OV"},
		{"20.7/qk", "20.7 QK"},
		{"20.7:W_OV", "20.7 OV"},
		{" 0.0   QK ", "0.0 QK"},
		{"L23/N907 V", "L23/N907 V"},
		{"l23/n907:value", "L23/N907 V"},
		{"L23/N907 K+V", "L23/N907 K+V"},
		{"L0/N0 both", "L0/N0 K+V"},
		{"set:swear words", "set:swear words"},
		{"set: imiona ", "set:imiona"},
	} {
		c, err := ParseComponent(tc.in)
		if err != nil {
			t.Errorf("ParseComponent(%q): %v", tc.in, err)
			continue
		}
		if c.String() != tc.want {
			t.Errorf("ParseComponent(%q) = %v, want %v", tc.in, c, tc.want)
		}
		if back, err := ParseComponent(c.String()); err != nil || back != c {
			t.Errorf("round trip of %v: %v, %v", c, back, err)
		}
	}
	for _, tc := range []struct{ in, msg string }{
		{"", "not a head"},
		{"20.7", "needs its view"},
		{"L23/N907", "needs its part"},
		{"L23", "want a head"},
		{"20.7 XY", "view is OV or QK"},
		{"L23/N907 Q", "part is K, V or K+V"},
		{"20.x OV", "layer.head"},
		{"-1.2 OV", "layer.head"},
		{"L2/Nx K", "L<layer>/N<index>"},
		{"set:", "non-empty"},
		{"set:a\tb", "control"},
		{"neuron 5", "not a head"},
	} {
		if c, err := ParseComponent(tc.in); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseComponent(%q) = %v, %v; want an error with %q", tc.in, c, err, tc.msg)
		}
	}
}

func TestPatternMatch(t *testing.T) {
	comps := []Component{
		Head(project.HeadID{Layer: 2, Head: 3}, project.OV),
		Head(project.HeadID{Layer: 2, Head: 3}, project.QK),
		Head(project.HeadID{Layer: 2, Head: 4}, project.OV),
		Neuron(project.NeuronID{Layer: 2, Index: 3}, KeyPart),
		Neuron(project.NeuronID{Layer: 2, Index: 3}, BothParts),
		Neuron(project.NeuronID{Layer: 1, Index: 3}, ValuePart),
		TokenSet("names"),
	}
	for _, tc := range []struct {
		pattern string
		want    string // indexes of matching comps
	}{
		{"2.3", "01"},
		{"2.3 QK", "1"},
		{"L2/N3", "34"},
		{"L2/N3 V", "4"},
		{"L2/N3 K", "34"},
		{"L2", "01234"},
		{"L1", "5"},
		{"set:names", "6"},
		{"set:other", ""},
	} {
		p, err := parsePattern(tc.pattern)
		if err != nil {
			t.Fatalf("parsePattern(%q): %v", tc.pattern, err)
		}
		got := ""
		for i, c := range comps {
			if p.match(c) {
				got += string(rune('0' + i))
			}
		}
		if got != tc.want {
			t.Errorf("pattern %q matches %q, want %q", tc.pattern, got, tc.want)
		}
	}
}

func TestComponentOrderAndOverlap(t *testing.T) {
	ordered := []string{"0.0 OV", "0.0 QK", "0.1 OV", "1.0 OV", "L0/N5 K", "L0/N5 V", "L0/N5 K+V", "L0/N6 K", "L1/N0 K", "set:a", "set:b"}
	for i := 1; i < len(ordered); i++ {
		a, _ := ParseComponent(ordered[i-1])
		b, _ := ParseComponent(ordered[i])
		if a.compare(b) >= 0 || b.compare(a) <= 0 {
			t.Errorf("%v should sort before %v", a, b)
		}
	}
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"L0/N5 K", "L0/N5 K+V", true},
		{"L0/N5 K", "L0/N5 V", false},
		{"0.0 OV", "0.0 QK", false},
		{"0.0 OV", "0.0 OV", true},
		{"set:a", "set:a", true},
		{"set:a", "0.0 OV", false},
	} {
		a, _ := ParseComponent(tc.a)
		b, _ := ParseComponent(tc.b)
		if a.Overlaps(b) != tc.want {
			t.Errorf("%v overlaps %v = %v, want %v", a, b, !tc.want, tc.want)
		}
	}
}
