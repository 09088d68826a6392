package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// MaxPickle bounds the size of the pickle that describes a torch checkpoint
// (data.pkl). It holds names, shapes and storage keys, not tensor data: GPT-2
// medium's is about 30 KB, so 64 MiB leaves room for models with many
// thousands of tensors while keeping a hostile file from steering large
// allocations.
const MaxPickle = 64 << 20

// MaxPickleMemory bounds what unpickling one pickle may allocate (and the
// work of hashing and printing the strings it builds), whatever its size.
// Below that, the allowance grows with the pickle: 1 MiB plus 128 bytes per
// byte of pickle (see pickleBudget). Unpickling a real state dict allocates
// about 20 bytes per pickle byte — a storage tuple, a size and a stride
// tuple, a rebuild call, an OrderedDict and a dozen memo entries per tensor,
// in about 80 bytes of pickle — which scanPickle's per-opcode upper bounds
// estimate at about 50; one-byte opcodes such as MARK or EMPTY_DICT make
// gopickle allocate 150 to 400 bytes each: without a bound, the 64 MiB
// MaxPickle let a pickle of MARKs take 15 GB.
const MaxPickleMemory = 512 << 20

const (
	pickleMemoryBase    = 1 << 20
	pickleMemoryPerByte = 128
	// maxPickleDims bounds the size and stride tuples of one tensor
	// (state-dict tensors have at most 5 dimensions).
	maxPickleDims = 32
	// maxPickleNumber bounds the bytes of a text-encoded number (opcodes
	// I, L, F) and of a LONG4 integer: converting a long decimal or
	// little-endian integer to a big.Int costs time quadratic in its
	// length, and state dicts hold small numbers only.
	maxPickleNumber = 256
)

// pickleBudget is how many bytes unpickling a pickle of n bytes may
// allocate, and how many bytes of strings it may hash or print.
func pickleBudget(n int) int64 {
	return min(MaxPickleMemory, pickleMemoryBase+pickleMemoryPerByte*int64(n))
}

// What gopickle v0.2.0 allocates, in bytes, rounded up; scanPickle charges
// these per opcode (see TestPickleCostModel, which checks them against the
// allocations the Go runtime counts while gopickle runs).
const (
	costLoad      = 32 << 10            // an Unpickler: memo map sized for 384 entries, the first stacks
	costBox       = 16                  // a boxed number or slice header
	costHeader    = 32                  // a container's header (*Tuple, *List …)
	costEmptyList = 96                  // make(List, 0, 4) and its header
	costEmptyDict = 160                 // make(Dict, 0, 4) and its header
	costEmptySet  = 160                 // make(Set, 4): a one-group map
	costMark      = 256 + 128           // a fresh 16-slot stack and its metaStack entry, with growth
	costMemo      = 96                  // a new memo key: one map[int]any slot, with growth
	costDictPair  = 192                 // a pair set in a Dict (slot, growth) or an OrderedDict (entry, list element, map slot)
	costListElem  = 96                  // an element appended to a List (slot, growth)
	costSetElem   = 64                  // an element added to a Set or FrozenSet
	costPyDict    = 64                  // per element of a BUILD state: an attribute map slot
	costCall      = 704                 // a call of an allowed class: rebuild_tensor_v2 (two ≤ 32-dim int slices and the tensor) or OrderedDict() (three maps)
	costPersist   = 512                 // a storage reference: storageRef, two map entries, the zip entry name
	costElemPrint = 32                  // what printing a non-string element of a container with %#v writes
	costFrame     = 64                  // a FRAME's bytes.Reader, beside its buffer
	costBigInt    = 2 * maxPickleNumber // a decimal LONG line as a big.Int
)

// allocSize is what the Go allocator hands out for n bytes: small sizes
// round up to a size class (at most 1/8 more), large ones to 8 KiB pages.
func allocSize(n int64) int64 {
	if n <= 32<<10 {
		return n + n/8 + 16
	}
	return n + 8<<10
}

// growCap is append's new capacity for a full slice of capacity c
// (runtime.nextslicecap for one more element).
func growCap(c int64) int64 {
	if c < 256 {
		return max(2*c, 1)
	}
	return c + (c+3*256)/4
}

// A pval is what scanPickle knows about one value on the unpickler's stack
// or in its memo.
type pval struct {
	size int32 // bytes that hashing or printing it touches: a string's length, a bytes value printed as []byte{0x..}, … (at most 6·MaxPickle)
	obj  int32 // 1 + index into pickleScan.objs if it is (or may be) a container; fresh (-1) for a new empty one; else 0
}

// fresh marks a container just made empty (EMPTY_DICT, a call's result) and
// held only by its stack slot: it gets an entry in pickleScan.objs only when
// something is put into it or a second reference is made (DUP, PUT), so
// that a pickle of millions of EMPTY_DICTs costs the scan 8 bytes each.
const fresh = -1

// A pobj is a container built by the pickle: how many elements went in, and
// what printing it with %#v (as gopickle's error messages do) or hashing
// its keys would touch.
type pobj struct {
	items int64
	size  int64
}

// A pickleScan is the state of scanPickle's abstract run of the unpickler.
type pickleScan struct {
	p      []byte
	pos    int // of the opcode being scanned
	stack  []pval
	marks  []frameMark
	cap    int64 // gopickle's capacity of the current frame
	memo   pmemo
	objs   []pobj
	budget int64 // pickleBudget(len(p)): the scan stops past it

	mem, work int64
	pushes    int64
	opMem     [256]int64 // memory charged per opcode, for the error message
	opWork    [256]int64 // work charged per opcode
	opCount   [256]int64
}

// scanPickle walks the opcodes of one pickle at the start of p without
// building anything, and returns its length (through the STOP opcode).
//
// It exists because the unpickler (github.com/nlpodyssey/gopickle) trusts
// the stream. A BINBYTES8 or FRAME opcode claiming 2⁶³ bytes makes it
// allocate that much before reading, and opcode 0xff indexes past its
// dispatch table; so every length is checked against the bytes really there
// and every opcode against the protocol's list. And cheap opcodes build
// expensive things: each MARK allocates a 256-byte stack, each EMPTY_DICT
// 160 bytes, a DUP'ed reference to a long string is hashed again by every
// dict it is inserted into and printed in full by gopickle's error messages.
// So the scan also runs the unpickler abstractly — the stack, MARK frames and
// memo hold sizes instead of values — and charges each opcode what gopickle
// allocates for it (the cost constants above) and the string bytes it
// hashes or may print. A pickle whose charges exceed pickleBudget of its
// length is refused with ErrLimit before gopickle sees it, naming the opcode
// that dominates; so are numbers longer than maxPickleNumber bytes and
// pickles longer than MaxPickle. Stack underflows, which gopickle would
// refuse too, are ErrMalformed here.
//
// A pre-scan rather than a counting wrapper around gopickle's machine:
// gopickle's Unpickler keeps its stack and memo unexported and allocates
// inside each opcode, so a wrapper could only count after the fact. The scan
// refuses a bomb having allocated a small fraction of what the unpickler
// would (its own stack entries are 16 bytes where gopickle's objects are
// 100–300), and it stops as soon as the charges pass the budget.
func scanPickle(p []byte) (int, error) {
	n, _, err := scanPickleCost(p)
	return n, err
}

// scanPickleCost is scanPickle, also returning its estimate of what
// unpickling allocates (for TestPickleCostModel).
func scanPickleCost(p []byte) (n int, mem int64, err error) {
	cut := len(p) > MaxPickle+1
	if cut {
		p = p[:MaxPickle+1] // a pickle longer than that is refused anyway
	}
	s := &pickleScan{p: p, cap: 16, budget: pickleBudget(len(p))}
	s.mem = costLoad
	n, err = s.run()
	if cut && errors.Is(err, ErrTruncated) {
		err = fmt.Errorf("%w: no end of pickle within the first %d bytes", ErrLimit, MaxPickle)
	}
	if err != nil {
		return 0, s.mem, err
	}
	if n > MaxPickle {
		return 0, s.mem, fmt.Errorf("%w: pickle of more than %d bytes", ErrLimit, MaxPickle)
	}
	if err := s.over(n); err != nil {
		return 0, s.mem, err
	}
	return n, s.mem, nil
}

func (s *pickleScan) run() (int, error) {
	p := s.p
	i := 0
	need := func(n uint64) error {
		if n > uint64(len(p)-i) {
			return fmt.Errorf("%w: pickle opcode at byte %d needs %d bytes, %d left", ErrTruncated, i, n, len(p)-i)
		}
		return nil
	}
	// line skips a newline-terminated argument and returns its length.
	line := func() (int64, error) {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			return 0, fmt.Errorf("%w: pickle opcode at byte %d: unterminated line", ErrTruncated, i)
		}
		i += j + 1
		return int64(j), nil
	}
	// lineCost is readLine's appends from a 32-byte buffer, then the
	// string conversion and its box.
	lineCost := func(n int64) int64 { return 4*n + 64 + allocSize(n) + costBox }
	for i < len(p) {
		op := p[i]
		s.pos = i
		i++
		s.opCount[op]++
		before, beforeWork := s.mem, s.work
		var err error
		switch op {
		case '.': // STOP
			if _, err = s.pop(); err != nil {
				return 0, err
			}
			s.opMem[op] += s.mem - before
			return i, nil
		case '(': // MARK
			s.mark()
		case '0': // POP: an empty frame pops its mark instead
			if len(s.stack) == s.frameStart() {
				_, err = s.popMark()
			} else {
				_, err = s.pop()
			}
		case '1': // POP_MARK
			_, err = s.popMark()
		case '2': // DUP
			var v pval
			if v, err = s.shareTop(); err == nil {
				s.push(v)
			}
		case 'N', 0x88, 0x89: // NONE, NEWTRUE, NEWFALSE
			s.push(pval{})
		case ')': // EMPTY_TUPLE
			s.pushFresh(costHeader)
		case ']': // EMPTY_LIST
			s.pushFresh(costEmptyList)
		case '}': // EMPTY_DICT
			s.pushFresh(costEmptyDict)
		case 0x8f: // EMPTY_SET
			s.pushFresh(costEmptySet)
		case 't', 'l', 0x91, 'd': // TUPLE, LIST, FROZENSET, DICT: the frame becomes a container
			var items []pval
			if items, err = s.popMark(); err != nil {
				break
			}
			n, size := s.elements(items)
			cost := int64(costHeader) // TUPLE and LIST keep the frame's slice
			switch op {
			case 0x91:
				cost = costEmptySet + n*costSetElem
			case 'd':
				cost = costEmptyDict + (n+1)/2*costDictPair
			}
			s.pushObj(cost, n, size)
		case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
			k := int(op - 0x84)
			if len(s.stack)-s.frameStart() < k {
				return 0, s.underflow()
			}
			items := s.stack[len(s.stack)-k:]
			n, size := s.elements(items)
			s.stack = s.stack[:len(s.stack)-k]
			s.pushObj(allocSize(16*n)+costHeader, n, size)
		case 'u', 0x90, 'e': // SETITEMS, ADDITEMS, APPENDS: the frame goes into the container below its mark
			var items []pval
			if items, err = s.popMark(); err != nil {
				break
			}
			var target pval
			if target, err = s.pop(); err != nil {
				break
			}
			n, size := s.elements(items)
			switch op {
			case 'u':
				s.mem += (n + 1) / 2 * costDictPair
			case 0x90:
				s.mem += n * costSetElem
			case 'e':
				s.mem += n * costListElem
			}
			s.settle(&target)
			s.grow(target, n, size)
			s.push(target)
		case 's', 'a': // SETITEM, APPEND
			k := 2
			if op == 'a' {
				k = 1
			}
			if len(s.stack)-s.frameStart() < k+1 {
				return 0, s.underflow()
			}
			items := s.stack[len(s.stack)-k:]
			n, size := s.elements(items)
			s.stack = s.stack[:len(s.stack)-k]
			if op == 's' {
				s.mem += costDictPair
			} else {
				s.mem += costListElem
			}
			target := &s.stack[len(s.stack)-1]
			s.settle(target)
			s.grow(*target, n, size)
		case 'b': // BUILD: the state's entries go into the instance's attributes
			var state pval
			if state, err = s.pop(); err != nil {
				break
			}
			if _, err = s.top(); err != nil {
				break
			}
			if o := s.obj(state); o != nil {
				s.mem += o.items * costPyDict
				s.work += o.size
			}
		case 'R', 0x81: // REDUCE, NEWOBJ: callable and argument tuple
			if _, err = s.pop(); err != nil {
				break
			}
			if _, err = s.pop(); err != nil {
				break
			}
			s.call()
		case 0x92: // NEWOBJ_EX: gopickle copies the argument tuple
			if _, err = s.pop(); err != nil {
				break
			}
			var args pval
			if args, err = s.pop(); err != nil {
				break
			}
			if _, err = s.pop(); err != nil {
				break
			}
			if o := s.obj(args); o != nil {
				s.mem += allocSize(16 * (o.items + 1))
				s.work += o.items
			}
			s.call()
		case 'o': // OBJ: class and arguments in the frame
			if _, err = s.popMark(); err == nil {
				s.call()
			}
		case 'Q': // BINPERSID: the storage tuple, resolved by ParseTorch
			var pid pval
			if pid, err = s.pop(); err != nil {
				break
			}
			s.mem += costPersist
			if o := s.obj(pid); o != nil {
				s.mem += 2 * o.size
				s.work += o.size
			}
			s.pushFresh(0)
		case 0x93: // STACK_GLOBAL
			if _, err = s.pop(); err != nil {
				break
			}
			if _, err = s.pop(); err != nil {
				break
			}
			s.mem += costBox
			s.push(pval{})
		case 'h', 'j': // BINGET, LONG_BINGET
			n := uint64(1)
			if op == 'j' {
				n = 4
			}
			if err = need(n); err != nil {
				return 0, err
			}
			var key int64
			if op == 'h' {
				key = int64(p[i])
			} else {
				key = int64(binary.LittleEndian.Uint32(p[i:]))
				s.mem += costBox
			}
			i += int(n)
			s.push(s.memo.get(key))
		case 'q', 'r': // BINPUT, LONG_BINPUT
			n := uint64(1)
			if op == 'r' {
				n = 4
			}
			if err = need(n); err != nil {
				return 0, err
			}
			var key int64
			if op == 'q' {
				key = int64(p[i])
			} else {
				key = int64(binary.LittleEndian.Uint32(p[i:]))
				s.mem += costBox
			}
			i += int(n)
			err = s.put(key)
		case 0x94: // MEMOIZE
			err = s.put(s.memo.n)
		case 'K': // BININT1: small ints are not boxed
			if err = need(1); err != nil {
				return 0, err
			}
			i++
			s.push(pval{})
		case 'M', 'J', 'G': // BININT2, BININT, BINFLOAT: read buffer and box
			n := uint64(8)
			switch op {
			case 'M':
				n = 2
			case 'J':
				n = 4
			}
			if err = need(n); err != nil {
				return 0, err
			}
			i += int(n)
			s.mem += 2 * costBox
			s.push(pval{})
		case 0x80: // PROTO
			if err = need(1); err != nil {
				return 0, err
			}
			if p[i] > 5 {
				return 0, fmt.Errorf("%w: pickle protocol %d (at most 5 exists)", ErrMalformed, p[i])
			}
			i++
		case 0x95: // FRAME: 8-byte length of the frame that follows, read into one buffer
			if err = need(8); err != nil {
				return 0, err
			}
			l := binary.LittleEndian.Uint64(p[i:])
			if err = need(8 + l); err != nil {
				return 0, err
			}
			i += 8
			s.mem += allocSize(int64(l)) + costFrame
		case 0x8a, 0x8b: // LONG1, LONG4: little-endian integer, a big.Int past 8 bytes
			n := uint64(1)
			if op == 0x8b {
				n = 4
			}
			if err = need(n); err != nil {
				return 0, err
			}
			var l uint64
			if n == 1 {
				l = uint64(p[i])
			} else {
				l = uint64(binary.LittleEndian.Uint32(p[i:]))
				if l > maxPickleNumber {
					return 0, fmt.Errorf("%w: pickle integer of %d bytes at byte %d (at most %d accepted)", ErrLimit, l, s.pos, maxPickleNumber)
				}
			}
			i += int(n)
			if err = need(l); err != nil {
				return 0, err
			}
			i += int(l)
			s.mem += allocSize(int64(l)) + costBox
			if l > 8 {
				s.mem += 16*int64(l) + 64 // decodeLong's big.Int, shifted a byte at a time
			}
			s.push(pval{size: 3 * int32(l)})
		case 'U', 'C', 0x8c, 'T', 'B', 'X', 0x8d, 0x8e, 0x96: // strings and bytes with a length prefix
			n := uint64(1) // U, C, 0x8c
			switch op {
			case 'T', 'B', 'X':
				n = 4
			case 0x8d, 0x8e, 0x96:
				n = 8
			}
			if err = need(n); err != nil {
				return 0, err
			}
			var l uint64
			switch n {
			case 1:
				l = uint64(p[i])
			case 4:
				v := binary.LittleEndian.Uint32(p[i:])
				if op == 'T' && int32(v) < 0 {
					return 0, fmt.Errorf("%w: negative length %d in pickle at byte %d", ErrMalformed, int32(v), s.pos)
				}
				l = uint64(v)
			case 8:
				l = binary.LittleEndian.Uint64(p[i:])
			}
			i += int(n)
			if err = need(l); err != nil {
				return 0, err
			}
			i += int(l)
			size := int64(l)
			s.mem += allocSize(size) + 2*costBox // read buffer, box
			switch op {
			case 'B', 'C', 0x8e, 0x96: // bytes: the buffer itself; printed as []byte{0x.., …}
				size *= 6
			default: // strings: converted from the buffer
				s.mem += allocSize(size)
			}
			s.push(pval{size: int32(size)})
		case 'I', 'L', 'F': // INT, LONG, FLOAT: a number on one line
			var l int64
			if l, err = line(); err != nil {
				return 0, err
			}
			if l > maxPickleNumber {
				return 0, fmt.Errorf("%w: pickle number of %d digits at byte %d (at most %d accepted)", ErrLimit, l, s.pos, maxPickleNumber)
			}
			s.mem += lineCost(l)
			if op == 'L' {
				s.mem += costBigInt
			}
			s.push(pval{size: 3 * int32(l)})
		case 'S', 'V': // STRING, UNICODE: a string on one line
			var l int64
			if l, err = line(); err != nil {
				return 0, err
			}
			s.mem += lineCost(l)
			s.push(pval{size: int32(min(l, MaxPickle))})
		case 'P': // PERSID: a storage named on one line
			var l int64
			if l, err = line(); err != nil {
				return 0, err
			}
			s.mem += lineCost(l) + costPersist
			s.pushFresh(0)
		case 'g', 'p': // GET, PUT with the index on a line
			var l int64
			if l, err = line(); err != nil {
				return 0, err
			}
			s.mem += lineCost(l)
			// gopickle reads the index with strconv.Atoi; a bad one is
			// its error, and a GET of an absent index pushes nil.
			key, aerr := strconv.Atoi(string(p[i-int(l)-1 : i-1]))
			if op == 'g' {
				s.push(s.memo.get(int64(key)))
			} else if aerr == nil && key >= 0 {
				err = s.put(int64(key))
			}
		case 'c', 'i': // GLOBAL, INST: module and name lines
			var l1, l2 int64
			if l1, err = line(); err != nil {
				return 0, err
			}
			if l2, err = line(); err != nil {
				return 0, err
			}
			s.mem += lineCost(l1) + lineCost(l2) + costBox
			if op == 'c' {
				s.push(pval{})
			} else if _, err = s.popMark(); err == nil {
				s.call()
			}
		case 0x82, 0x83, 0x84: // EXT1, EXT2, EXT4: gopickle has no extension registry
			return 0, fmt.Errorf("%w: pickle extension code at byte %d", ErrUnsupported, s.pos)
		case 0x97: // NEXT_BUFFER: out-of-band data, which torch.save never uses
			return 0, fmt.Errorf("%w: pickle out-of-band buffer at byte %d", ErrUnsupported, s.pos)
		case 0x98: // READONLY_BUFFER: a no-op in gopickle
		default:
			return 0, fmt.Errorf("%w: unknown pickle opcode 0x%02x at byte %d", ErrMalformed, op, s.pos)
		}
		if err != nil {
			return 0, err
		}
		s.opMem[op] += s.mem - before
		s.opWork[op] += s.work - beforeWork
		if s.mem > s.budget || s.work > s.budget {
			return 0, s.over(len(p))
		}
	}
	return 0, fmt.Errorf("%w: pickle ends without STOP", ErrTruncated)
}

// over reports charges above the budget for a pickle of n bytes as
// ErrLimit, naming the opcode that accounts for most of them.
func (s *pickleScan) over(n int) error {
	limit := pickleBudget(n)
	if s.mem <= limit && s.work <= limit {
		return nil
	}
	what, per := "allocate", &s.opMem
	if s.mem <= limit {
		what, per = "hash or print strings of", &s.opWork
	}
	top := 0
	for op := range per {
		if per[op] > per[top] {
			top = op
		}
	}
	return fmt.Errorf("%w: unpickling would %s more than %s, the most allowed for a pickle of %s (a state dict needs about 20 bytes per pickle byte): by byte %d, %d %s opcodes alone would take %s",
		ErrLimit, what, humanBytes(limit), humanBytes(int64(n)), s.pos, s.opCount[top], opcodeName(byte(top)), humanBytes(per[top]))
}

func (s *pickleScan) underflow() error {
	return fmt.Errorf("%w: pickle opcode %s at byte %d pops an empty stack", ErrMalformed, opcodeName(s.p[s.pos]), s.pos)
}

// A frameMark is an open MARK: where its frame starts on the stack, and
// gopickle's capacity of the frame it saved.
type frameMark struct{ start, cap int32 }

func (s *pickleScan) frameStart() int {
	if len(s.marks) == 0 {
		return 0
	}
	return int(s.marks[len(s.marks)-1].start)
}

// push puts v on the current frame, charging gopickle's stack growth.
func (s *pickleScan) push(v pval) {
	s.pushes++
	if int64(len(s.stack)-s.frameStart()) >= s.cap {
		s.cap = growCap(s.cap)
		s.mem += allocSize(16 * s.cap)
	}
	s.stack = append(s.stack, v)
}

// pushObj pushes a new container of n elements whose printing takes size
// bytes, charging cost for building it.
func (s *pickleScan) pushObj(cost, n, size int64) {
	s.mem += cost
	s.objs = append(s.objs, pobj{items: n, size: size})
	s.push(pval{obj: int32(len(s.objs))})
}

// pushFresh pushes a new empty container, charging cost for it.
func (s *pickleScan) pushFresh(cost int64) {
	s.mem += cost
	s.push(pval{obj: fresh})
}

// settle gives a fresh container its objs entry, before a second
// reference to it is made or elements are put in.
func (s *pickleScan) settle(v *pval) {
	if v.obj == fresh {
		s.objs = append(s.objs, pobj{})
		v.obj = int32(len(s.objs))
	}
}

// shareTop returns the top of the stack for a second reference to it.
func (s *pickleScan) shareTop() (pval, error) {
	if len(s.stack) == s.frameStart() {
		return pval{}, s.underflow()
	}
	s.settle(&s.stack[len(s.stack)-1])
	return s.stack[len(s.stack)-1], nil
}

func (s *pickleScan) obj(v pval) *pobj {
	if v.obj <= 0 {
		return nil
	}
	return &s.objs[v.obj-1]
}

// elements totals what a container made of items holds, and charges the
// work of hashing or printing them once.
func (s *pickleScan) elements(items []pval) (n, size int64) {
	for _, v := range items {
		size += int64(v.size) + costElemPrint
	}
	s.work += size
	return int64(len(items)), size
}

// grow records n elements of total print size added to target.
func (s *pickleScan) grow(target pval, n, size int64) {
	if o := s.obj(target); o != nil {
		o.items += n
		o.size += size
	}
}

// call charges a call of an allowed class and pushes its result, which may
// be a container (OrderedDict()).
func (s *pickleScan) call() {
	s.pushFresh(costCall)
}

func (s *pickleScan) pop() (pval, error) {
	if len(s.stack) == s.frameStart() {
		return pval{}, s.underflow()
	}
	v := s.stack[len(s.stack)-1]
	s.stack = s.stack[:len(s.stack)-1]
	return v, nil
}

func (s *pickleScan) top() (pval, error) {
	if len(s.stack) == s.frameStart() {
		return pval{}, s.underflow()
	}
	return s.stack[len(s.stack)-1], nil
}

// mark opens a frame: gopickle saves its stack and starts a 16-slot one.
func (s *pickleScan) mark() {
	s.mem += costMark
	s.marks = append(s.marks, frameMark{int32(len(s.stack)), int32(s.cap)})
	s.cap = 16
}

// popMark closes the current frame and returns its items (valid until the
// next push).
func (s *pickleScan) popMark() ([]pval, error) {
	if len(s.marks) == 0 {
		return nil, fmt.Errorf("%w: pickle opcode %s at byte %d without a MARK", ErrMalformed, opcodeName(s.p[s.pos]), s.pos)
	}
	m := s.marks[len(s.marks)-1]
	items := s.stack[m.start:]
	s.stack = s.stack[:m.start]
	s.marks = s.marks[:len(s.marks)-1]
	s.cap = int64(m.cap)
	return items, nil
}

// put stores the top of the stack in the memo; a new key costs a map slot.
func (s *pickleScan) put(key int64) error {
	v, err := s.shareTop()
	if err != nil {
		return err
	}
	if s.memo.set(key, v) {
		s.mem += costMemo
	}
	return nil
}

// A pmemo is the scan's copy of gopickle's memo. Pickles number their memo
// entries 0, 1, 2, …, which a slice holds in 8 bytes each; other keys go
// to a map.
type pmemo struct {
	dense  []pval         // keys 0 … len(dense)-1
	sparse map[int64]pval // the others; never a key below len(dense)
	n      int64          // entries, as len(memo) in gopickle (MEMOIZE's next key)
}

func (m *pmemo) get(key int64) pval {
	if key >= 0 && key < int64(len(m.dense)) {
		return m.dense[key]
	}
	return m.sparse[key] // absent: gopickle pushes nil
}

// set stores v under key and reports whether the key is new.
func (m *pmemo) set(key int64, v pval) bool {
	if key >= 0 && key <= int64(len(m.dense)) && key < MaxPickle {
		if key < int64(len(m.dense)) {
			m.dense[key] = v
			return false
		}
		if _, ok := m.sparse[key]; !ok {
			m.dense = append(m.dense, v)
			m.n++
			return true
		}
	}
	if m.sparse == nil {
		m.sparse = make(map[int64]pval)
	}
	_, ok := m.sparse[key]
	m.sparse[key] = v
	if !ok {
		m.n++
	}
	return !ok
}

var opcodeNames = map[byte]string{
	'(': "MARK", '.': "STOP", '0': "POP", '1': "POP_MARK", '2': "DUP", 'F': "FLOAT", 'I': "INT",
	'J': "BININT", 'K': "BININT1", 'L': "LONG", 'M': "BININT2", 'N': "NONE", 'P': "PERSID",
	'Q': "BINPERSID", 'R': "REDUCE", 'S': "STRING", 'T': "BINSTRING", 'U': "SHORT_BINSTRING",
	'V': "UNICODE", 'X': "BINUNICODE", 'a': "APPEND", 'b': "BUILD", 'c': "GLOBAL", 'd': "DICT",
	'}': "EMPTY_DICT", 'e': "APPENDS", 'g': "GET", 'h': "BINGET", 'i': "INST", 'j': "LONG_BINGET",
	'l': "LIST", ']': "EMPTY_LIST", 'o': "OBJ", 'p': "PUT", 'q': "BINPUT", 'r': "LONG_BINPUT",
	's': "SETITEM", 't': "TUPLE", ')': "EMPTY_TUPLE", 'u': "SETITEMS", 'G': "BINFLOAT",
	0x80: "PROTO", 0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x85: "TUPLE1",
	0x86: "TUPLE2", 0x87: "TUPLE3", 0x88: "NEWTRUE", 0x89: "NEWFALSE", 0x8a: "LONG1", 0x8b: "LONG4",
	'B': "BINBYTES", 'C': "SHORT_BINBYTES", 0x8c: "SHORT_BINUNICODE", 0x8d: "BINUNICODE8",
	0x8e: "BINBYTES8", 0x8f: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET", 0x92: "NEWOBJ_EX",
	0x93: "STACK_GLOBAL", 0x94: "MEMOIZE", 0x95: "FRAME", 0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER",
	0x98: "READONLY_BUFFER",
}

// opcodeName names an opcode for messages: "MARK ('(')", "EMPTY_DICT ('}')".
func opcodeName(op byte) string {
	name := opcodeNames[op]
	if name == "" {
		name = "unknown"
	}
	if op >= 0x20 && op < 0x7f {
		return fmt.Sprintf("%s (%q)", name, rune(op))
	}
	return fmt.Sprintf("%s (0x%02x)", name, op)
}
