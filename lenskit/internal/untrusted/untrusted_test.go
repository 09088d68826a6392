package untrusted

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

func TestQuote(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", `""`},
		{"kot", `"kot"`},
		{"a\x1b[2Jb", `"a\x1b[2Jb"`},
		{strings.Repeat("x", MaxQuoted), strconv.Quote(strings.Repeat("x", MaxQuoted))},
		{strings.Repeat("x", 30_000_134), `"` + strings.Repeat("x", MaxQuoted) + `"… (30000134 bytes)`},
		// 39 bytes of ASCII then a 2-byte "ż": the cut backs up before it.
		{strings.Repeat("a", 39) + "żółw", `"` + strings.Repeat("a", 39) + `"… (46 bytes)`},
	} {
		if got := Quote(c.in); got != c.want {
			t.Errorf("Quote(%.50q…) = %s, want %s", c.in, got, c.want)
		}
		if got := QuoteBytes([]byte(c.in)); got != c.want {
			t.Errorf("QuoteBytes(%.50q…) = %s, want %s", c.in, got, c.want)
		}
	}
	// Whatever the input, the result is short, valid UTF-8 and one line.
	for _, in := range []string{strings.Repeat("\xff", 1000), strings.Repeat("ż", 1000), strings.Repeat("\n", 1000)} {
		q := Quote(in)
		if len(q) > 4*MaxQuoted+40 || !utf8.ValidString(q) || strings.ContainsAny(q, "\n\r") {
			t.Errorf("Quote of %d bytes: %q", len(in), q)
		}
		if u, err := strconv.Unquote(q[:strings.LastIndexByte(q, '"')+1]); err != nil || !strings.HasPrefix(in, u) {
			t.Errorf("Quote(%.20q…) = %s does not show a prefix of it", in, q)
		}
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "f.txt")
	os.WriteFile(reg, []byte("hello"), 0o644)
	f, err := Open(reg)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := Open(dir); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "directory") || !strings.Contains(err.Error(), dir) {
		t.Errorf("directory: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	done := make(chan error, 1)
	go func() { _, err := Open(fifo); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "FIFO") || !strings.Contains(err.Error(), fifo) {
			t.Errorf("FIFO: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Open blocked on a FIFO")
	}
	if _, err := Open("/dev/urandom"); err == nil || !strings.Contains(err.Error(), "character device") {
		t.Errorf("/dev/urandom: %v", err)
	}
	// A link to a regular file is followed.
	link := filepath.Join(dir, "link")
	os.Symlink(reg, link)
	if b, err := ReadFile(link, 100); err != nil || string(b) != "hello" {
		t.Errorf("ReadFile through a link: %q, %v", b, err)
	}
	if _, err := ReadFile(reg, 4); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), reg) {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := ReadFile(fifo, 100); !errors.Is(err, ErrNotRegular) {
		t.Errorf("ReadFile of a FIFO: %v", err)
	}
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"archive/data.pkl":         "archive/data.pkl",
		"model-00001-of-00002.bin": "model-00001-of-00002.bin",
		"":                         `""`,
		"a b":                      `"a b"`,
		"x\x1b[31m":                `"x\x1b[31m"`,
		strings.Repeat("d", 41):    `"` + strings.Repeat("d", 40) + `"… (41 bytes)`,
		"ł":                        `"ł"`,
	} {
		if got := Name(in); got != want {
			t.Errorf("Name(%q) = %s, want %s", in, got, want)
		}
	}
}
