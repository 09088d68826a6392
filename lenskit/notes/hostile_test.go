package notes

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"lenskit.dev/lenskit/project"
)

// fileWithTags is a notes file with one note carrying the given tags.
func fileWithTags(tags []string) []byte {
	var b strings.Builder
	b.WriteString(`{"schema": "lenskit-notes/1", "model": {"id": "m", "revision": "", "hash": "", "layers": 1, "heads": 1, "neurons": 1}, "notes": [` +
		`{"id": "a", "component": "0.0 OV", "label": "l", "created": "2026-01-01T00:00:00Z", "updated": "2026-01-01T00:00:00Z", "tags": [`)
	for i, t := range tags {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(t))
	}
	b.WriteString("]}]}")
	return []byte(b.String())
}

// A note with more tags than a note may have is refused by its count before
// any tag is cleaned or de-duplicated: normalize used to check each tag
// against all earlier ones first, which took over 30 s for the 300,000 tags
// of a 4 MB file (BenchmarkParseManyTags). 300,000 copies of one tag, which
// that de-duplication reduced to one and accepted, are refused the same way.
func TestManyTagsRefusedBeforeWork(t *testing.T) {
	distinct := make([]string, 300_000)
	same := make([]string, 300_000)
	for i := range distinct {
		distinct[i], same[i] = "t"+strconv.Itoa(i), "same"
	}
	for name, tags := range map[string][]string{"distinct": distinct, "one tag repeated": same} {
		_, err := Parse("many.json", fileWithTags(tags))
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), "300000 tags, more than 64") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The normalization itself leaves an over-long list alone for check.
	n := Note{ID: "x", Component: Head(project.HeadID{}, project.OV), Label: "l", Tags: same}
	n.normalize()
	if len(n.Tags) != len(same) {
		t.Errorf("normalize de-duplicated %d tags down to %d before the limit", len(same), len(n.Tags))
	}
	// Within the limit, tags are still trimmed, sorted and de-duplicated.
	n.Tags = []string{" b", "a", "b ", "", "a"}
	n.normalize()
	if fmt.Sprint(n.Tags) != "[a b]" {
		t.Errorf("tags %q", n.Tags)
	}
}

func BenchmarkParseManyTags(b *testing.B) {
	tags := make([]string, 300_000)
	for i := range tags {
		tags[i] = "t" + strconv.Itoa(i)
	}
	data := fileWithTags(tags)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		Parse("many.json", data)
	}
}

// Values from a notes file reach messages as a short escaped prefix.
func TestErrorsQuoteHostileValues(t *testing.T) {
	huge := strings.Repeat("\x1b[2J", 250_000) // 1 MB of terminal escapes
	jq := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	j := jq(huge)
	base := `{"schema": "lenskit-notes/1", "model": {"id": "m", "revision": "", "hash": "", "layers": 1, "heads": 1, "neurons": 1}, "notes": [`
	note := func(id, comp, created string) string {
		return `{"id": ` + id + `, "component": ` + comp + `, "label": "l", "created": ` + created + `, "updated": "2026-01-01T00:00:00Z"}`
	}
	good := `"2026-01-01T00:00:00Z"`
	for name, data := range map[string]string{
		"id":        base + note(j, `"0.0 OV"`, good) + "]}",
		"component": base + note(`"a"`, j, good) + "]}",
		"created":   base + note(`"a"`, `"0.0 OV"`, j) + "]}",
		"set name":  base + note(`"a"`, jq("set:"+huge), good) + "]}",
		"field":     base + `{` + j + `: 1}]}`,
		"schema":    `{"schema": ` + j + `}`,
	} {
		_, err := Parse("hostile.json", []byte(data))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		msg := err.Error()
		if len(msg) > 1000 || strings.Contains(msg, "\x1b") || !strings.Contains(msg, `\x1b[2J`) {
			t.Errorf("%s: %d-byte message: %.200q", name, len(msg), msg)
		}
	}
}

// bigNotesFile is a notes file of about size bytes of minimal notes.
func bigNotesFile(size int) []byte {
	b := make([]byte, 0, size+200)
	b = append(b, `{"schema": "lenskit-notes/1", "model": {"id": "m", "revision": "", "hash": "", "layers": 1, "heads": 1, "neurons": 1}, "notes": [`...)
	for i := 0; len(b) < size; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"id":"n%d","component":"0.0 OV","label":"l","created":"2026-01-01T00:00:00Z","updated":"2026-01-01T00:00:00Z"}`, i)
	}
	return append(b, "]}"...)
}

// helperParseBig parses a 60 MB notes file of 540,000 notes and prints the
// error and its peak resident memory.
func helperParseBig() int {
	data := bigNotesFile(60 << 20)
	_, err := Parse("big.json", data)
	fmt.Println("error:", err)
	st, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(st), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			fmt.Println(l)
		}
	}
	return 0
}

// A notes file may hold MaxNotes notes; a 60 MB file of 540,000 minimal
// notes is refused at the first note past the limit, and reading it stays
// within a small multiple of its size: it used to peak at 840 MB, most of it
// the positions of every field of every note.
func TestTooManyNotes(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc/self/status")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LENSKIT_NOTES_HELPER=parse-big")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), "more than 100000 notes") || !strings.Contains(string(out), "big.json:1:") {
		t.Errorf("child: %s", out)
	}
	var kb int64
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
		}
	}
	t.Logf("peak RSS %d MB", kb>>10)
	if kb == 0 || kb > 150<<10 {
		t.Errorf("parsing a 60 MB file of too many notes peaked at %d MB, want under 150 MB", kb>>10)
	}
	// Up to the limit, a file parses.
	if f, err := Parse("ok.json", bigNotesFile(1<<20)); err != nil || len(f.Notes) < 1000 {
		t.Errorf("1 MB of notes: %v", err)
	}
}
