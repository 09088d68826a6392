package checkpoint

import (
	"math"
	"testing"
)

// Every half value converts to float32 and back to the same bits (NaNs stay
// NaN), which pins F16ToF32 and F32ToF16 to each other over the whole range,
// subnormals included.
func TestF16RoundTripAllValues(t *testing.T) {
	for h := range 1 << 16 {
		f := F16ToF32(uint16(h))
		back := F32ToF16(f)
		if math.IsNaN(float64(f)) {
			if back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("NaN %#04x came back as %#04x", h, back)
			}
			continue
		}
		if back != uint16(h) {
			t.Fatalf("%#04x → %v → %#04x", h, f, back)
		}
	}
}

func TestBF16RoundTripAllValues(t *testing.T) {
	for h := range 1 << 16 {
		f := BF16ToF32(uint16(h))
		back := F32ToBF16(f)
		if math.IsNaN(float64(f)) {
			if !math.IsNaN(float64(BF16ToF32(back))) {
				t.Fatalf("NaN %#04x came back as %#04x", h, back)
			}
			continue
		}
		if back != uint16(h) {
			t.Fatalf("%#04x → %v → %#04x", h, f, back)
		}
	}
}

func TestF32ToHalfRounding(t *testing.T) {
	for _, c := range []struct {
		in   float32
		f16  uint16
		bf16 uint16
	}{
		{1, 0x3c00, 0x3f80},
		{-2, 0xc000, 0xc000},
		{65504, 0x7bff, 0x4780}, // largest half
		{65520, 0x7c00, 0x4780}, // rounds up to +Inf in half
		{1e-8, 0x0000, 0x322c},  // below half's smallest subnormal/2
		{5.9604645e-8, 0x0001, 0x3380},
		// 1 + 2^-11 is halfway between 1 and the next half: ties to even (1).
		{1 + 1.0/2048, 0x3c00, 0x3f80},
		// 1 + 3·2^-11 is halfway between two halves; even is 1 + 2^-9.
		{1 + 3.0/2048, 0x3c02, 0x3f80},
		// 1 + 2^-8 is halfway between bf16 1 and 1 + 2^-7: ties to even (1).
		{1 + 1.0/256, 0x3c04, 0x3f80},
		{float32(math.Inf(-1)), 0xfc00, 0xff80},
	} {
		if got := F32ToF16(c.in); got != c.f16 {
			t.Errorf("F32ToF16(%v) = %#04x, want %#04x", c.in, got, c.f16)
		}
		if got := F32ToBF16(c.in); got != c.bf16 {
			t.Errorf("F32ToBF16(%v) = %#04x, want %#04x", c.in, got, c.bf16)
		}
	}
}

func TestNumElementsOverflow(t *testing.T) {
	if _, err := numElements([]int{1 << 40, 1 << 40}, maxElements); err == nil {
		t.Error("2^80 elements accepted")
	}
	if _, err := numElements([]int{3, -1}, maxElements); err == nil {
		t.Error("negative dimension accepted")
	}
	if n, err := numElements([]int{0, 1 << 62}, maxElements); err != nil || n != 0 {
		t.Errorf("zero dimension: %d, %v", n, err)
	}
	if n, err := numElements(nil, maxElements); err != nil || n != 1 {
		t.Errorf("scalar: %d, %v", n, err)
	}
}
