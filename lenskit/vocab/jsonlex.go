package vocab

import (
	"errors"
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// lexer reads a JSON document as a stream, for the large tokenizer files.
// encoding/json's Decoder.Token allocates an interface value and a string
// for every token and made loading Gemma 3's 33 MB tokenizer.json allocate
// ten times the file; the lexer decodes strings into one reused buffer, so
// a vocabulary entry costs the string kept for it and nothing else, and
// it knows the line and column of every byte for messages.
type lexer struct {
	r    io.Reader
	file string
	buf  []byte
	pos  int   // next unread byte in buf
	off  int64 // file offset of buf[0]
	line int   // line of buf[pos], from 1
	col0 int64 // file offset where that line starts
	err  error // read error, io.EOF at the end
	sbuf []byte
}

const lexChunk = 64 << 10

func newLexer(r io.Reader, file string) *lexer {
	return &lexer{r: r, file: file, buf: make([]byte, 0, lexChunk), line: 1}
}

// fill reads more input, keeping buf[keep:] and what follows; it returns
// false at the end of the input or on an error.
//
// The bytes before keep are dropped whether or not more input comes, so
// offsets into buf move down by keep.
func (l *lexer) fill(keep int) bool {
	if keep > 0 {
		n := copy(l.buf, l.buf[keep:])
		l.buf = l.buf[:n]
		l.off += int64(keep)
		l.pos -= keep
	}
	if l.err != nil {
		return false
	}
	if cap(l.buf)-len(l.buf) < lexChunk/2 {
		nb := make([]byte, len(l.buf), 2*cap(l.buf)+lexChunk)
		copy(nb, l.buf)
		l.buf = nb
	}
	n, err := l.r.Read(l.buf[len(l.buf):cap(l.buf)])
	l.buf = l.buf[:len(l.buf)+n]
	if err != nil {
		l.err = err
	}
	return n > 0 || err == nil
}

// at returns the position of file offset off as "line L, column C" (for
// offsets on the current line or later ones up to pos).
func (l *lexer) where() string {
	return fmt.Sprintf("line %d, column %d", l.line, l.off+int64(l.pos)-l.col0+1)
}

// fail returns a *FileError at the current position.
func (l *lexer) fail(field, format string, args ...any) error {
	if errors.Is(l.err, errOverLimit) {
		if lr, ok := l.r.(*limitedReader); ok {
			return lr.overLimit()
		}
	}
	return &FileError{File: l.file, Where: joinWhere(field, l.where()), Err: fmt.Errorf(format, args...)}
}

// eofErr reports the end of the input (or a read error) inside a value.
func (l *lexer) eofErr(field string) error {
	if l.err != nil && l.err != io.EOF {
		if errors.Is(l.err, errOverLimit) {
			return l.fail(field, "")
		}
		return &FileError{File: l.file, Err: l.err}
	}
	if l.off+int64(len(l.buf)) == 0 {
		return fileErr(l.file, "", "file is empty")
	}
	return l.fail(field, "unexpected end of JSON input")
}

// peek skips whitespace and returns the next byte without consuming it; ok
// is false at the end of the input.
func (l *lexer) peek() (byte, bool) {
	for {
		for l.pos < len(l.buf) {
			switch c := l.buf[l.pos]; c {
			case ' ', '\t', '\r':
				l.pos++
			case '\n':
				l.pos++
				l.line++
				l.col0 = l.off + int64(l.pos)
			default:
				return c, true
			}
		}
		if !l.fill(l.pos) {
			return 0, false
		}
	}
}

// describe names the value that starts with c, for messages.
func describeStart(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "a number"
	}
	return fmt.Sprintf("invalid character %q", c)
}

// expect consumes byte c (after whitespace).
func (l *lexer) expect(field string, c byte, what string) error {
	got, ok := l.peek()
	if !ok {
		return l.eofErr(field)
	}
	if got != c {
		return l.fail(field, "%s where %s was expected", describeStart(got), what)
	}
	l.pos++
	return nil
}

// more is for the elements of an object or array after its opening byte:
// it consumes the comma between elements and reports whether another
// element follows, consuming the closing byte when none does.
func (l *lexer) more(field string, first *bool, closing byte) (bool, error) {
	c, ok := l.peek()
	if !ok {
		return false, l.eofErr(field)
	}
	if c == closing {
		l.pos++
		return false, nil
	}
	if !*first {
		if c != ',' {
			return false, l.fail(field, "%s after an element where ',' or %q was expected", describeStart(c), closing)
		}
		l.pos++
		if c, ok = l.peek(); !ok {
			return false, l.eofErr(field)
		}
		if c == closing {
			return false, l.fail(field, "%q after ','", closing)
		}
	}
	*first = false
	return true, nil
}

// key reads an object key and its colon. The bytes are valid until the next
// call.
func (l *lexer) key(field string) ([]byte, error) {
	c, ok := l.peek()
	if !ok {
		return nil, l.eofErr(field)
	}
	if c != '"' {
		return nil, l.fail(field, "%s where an object key was expected", describeStart(c))
	}
	k, err := l.stringBytes(field)
	if err != nil {
		return nil, err
	}
	if err := l.expect(field, ':', "':'"); err != nil {
		return nil, err
	}
	return k, nil
}

// stringBytes reads a string (after whitespace) into the lexer's scratch
// buffer, decoding escapes; invalid UTF-8 becomes U+FFFD, as in
// encoding/json. The bytes are valid until the next call.
func (l *lexer) stringBytes(field string) ([]byte, error) {
	c, ok := l.peek()
	if !ok {
		return nil, l.eofErr(field)
	}
	if c != '"' {
		return nil, l.fail(field, "%s where a string was expected", describeStart(c))
	}
	l.pos++
	out := l.sbuf[:0]
	for {
		// The fast path: a run of plain ASCII.
		i := l.pos
		for i < len(l.buf) {
			b := l.buf[i]
			if b == '"' || b == '\\' || b < 0x20 || b >= 0x80 {
				break
			}
			i++
		}
		out = append(out, l.buf[l.pos:i]...)
		l.pos = i
		if l.pos >= len(l.buf) {
			if !l.fill(l.pos) {
				return nil, l.eofErr(field)
			}
			continue
		}
		switch b := l.buf[l.pos]; {
		case b == '"':
			l.pos++
			l.sbuf = out
			return out, nil
		case b < 0x20:
			return nil, l.fail(field, "control character %q in a string", b)
		case b == '\\':
			if l.pos+6 > len(l.buf) && !l.fillTo(6) {
				if l.pos+2 > len(l.buf) {
					return nil, l.eofErr(field)
				}
			}
			e := l.buf[l.pos+1]
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, n, err := l.unicodeEscape(field)
				if err != nil {
					return nil, err
				}
				out = utf8.AppendRune(out, r)
				l.pos += n
				continue
			default:
				return nil, l.fail(field, "invalid escape %q in a string", "\\"+string(e))
			}
			l.pos += 2
		default: // a UTF-8 sequence
			if !utf8.FullRune(l.buf[l.pos:]) {
				if !l.fillTo(utf8.UTFMax) && !utf8.FullRune(l.buf[l.pos:]) {
					return nil, l.eofErr(field)
				}
			}
			r, w := utf8.DecodeRune(l.buf[l.pos:])
			if r == utf8.RuneError && w == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, l.buf[l.pos:l.pos+w]...)
			}
			l.pos += w
		}
	}
}

// fillTo makes at least n bytes from pos available if the input has them.
func (l *lexer) fillTo(n int) bool {
	for l.pos+n > len(l.buf) {
		if !l.fill(l.pos) {
			return false
		}
	}
	return true
}

// unicodeEscape decodes \uXXXX at pos, with a following low surrogate when
// it is a high one; it returns the rune and the bytes used.
func (l *lexer) unicodeEscape(field string) (rune, int, error) {
	hex4 := func(at int) (rune, bool) {
		if at+6 > len(l.buf) || l.buf[at] != '\\' || l.buf[at+1] != 'u' {
			return 0, false
		}
		var r rune
		for _, c := range l.buf[at+2 : at+6] {
			switch {
			case '0' <= c && c <= '9':
				r = r<<4 | rune(c-'0')
			case 'a' <= c && c <= 'f':
				r = r<<4 | rune(c-'a'+10)
			case 'A' <= c && c <= 'F':
				r = r<<4 | rune(c-'A'+10)
			default:
				return 0, false
			}
		}
		return r, true
	}
	r, ok := hex4(l.pos)
	if !ok {
		return 0, 0, l.fail(field, "invalid \\u escape in a string")
	}
	if utf16.IsSurrogate(r) {
		l.fillTo(12)
		if r2, ok := hex4(l.pos + 6); ok {
			if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
				return d, 12, nil
			}
		}
		return utf8.RuneError, 6, nil
	}
	return r, 6, nil
}

// str reads a string value and returns it as a new string.
func (l *lexer) str(field string) (string, error) {
	b, err := l.stringBytes(field)
	return string(b), err
}

// number reads a number's text (after whitespace), checked against JSON's
// grammar. The bytes are valid until the next call.
func (l *lexer) number(field string) ([]byte, error) {
	c, ok := l.peek()
	if !ok {
		return nil, l.eofErr(field)
	}
	if c != '-' && (c < '0' || c > '9') {
		return nil, l.fail(field, "%s where a number was expected", describeStart(c))
	}
	start := l.pos
	for {
		for l.pos < len(l.buf) && isNumberByte(l.buf[l.pos]) {
			l.pos++
			if l.pos-start > 400 {
				return nil, l.fail(field, "number longer than 400 characters")
			}
		}
		if l.pos < len(l.buf) {
			break
		}
		more := l.fill(start)
		start = 0
		if !more {
			break
		}
	}
	num := l.buf[start:l.pos]
	if !validNumber(num) {
		return nil, l.fail(field, "invalid number %s", quote(string(num)))
	}
	return num, nil
}

func isNumberByte(c byte) bool {
	return '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// validNumber checks JSON's number grammar.
func validNumber(s []byte) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// literal reads true, false or null.
func (l *lexer) literal(field string) (string, error) {
	c, ok := l.peek()
	if !ok {
		return "", l.eofErr(field)
	}
	var word string
	switch c {
	case 't':
		word = "true"
	case 'f':
		word = "false"
	case 'n':
		word = "null"
	default:
		return "", l.fail(field, "%s where a value was expected", describeStart(c))
	}
	if !l.fillTo(len(word)) || string(l.buf[l.pos:l.pos+len(word)]) != word {
		if l.pos+len(word) > len(l.buf) {
			return "", l.eofErr(field)
		}
		return "", l.fail(field, "invalid literal %s", quote(string(l.buf[l.pos:l.pos+len(word)])))
	}
	l.pos += len(word)
	return word, nil
}

// maxDepth bounds the nesting of skipped values.
const maxDepth = 1000

// value reads and discards one value, or appends its text to capture when
// capture is not nil (for the small components decoded with
// encoding/json).
func (l *lexer) value(field string, capture *[]byte) error {
	return l.valueDepth(field, capture, 0)
}

func (l *lexer) valueDepth(field string, capture *[]byte, depth int) error {
	if depth > maxDepth {
		return l.fail(field, "nested more than %d deep", maxDepth)
	}
	c, ok := l.peek()
	if !ok {
		return l.eofErr(field)
	}
	switch c {
	case '{', '[':
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		l.pos++
		if capture != nil {
			*capture = append(*capture, c)
		}
		first := true
		for {
			wasFirst := first
			ok, err := l.more(field, &first, closing)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if capture != nil && !wasFirst {
				*capture = append(*capture, ',')
			}
			if c == '{' {
				k, err := l.key(field)
				if err != nil {
					return err
				}
				if capture != nil {
					*capture = appendJSONString(*capture, k)
					*capture = append(*capture, ':')
				}
			}
			if err := l.valueDepth(field, capture, depth+1); err != nil {
				return err
			}
		}
		if capture != nil {
			*capture = append(*capture, closing)
		}
		return nil
	case '"':
		s, err := l.stringBytes(field)
		if err == nil && capture != nil {
			*capture = appendJSONString(*capture, s)
		}
		return err
	case 't', 'f', 'n':
		w, err := l.literal(field)
		if err == nil && capture != nil {
			*capture = append(*capture, w...)
		}
		return err
	}
	num, err := l.number(field)
	if err == nil && capture != nil {
		*capture = append(*capture, num...)
	}
	return err
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst, s []byte) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// end checks that only whitespace follows the document.
func (l *lexer) end() error {
	if c, ok := l.peek(); ok {
		return l.fail("", "%s after the end of the JSON document", describeStart(c))
	}
	if l.err != nil && l.err != io.EOF {
		return l.eofErr("")
	}
	return nil
}

// parseID parses a token id: a JSON number that must be a non-negative
// integer (negative ones are reported by the caller with their value).
func parseID(num []byte) (int64, bool) {
	neg := false
	s := num
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}
