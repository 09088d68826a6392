package checkpoint

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// MaxPickle bounds the size of the pickle that describes a torch checkpoint
// (data.pkl). It holds names, shapes and storage keys, not tensor data: GPT-2
// medium's is about 30 KB, so 64 MiB leaves room for models with many
// thousands of tensors while keeping a hostile file from steering large
// allocations.
const MaxPickle = 64 << 20

// scanPickle walks the opcodes of one pickle at the start of p without
// building anything, and returns its length (through the STOP opcode).
//
// It exists because the unpickler (github.com/nlpodyssey/gopickle) trusts
// the lengths inside the stream: a BINBYTES8 or FRAME opcode claiming 2⁶³
// bytes makes it allocate that much before reading, and opcode 0xff indexes
// past its dispatch table. Checking every length against the bytes that are
// really there, and every opcode against the protocol's list, first means the
// unpickler only ever sees streams whose allocations are bounded by their own
// size.
func scanPickle(p []byte) (int, error) {
	i := 0
	need := func(n uint64) error {
		if n > uint64(len(p)-i) {
			return fmt.Errorf("%w: pickle opcode at byte %d needs %d bytes, %d left", ErrTruncated, i, n, len(p)-i)
		}
		return nil
	}
	line := func() error {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			return fmt.Errorf("%w: pickle opcode at byte %d: unterminated line", ErrTruncated, i)
		}
		i += j + 1
		return nil
	}
	for i < len(p) {
		op := p[i]
		start := i
		i++
		var n uint64 // fixed argument size, or length-prefix size
		length := false
		switch op {
		case '(', '.', '0', '1', '2', 'N', 'Q', 'R', 'a', 'b', 'd', '}', 'e', 'l', ']', 'o', 's', 't', ')', 'u',
			0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x97, 0x98:
			if op == '.' {
				return i, nil
			}
			continue
		case 'K', 'h', 'q', 0x82:
			n = 1
		case 0x80: // PROTO
			if err := need(1); err != nil {
				return 0, err
			}
			if p[i] > 5 {
				return 0, fmt.Errorf("%w: pickle protocol %d (at most 5 exists)", ErrMalformed, p[i])
			}
			n = 1
		case 'M', 0x83:
			n = 2
		case 'J', 'j', 'r', 0x84:
			n = 4
		case 'G':
			n = 8
		case 0x95: // FRAME: 8-byte length of the frame that follows
			if err := need(8); err != nil {
				return 0, err
			}
			if err := need(8 + binary.LittleEndian.Uint64(p[i:])); err != nil {
				return 0, err
			}
			n = 8
		case 'U', 'C', 0x8c, 0x8a: // 1-byte length prefix
			n, length = 1, true
		case 'T', 'B', 'X', 0x8b: // 4-byte length prefix
			n, length = 4, true
		case 0x8d, 0x8e, 0x96: // 8-byte length prefix
			n, length = 8, true
		case 'I', 'L', 'S', 'V', 'F', 'g', 'p', 'P':
			if err := line(); err != nil {
				return 0, err
			}
			continue
		case 'i', 'c': // INST, GLOBAL: module and name lines
			if err := line(); err != nil {
				return 0, err
			}
			if err := line(); err != nil {
				return 0, err
			}
			continue
		default:
			return 0, fmt.Errorf("%w: unknown pickle opcode 0x%02x at byte %d", ErrMalformed, op, start)
		}
		if err := need(n); err != nil {
			return 0, err
		}
		if length {
			var l uint64
			switch n {
			case 1:
				l = uint64(p[i])
			case 4:
				v := int32(binary.LittleEndian.Uint32(p[i:]))
				if v < 0 {
					return 0, fmt.Errorf("%w: negative length %d in pickle at byte %d", ErrMalformed, v, start)
				}
				l = uint64(v)
			case 8:
				l = binary.LittleEndian.Uint64(p[i:])
			}
			i += int(n)
			if err := need(l); err != nil {
				return 0, err
			}
			i += int(l)
			continue
		}
		i += int(n)
	}
	return 0, fmt.Errorf("%w: pickle ends without STOP", ErrTruncated)
}
