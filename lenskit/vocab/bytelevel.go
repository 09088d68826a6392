package vocab

// GPT-2's byte-level BPE does not work on bytes directly: every byte is first
// replaced by a printable Unicode character, so that vocabulary entries are
// printable strings. Bytes that are already printable Latin-1 characters map
// to themselves; the other 68 (controls, space, DEL, NBSP, soft hyphen) map to
// U+0100 and up, in byte order. That is why a leading space shows as "Ġ"
// (U+0120, the image of 0x20) and a newline as "Ċ" (U+010A). The table is the
// one in OpenAI's encoder.py (bytes_to_unicode) and in Hugging Face's
// ByteLevel pre-tokenizer.

// byteRune[b] is the printable character that stands for byte b.
var byteRune [256]rune

// runeByte maps a byte-level character back to its byte; runeByteOK says
// whether the character is one of the 256 images at all. The images all lie
// below U+0144, so two small arrays replace a map on the hot decode path.
var (
	runeByte   [0x144]byte
	runeByteOK [0x144]bool
)

func init() {
	n := 0
	for b := 0; b < 256; b++ {
		r := rune(b)
		if !(b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF) {
			r = rune(256 + n)
			n++
		}
		byteRune[b] = r
		runeByte[r] = byte(b)
		runeByteOK[r] = true
	}
}

// decodeByteLevel turns a byte-level vocabulary entry back into the bytes it
// stands for. ok is false when the entry contains a character that is not a
// byte image; Hugging Face's ByteLevel decoder then keeps the entry's own
// UTF-8 bytes, and so do we (see Vocab.Bytes).
func decodeByteLevel(raw string) (b []byte, ok bool) {
	out := make([]byte, 0, len(raw))
	for _, r := range raw {
		if r < 0 || int(r) >= len(runeByteOK) || !runeByteOK[r] {
			return nil, false
		}
		out = append(out, runeByte[r])
	}
	return out, true
}

// appendByteLevelDecoded appends the bytes of a byte-level entry, or the
// entry's own UTF-8 when it is not all byte images (see decodeByteLevel).
func appendByteLevelDecoded(dst []byte, raw string) []byte {
	start := len(dst)
	for _, r := range raw {
		if r < 0 || int(r) >= len(runeByteOK) || !runeByteOK[r] {
			return append(dst[:start], raw...)
		}
		dst = append(dst, runeByte[r])
	}
	return dst
}

// encodeByteLevel is the inverse of decodeByteLevel: the vocabulary spelling
// of a byte string.
func encodeByteLevel(b []byte) string {
	out := make([]rune, len(b))
	for i, c := range b {
		out[i] = byteRune[c]
	}
	return string(out)
}
