package notes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"lenskit.dev/lenskit/project"
)

// TestMain lets the test binary act as a second writer process: the
// concurrency and crash tests re-run it with LENSKIT_NOTES_HELPER set.
func TestMain(m *testing.M) {
	switch os.Getenv("LENSKIT_NOTES_HELPER") {
	case "":
		os.Exit(m.Run())
	case "add":
		os.Exit(helperAdd())
	case "hang":
		os.Exit(helperHang())
	case "parse-big":
		os.Exit(helperParseBig())
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv("LENSKIT_NOTES_HELPER"))
		os.Exit(2)
	}
}

// helperAdd adds COUNT notes to PATH as writer WORKER, once START exists.
func helperAdd() int {
	path, worker := os.Getenv("NOTES_PATH"), os.Getenv("NOTES_WORKER")
	count, _ := strconv.Atoi(os.Getenv("NOTES_COUNT"))
	for start := os.Getenv("NOTES_START"); start != ""; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(start); err == nil {
			break
		}
	}
	s, _, err := Open(path, testModel)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := addMany(s, worker, count); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// helperHang starts adding a note and stops between writing the temporary
// file and renaming it, telling the parent where the temporary file is.
func helperHang() int {
	testHookBeforeRename = func(tmp string) {
		fmt.Printf("TMP %s\n", tmp)
		os.Stdout.Sync()
		select {} // wait for SIGKILL
	}
	s, _, err := Open(os.Getenv("NOTES_PATH"), testModel)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_, err = s.Add(Note{Component: Head(project.HeadID{Layer: 0, Head: 0}, project.QK), Label: "never written"})
	fmt.Fprintln(os.Stderr, "Add returned:", err)
	return 1
}

// addMany adds count notes labelled "<worker> #i", spread over components.
func addMany(s *Store, worker string, count int) error {
	for i := range count {
		c := Head(project.HeadID{Layer: i % 4, Head: i % 8}, project.Kind(i%2))
		if i%3 == 0 {
			c = Neuron(project.NeuronID{Layer: i % 4, Index: i * 7 % 1024}, Part(1+i%3))
		}
		if _, err := s.Add(Note{Component: c, Label: fmt.Sprintf("%s #%d", worker, i), Tags: []string{worker}}); err != nil {
			return fmt.Errorf("%s #%d: %w", worker, i, err)
		}
	}
	return nil
}

// checkAll reads path afresh and checks that every worker's count notes are
// there, once each.
func checkAll(t *testing.T, path string, workers []string, count int) {
	t.Helper()
	f, err := ReadFile(path)
	if err != nil {
		t.Fatalf("reading back: %v", err)
	}
	labels := map[string]int{}
	for _, n := range f.Notes {
		labels[n.Label]++
	}
	missing := 0
	for _, w := range workers {
		for i := range count {
			switch l := fmt.Sprintf("%s #%d", w, i); labels[l] {
			case 1:
			case 0:
				missing++
				if missing < 10 {
					t.Errorf("note %q lost", l)
				}
			default:
				t.Errorf("note %q stored %d times", l, labels[l])
			}
		}
	}
	if len(f.Notes) != len(workers)*count {
		t.Errorf("%d notes in the file, want %d (%d missing)", len(f.Notes), len(workers)*count, missing)
	}
}

func TestStoreAddGetUpdateRemove(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes", "tiny.lenskit-notes.json")
	s, w, err := Open(path, testModel)
	if err != nil || w != nil {
		t.Fatalf("Open = %v, %v", w, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open created the file (%v); it should wait for the first write", err)
	}
	s.Author = "ala"
	top := project.PairTop{Head: project.HeadID{Layer: 3, Head: 7}, Kind: project.OV, K: 2, Filter: "alnum",
		Pairs: []project.Pair{{Source: 1, Target: 2, Score: 3.5}, {Source: 3, Target: 4, Score: 3}}}
	text := func(id int) string { return []string{"", "Cezary", "Benedykt", "lekarz", "szpital"}[id] }
	ev := FromPairTop(top, text)
	head, err := s.Add(Note{Component: Head(top.Head, top.Kind), Label: "names, medicine", Tags: []string{"names"}, Evidence: &ev})
	if err != nil {
		t.Fatal(err)
	}
	if head.ID == "" || head.Author != "ala" || head.Weights != testModel.Hash || head.Created.IsZero() || !head.Updated.Equal(head.Created) {
		t.Errorf("Add did not fill in id, author, weights and times: %+v", head)
	}
	if head.Evidence.Pairs[0].SourceText != "Cezary" || head.Evidence.Lenskit == "" {
		t.Errorf("evidence = %+v", head.Evidence)
	}
	nt := project.NeuronTop{Neuron: project.NeuronID{Layer: 2, Index: 345}, K: 1, Filter: "alnum",
		Columns: [project.NumSides][]project.Token{project.Key: {{ID: 3, Score: 2}}, project.NegValue: {{ID: 4, Score: 1}}}}
	nev := FromNeuronTop(nt, text)
	neuron, err := s.Add(Note{Component: Neuron(nt.Neuron, KeyPart), Label: "służby porządkowe", Evidence: &nev})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(Note{ID: head.ID, Component: TokenSet("x"), Label: "clash"}); !errors.Is(err, ErrExists) {
		t.Errorf("Add with a taken id: %v, want ErrExists", err)
	}

	// A second store on the same file — another kernel — sees both notes.
	other, _, err := Open(path, testModel)
	if err != nil {
		t.Fatal(err)
	}
	got, err := other.Get(neuron.ID)
	if err != nil || got.Label != "służby porządkowe" || got.Evidence.Columns[project.NegValue][0].Text != "szpital" {
		t.Fatalf("Get from another store = %+v, %v", got, err)
	}

	s.now = func() time.Time { return head.Created.Add(time.Hour) }
	upd, err := s.Update(head.ID, func(n *Note) error {
		n.Label = "first names"
		n.Tags = append(n.Tags, "people")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if upd.Label != "first names" || !upd.Created.Equal(head.Created) || !upd.Updated.Equal(head.Created.Add(time.Hour)) {
		t.Errorf("Update = %+v", upd)
	}
	if _, err := s.Update(head.ID, func(n *Note) error { n.ID = "other"; return nil }); err == nil {
		t.Error("Update changed the id")
	}
	if _, err := s.Update(head.ID, func(n *Note) error { n.Component.Layer = 9; return nil }); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("Update to layer 9: %v, want ErrOutOfRange", err)
	}
	if _, err := s.Update("nope", func(*Note) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update of a missing note: %v", err)
	}

	for _, tc := range []struct {
		q    Query
		want []string
	}{
		{Query{}, []string{head.ID, neuron.ID}},
		{Query{Kind: HeadKind}, []string{head.ID}},
		{Query{Component: "3.7"}, []string{head.ID}},
		{Query{Component: "3.7 QK"}, nil},
		{Query{Component: "L2"}, []string{neuron.ID}},
		{Query{Component: "L2/N345 K+V"}, []string{neuron.ID}},
		{Query{View: "OV"}, []string{head.ID}},
		{Query{View: "V"}, nil},
		{Query{Tag: "PEOPLE"}, []string{head.ID}},
		{Query{Author: "ala"}, []string{head.ID, neuron.ID}},
		{Query{Text: "benedykt first"}, []string{head.ID}},
		{Query{Text: "PORZĄDKOWE"}, []string{neuron.ID}},
		{Query{Text: "szpital"}, []string{head.ID, neuron.ID}},
	} {
		notes, err := other.List(tc.q)
		if err != nil {
			t.Errorf("List(%+v): %v", tc.q, err)
			continue
		}
		var ids []string
		for _, n := range notes {
			ids = append(ids, n.ID)
		}
		if strings.Join(ids, ",") != strings.Join(tc.want, ",") {
			t.Errorf("List(%+v) = %v, want %v", tc.q, ids, tc.want)
		}
	}
	if _, err := s.List(Query{Component: "20"}); err == nil {
		t.Error("List accepted the pattern 20")
	}

	if err := other.Remove(head.ID); err != nil {
		t.Fatal(err)
	}
	if err := other.Remove(head.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove: %v", err)
	}
	if _, err := s.Get(head.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Remove by another store: %v", err)
	}
	f, err := ReadFile(path)
	if err != nil || len(f.Notes) != 1 || f.Notes[0].ID != neuron.ID {
		t.Errorf("file after Remove: %+v, %v", f, err)
	}
}

func TestStoreRefusesOutOfRange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.json")
	s, _, err := Open(path, testModel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(Note{Component: Head(project.HeadID{Layer: 0, Head: 0}, project.OV), Label: "ok"}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	for _, tc := range []struct {
		note Note
		msg  string
	}{
		{Note{Component: Head(project.HeadID{Layer: 4, Head: 0}, project.OV)}, "head 4.0: layer 4 out of range: model tiny-pl-gpt2 has layers 0..3"},
		{Note{Component: Head(project.HeadID{Layer: 0, Head: 8}, project.QK)}, "head 0.8: head 8 out of range: model tiny-pl-gpt2 has heads 0..7 per layer"},
		{Note{Component: Head(project.HeadID{Layer: -1, Head: 0}, project.OV)}, "layer -1 out of range"},
		{Note{Component: Neuron(project.NeuronID{Layer: 3, Index: 1024}, ValuePart)}, "neuron L3/N1024: neuron 1024 out of range: model tiny-pl-gpt2 has neurons 0..1023 per layer"},
		{Note{Component: Neuron(project.NeuronID{Layer: 7, Index: 0}, KeyPart)}, "neuron L7/N0: layer 7 out of range"},
		{Note{Component: TokenSet("t"), Members: []TokenRef{{ID: 8192, Text: "?"}}}, "token id 8192 out of range: model tiny-pl-gpt2 has vocabulary 0..8191"},
		{Note{Component: Head(project.HeadID{Layer: 1, Head: 1}, project.OV), Evidence: &Evidence{Pairs: []Pair{{Source: 1, Target: 9000}}}}, "pair 0 target: token id 9000 out of range"},
	} {
		tc.note.Label = "x"
		_, err := s.Add(tc.note)
		if !errors.Is(err, ErrOutOfRange) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Add(%v) = %v, want ErrOutOfRange with %q", tc.note.Component, err, tc.msg)
		}
	}
	for _, tc := range []struct {
		note Note
		msg  string
	}{
		{Note{Component: Neuron(project.NeuronID{Layer: 0, Index: 0}, 0), Label: "x"}, "unknown part"},
		{Note{Component: Head(project.HeadID{Layer: 0, Head: 0}, project.OV)}, "label is empty"},
		{Note{Component: Head(project.HeadID{Layer: 0, Head: 0}, project.OV), Label: "a\nb"}, "control character"},
		{Note{Component: TokenSet(""), Label: "x"}, "token set name"},
		{Note{Component: Component{}, Label: "x"}, "unknown component kind"},
		{Note{ID: "bad id!", Component: TokenSet("s"), Label: "x"}, "only letters"},
	} {
		if _, err := s.Add(tc.note); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Add(%+v) = %v, want an error with %q", tc.note, err, tc.msg)
		}
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("refused notes changed the file")
	}
}

// Must show 2: re-opening against other weights warns, naming both hashes.
func TestOpenWarnsOnOtherWeights(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.json")
	s, _, err := Open(path, testModel)
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Add(Note{Component: Head(project.HeadID{Layer: 3, Head: 7}, project.OV), Label: "names"})
	if err != nil {
		t.Fatal(err)
	}

	tuned := testModel
	tuned.Hash = "sha256:2222"
	s2, w, err := Open(path, tuned)
	if err != nil {
		t.Fatal(err)
	}
	if w == nil {
		t.Fatal("no warning for other weights")
	}
	msg := w.Error()
	for _, want := range []string{path, "sha256:1111", "sha256:2222", "tiny-pl-gpt2 @main"} {
		if !strings.Contains(msg, want) {
			t.Errorf("warning %q does not name %q", msg, want)
		}
	}
	if w.Stored.Hash != "sha256:1111" || w.Opened.Hash != "sha256:2222" || len(w.Outside) != 0 {
		t.Errorf("warning = %+v", w)
	}
	// The store is usable; new notes record the weights they were made on.
	second, err := s2.Add(Note{Component: Head(project.HeadID{Layer: 3, Head: 7}, project.QK), Label: "previous token"})
	if err != nil {
		t.Fatal(err)
	}
	if second.Weights != "sha256:2222" || first.Weights != "sha256:1111" {
		t.Errorf("weights recorded: %q and %q", first.Weights, second.Weights)
	}
	if _, w, _ := Open(path, testModel); w != nil {
		t.Errorf("the file's own weights warn: %v", w)
	}
	if _, w, _ := Open(path, tuned); w == nil {
		t.Error("a write with other weights silenced the warning")
	}
	if err := s2.Adopt(); err != nil {
		t.Fatal(err)
	}
	if _, w, _ := Open(path, tuned); w != nil {
		t.Errorf("after Adopt: %v", w)
	}

	// Another shape: notes the model cannot hold are named, writes refused.
	small := tuned
	small.Layers, small.Hash = 2, "sha256:3333"
	s3, w, err := Open(path, small)
	if err != nil {
		t.Fatal(err)
	}
	if w == nil || len(w.Outside) != 2 || !strings.Contains(w.Error(), "shapes differ") {
		t.Fatalf("warning for a smaller model = %v", w)
	}
	if _, err := s3.Add(Note{Component: TokenSet("s"), Label: "x"}); err == nil || !strings.Contains(err.Error(), "writes are refused") {
		t.Errorf("Add with another shape: %v", err)
	}
}

// Must show 1: a truncated or malformed file is reported with its position
// and left byte for byte as it was; writes are refused until it is fixed.
func TestMalformedFileIsNeverOverwritten(t *testing.T) {
	good := sampleText(t)
	for _, tc := range []struct {
		name string
		data string
	}{
		{"truncated", good[:len(good)*2/3]},
		{"malformed", strings.Replace(good, `"k": 3,`, `"k": 3,,`, 1)},
		{"unknown field", strings.Replace(good, `"author": "bob"`, `"autor": "bob"`, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "n.json")
			if err := os.WriteFile(path, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := Open(path, testModel)
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line < 2 || pe.Col < 1 || !strings.HasPrefix(err.Error(), fmt.Sprintf("%s:%d:%d: ", path, pe.Line, pe.Col)) {
				t.Fatalf("Open = %v, want a *ParseError with a position", err)
			}
			// A store opened while the file was good, and the file broken
			// afterwards (a bad hand edit, a bad git merge).
			os.WriteFile(path, []byte(good), 0o644)
			s, _, err := Open(path, testModel)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(path, []byte(tc.data), 0o644)
			if _, err := s.Add(Note{Component: TokenSet("s"), Label: "x"}); !errors.As(err, &pe) || !strings.Contains(err.Error(), "fix it before writing") {
				t.Errorf("Add to a broken file: %v", err)
			}
			if err := s.Remove("head1"); !errors.As(err, &pe) {
				t.Errorf("Remove from a broken file: %v", err)
			}
			if _, err := s.Merge("other", sampleFile()); !errors.As(err, &pe) {
				t.Errorf("Merge into a broken file: %v", err)
			}
			if _, err := s.List(Query{}); !errors.As(err, &pe) {
				t.Errorf("List of a broken file: %v", err)
			}
			if got, _ := os.ReadFile(path); string(got) != tc.data {
				t.Error("the broken file was changed")
			}
		})
	}
}

func TestOpenRefusesOversizedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// A sparse file: the size is checked before a byte is read.
	if err := f.Truncate(MaxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, _, err := Open(path, testModel); err == nil || !strings.Contains(err.Error(), "more than the") {
		t.Errorf("Open of an oversized file: %v", err)
	}
}

// Must show 1: goroutines writing through one store and through stores of
// their own lose nothing.
func TestConcurrentGoroutines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.json")
	shared, _, err := Open(path, testModel)
	if err != nil {
		t.Fatal(err)
	}
	const workers, count = 8, 15
	var names []string
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		name := fmt.Sprintf("g%d", w)
		names = append(names, name)
		wg.Go(func() {
			s := shared
			if w%2 == 1 {
				var err error
				if s, _, err = Open(path, testModel); err != nil {
					errs <- err
					return
				}
			}
			errs <- addMany(s, name, count)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	checkAll(t, path, names, count)
}

// Must show 1: processes and goroutines writing at once lose nothing.
func TestConcurrentProcesses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "n.json")
	start := filepath.Join(dir, "start")
	const procs, goroutines, count = 4, 3, 15
	var names []string
	var cmds []*exec.Cmd
	for p := range procs {
		name := fmt.Sprintf("p%d", p)
		names = append(names, name)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "LENSKIT_NOTES_HELPER=add", "NOTES_PATH="+path, "NOTES_WORKER="+name,
			"NOTES_COUNT="+strconv.Itoa(count), "NOTES_START="+start)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		t.Cleanup(func() {
			if stderr.Len() > 0 {
				t.Logf("%s: %s", name, stderr.String())
			}
		})
	}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		name := fmt.Sprintf("g%d", g)
		names = append(names, name)
		wg.Go(func() {
			s, _, err := Open(path, testModel)
			if err == nil {
				err = addMany(s, name, count)
			}
			errs <- err
		})
	}
	if err := os.WriteFile(start, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process p%d: %v", i, err)
		}
	}
	checkAll(t, path, names, count)
}

// Must show 1: a writer killed between writing its temporary file and the
// rename leaves the previous file intact, and does not block later writers.
func TestKilledWriterLeavesFileIntact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.json")
	s, _, err := Open(path, testModel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(Note{Component: Head(project.HeadID{Layer: 1, Head: 2}, project.OV), Label: "before the crash"}); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LENSKIT_NOTES_HELPER=hang", "NOTES_PATH="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child did not reach the rename: %v; stderr: %s", err, stderr.String())
	}
	tmp := strings.TrimSpace(strings.TrimPrefix(line, "TMP "))
	if written, err := os.ReadFile(tmp); err != nil || !bytes.Contains(written, []byte("never written")) {
		t.Errorf("temporary file %s: %v, %q", tmp, err, written)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no chance to clean up
		t.Fatal(err)
	}
	cmd.Wait()

	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatalf("the notes file changed:\n%s", after)
	}
	if _, err := Parse(path, after); err != nil {
		t.Fatalf("the notes file no longer parses: %v", err)
	}
	// The kernel released the dead writer's lock: the next write goes
	// through at once, and sweeps the orphaned temporary file.
	done := make(chan error, 1)
	go func() {
		_, err := s.Add(Note{Component: Head(project.HeadID{Layer: 1, Head: 3}, project.OV), Label: "after the crash"})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the dead writer's lock is still held")
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("orphaned temporary file %s still there: %v", tmp, err)
	}
	notes, err := s.List(Query{})
	if err != nil || len(notes) != 2 || notes[0].Label != "before the crash" || notes[1].Label != "after the crash" {
		t.Errorf("notes after the crash: %+v, %v", notes, err)
	}
}
