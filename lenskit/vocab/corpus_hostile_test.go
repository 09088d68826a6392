//go:build unix

package vocab

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// returns runs f and fails the test if it has not returned after a few
// seconds: the defect checked is a read or open without end.
func returns(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still running after 10 s", what)
		return nil
	}
}

// A corpus must be a regular file or a directory of them: /dev/urandom used
// to be read for ever and a FIFO to block the open for ever. Both are
// refused before they are opened, with path and type, as are a FIFO inside
// a corpus directory, a FIFO token list and a FIFO parquet file.
func TestCorpusRefusesDevicesAndFIFOs(t *testing.T) {
	v := tiny(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.txt")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("cannot make a FIFO here:", err)
	}
	inDir := filepath.Join(t.TempDir(), "corpus")
	os.MkdirAll(inDir, 0o755)
	os.WriteFile(filepath.Join(inDir, "a.txt"), []byte("ala ma kota\n"), 0o644)
	syscall.Mkfifo(filepath.Join(inDir, "b.txt"), 0o644)
	for _, c := range []struct {
		name, path, kind string
	}{
		{"/dev/urandom", "/dev/urandom", "character device"},
		{"FIFO", fifo, "FIFO (named pipe)"},
		{"FIFO in a directory", inDir, "FIFO (named pipe)"},
	} {
		err := returns(t, c.name, func() error {
			_, err := CorpusTokens(v, []string{c.path}, 0, nil)
			return err
		})
		if !errors.Is(err, os.ErrNotExist) && (err == nil || !strings.Contains(err.Error(), c.kind) || !strings.Contains(err.Error(), "a corpus is a text file or a directory of text files")) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	err := returns(t, "FIFO token list", func() error { _, err := ReadTokenListFile(fifo); return err })
	if err == nil || !strings.Contains(err.Error(), fifo) || !strings.Contains(err.Error(), "FIFO") {
		t.Errorf("FIFO token list: %v", err)
	}
	err = returns(t, "FIFO parquet", func() error { _, err := ParquetTokens(v, fifo, "text", 0, nil); return err })
	if err == nil || !strings.Contains(err.Error(), fifo) || !strings.Contains(err.Error(), "FIFO") {
		t.Errorf("FIFO parquet file: %v", err)
	}
}

// A directory is every regular file under it, hidden ones skipped: the same
// list as naming the files.
func TestCorpusDirectory(t *testing.T) {
	v := tiny(t)
	dir := filepath.Join(t.TempDir(), "corpus")
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.MkdirAll(filepath.Join(dir, ".git"), 0o755)
	a, b := filepath.Join(dir, "a.txt"), filepath.Join(dir, "sub", "b.txt")
	os.WriteFile(a, []byte("ala ma kota\nkot ma ale\n"), 0o644)
	os.WriteFile(b, []byte("pies i kot\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".git", "index"), []byte{0, 1, 2, 3}, 0o644)
	os.WriteFile(filepath.Join(dir, ".notes.swp"), []byte{0, 0}, 0o644)
	os.Symlink(filepath.Join(dir, "sub"), filepath.Join(dir, "loop")) // not followed
	files, err := CorpusFiles([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Path != a || files[1].Path != b {
		t.Errorf("files %v", files)
	}
	fromDir, err := CorpusTokens(v, []string{dir}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	fromFiles, err := CorpusTokens(v, []string{a, b}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !maps_equal(listCounts(fromDir), listCounts(fromFiles)) || fromDir.Records() != 3 {
		t.Errorf("directory %v (%d records), files %v", listCounts(fromDir), fromDir.Records(), listCounts(fromFiles))
	}
	if fromDir.Name() != "corpus" {
		t.Errorf("name %q", fromDir.Name())
	}
}

// A binary corpus file is refused with a clear error: a NUL byte, or mostly
// invalid UTF-8; text in a legacy 8-bit encoding passes.
func TestCorpusRefusesBinary(t *testing.T) {
	v := tiny(t)
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 1<<20)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	noNUL := bytes.ReplaceAll(random, []byte{0}, []byte{0x80})
	polish := "Litwo! Ojczyzno moja! ty jesteś jak zdrowie; ile cię trzeba cenić, ten tylko się dowie, kto cię stracił.\n"
	latin2 := strings.NewReplacer("ż", "\xbf", "ó", "\xf3", "ł", "\xb3", "ć", "\xe6", "ę", "\xea", "ś", "\xb6", "ą", "\xb1", "ź", "\xbc", "ń", "\xf1", "Ż", "\xaf").Replace(polish)
	for _, c := range []struct {
		name, content, want string
	}{
		{"random bytes", string(random), "a NUL byte at offset"},
		{"random bytes without NUL", string(noNUL), "are invalid UTF-8 or control characters"},
		{"gzip", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + string(noNUL[:1000]), "a NUL byte at offset 3"},
	} {
		path := writeFile(t, "bin.dat", c.content)
		_, err := CorpusTokens(v, []string{path}, 0, nil)
		if !errors.Is(err, ErrBinary) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	for name, text := range map[string]string{"UTF-8": polish, "ISO-8859-2": latin2} {
		if _, err := CorpusTokens(v, []string{writeFile(t, "pl.txt", strings.Repeat(text, 100))}, 0, nil); err != nil {
			t.Errorf("%s text refused: %v", name, err)
		}
	}
}

// Token-list values reach messages as a short escaped prefix.
func TestTokenListQuotesValues(t *testing.T) {
	h := tokenListHeader + "\nname \"x\"\ntop 0\nrecords 1\n"
	big := strings.Repeat("D\x1b", 300_000)
	for _, in := range []string{
		h + "1\t\"" + strings.ReplaceAll(big, "\x1b", `\x1b`) + "\"\n", // not normalized
		h + "1\t" + big + "\n",                          // not quoted
		h + strings.Repeat("9", 500_000) + "x\t\"a\"\n", // bad count
	} {
		_, err := LoadTokenList(strings.NewReader(in))
		if err == nil || len(err.Error()) > 300 || strings.Contains(err.Error(), "\x1b") {
			t.Errorf("%d-byte message: %.100q", len(err.Error()), err)
		}
	}
}
