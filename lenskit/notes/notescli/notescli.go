// Package notescli is the `lenskit notes` command: list, show, export and
// merge notes files, add and remove notes, print the model map. It lives
// beside the notes package, not in cmd/lenskit, so that it can be tested;
// cmd/lenskit hands it its arguments.
package notescli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"lenskit.dev/lenskit/notes"
)

const usage = `usage: lenskit notes <command> [flags] [args]

The notes file is --file PATH, or $LENSKIT_NOTES.

commands:
  list     [filters] [--format text|md|json]   list notes
  show     ID...                               a note in full, with its evidence
  export   [filters] [--format md|json|html] [-o FILE]
                                               the notes as Markdown, as a notes
                                               file (json) or as an HTML table
  merge    FILE...                             merge other researchers' notes files;
                                               conflicts are kept and reported
  import   FILE...                             same as merge
  add      --component C --label L [--text T] [--tag a,b] [--author A]
           [--member ID:TEXT ...]              add a note (for a new file, also
           [--model-id ID --layers N --heads N --neurons N [--vocab N]
            [--revision R] [--hash H]])
  remove   ID...                               remove notes
  map      [--format text|html]                the layer × head and neuron maps

add, remove and merge wait for another writer's lock on the file at most
--lock-timeout (default 30s; 0 waits until Ctrl-C), saying after a second
whom they wait for.

filters: --kind head|neuron|set  --component 20.7|"20.7 OV"|L23/N907|L23|set:NAME
         --view OV|QK|K|V  --tag T  --author A  --search "terms"
`

// Run runs `lenskit notes args...`, writing results to stdout and
// diagnostics (warnings, merge reports) to stderr.
func Run(args []string, stdout, stderr io.Writer) error {
	return RunContext(context.Background(), args, stdout, stderr)
}

// RunContext is Run; a write waiting for another process's lock on the
// notes file gives up when ctx is done (cmd/lenskit cancels it on Ctrl-C).
func RunContext(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		io.WriteString(stderr, usage)
		return errors.New("notes: no command")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "list", "ls":
		return list(args, stdout, stderr, "text")
	case "export":
		return list(args, stdout, stderr, "md")
	case "show":
		return show(args, stdout, stderr)
	case "merge", "import":
		return merge(ctx, args, stdout, stderr)
	case "add":
		return add(ctx, args, stdout, stderr)
	case "remove", "rm":
		return remove(ctx, args, stdout, stderr)
	case "map":
		return showMap(args, stdout, stderr)
	case "help", "-h", "--help":
		io.WriteString(stdout, usage)
		return nil
	}
	io.WriteString(stderr, usage)
	return fmt.Errorf("notes: unknown command %q", cmd)
}

// flags is a flag set that takes flags and arguments in any order.
type flags struct {
	*flag.FlagSet
	file        string
	lockTimeout time.Duration
}

// writes registers the flags of the commands that write the file.
func (fs *flags) writes() {
	fs.DurationVar(&fs.lockTimeout, "lock-timeout", notes.DefaultLockTimeout, "how long to wait for another writer's lock on the notes file")
}

func newFlags(name string, stderr io.Writer) *flags {
	fs := &flags{FlagSet: flag.NewFlagSet("lenskit notes "+name, flag.ContinueOnError)}
	fs.SetOutput(stderr)
	fs.StringVar(&fs.file, "file", os.Getenv("LENSKIT_NOTES"), "notes file (default $LENSKIT_NOTES)")
	return fs
}

// parse parses flags anywhere among the arguments and returns the
// arguments.
func (fs *flags) parse(args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if fs.file == "" {
		return nil, errors.New("notes: no notes file: pass --file PATH or set LENSKIT_NOTES")
	}
	return rest, nil
}

type query struct{ notes.Query }

func (q *query) register(fs *flags) {
	fs.Func("kind", "head, neuron or set", func(s string) (err error) {
		q.Kind, err = notes.ParseComponentKind(s)
		return err
	})
	fs.StringVar(&q.Component, "component", "", `component or part of one: 20.7, "20.7 OV", L23/N907, L23, set:NAME`)
	fs.StringVar(&q.View, "view", "", "OV or QK (heads), K or V (neurons)")
	fs.StringVar(&q.Tag, "tag", "", "notes with this tag")
	fs.StringVar(&q.Author, "author", "", "notes by this author")
	fs.StringVar(&q.Text, "search", "", "notes containing all these words")
}

func list(args []string, stdout, stderr io.Writer, defFormat string) error {
	name := "list"
	if defFormat == "md" {
		name = "export"
	}
	fs := newFlags(name, stderr)
	var q query
	q.register(fs)
	format := fs.String("format", defFormat, "text, md, json or html")
	out := fs.String("o", "", "write to this file instead of standard output")
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("notes %s: unexpected arguments %q", name, rest)
	}
	f, err := notes.ReadFile(fs.file)
	if err != nil {
		return err
	}
	sel, err := f.Select(q.Query)
	if err != nil {
		return err
	}
	f.Notes = sel
	var text string
	switch *format {
	case "text":
		text = f.Table().String()
	case "md", "markdown":
		text = f.Markdown()
	case "html":
		text = f.Table().HTML() + "\n"
	case "json":
		data, err := f.Encode()
		if err != nil {
			return err
		}
		text = string(data)
	default:
		return fmt.Errorf("notes %s: unknown format %q (want text, md, json or html)", name, *format)
	}
	if *out != "" {
		return os.WriteFile(*out, []byte(text), 0o644)
	}
	_, err = io.WriteString(stdout, text)
	return err
}

func show(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("show", stderr)
	ids, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return errors.New("notes show: which note? (give its id)")
	}
	f, err := notes.ReadFile(fs.file)
	if err != nil {
		return err
	}
	var picked []notes.Note
	for _, id := range ids {
		found := false
		for _, n := range f.Notes {
			if n.ID == id {
				picked, found = append(picked, n), true
			}
		}
		if !found {
			return fmt.Errorf("notes show: %s: no note with id %s", fs.file, id)
		}
	}
	f.Notes = picked
	// The Markdown form is the complete, readable one, evidence included.
	_, err = io.WriteString(stdout, f.Markdown())
	return err
}

func merge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("merge", stderr)
	fs.writes()
	files, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return errors.New("notes merge: which files? (give the notes files to merge)")
	}
	s, err := openForWrite(fs, nil, stderr)
	if err != nil {
		return err
	}
	for _, path := range files {
		r, err := s.MergeFileContext(ctx, path)
		if err != nil {
			return err
		}
		io.WriteString(stdout, r.String())
	}
	return nil
}

// modelFlags describe the model of a notes file that does not exist yet.
type modelFlags struct {
	m notes.Model
}

func (mf *modelFlags) register(fs *flags) {
	fs.StringVar(&mf.m.ID, "model-id", "", "model id, for a new notes file")
	fs.StringVar(&mf.m.Revision, "revision", "", "model revision, for a new notes file")
	fs.StringVar(&mf.m.Hash, "hash", "", "weights hash, for a new notes file")
	fs.IntVar(&mf.m.Layers, "layers", 0, "layers, for a new notes file")
	fs.IntVar(&mf.m.Heads, "heads", 0, "heads per layer, for a new notes file")
	fs.IntVar(&mf.m.Neurons, "neurons", 0, "MLP neurons per layer, for a new notes file")
	fs.IntVar(&mf.m.Vocab, "vocab", 0, "vocabulary size, for a new notes file")
}

func (mf *modelFlags) given() bool { return mf.m != notes.Model{} }

// openForWrite opens the file for its own model, or for the model the
// flags describe (needed when the file does not exist yet).
func openForWrite(fs *flags, mf *modelFlags, stderr io.Writer) (*notes.Store, error) {
	path := fs.file
	var s *notes.Store
	if mf == nil || !mf.given() {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("notes: %s does not exist; to start it, describe the model with --model-id, --layers, --heads and --neurons", path)
		}
		var err error
		if s, err = notes.OpenFile(path); err != nil {
			return nil, err
		}
	} else {
		var w *notes.Warning
		var err error
		if s, w, err = notes.Open(path, mf.m); err != nil {
			return nil, err
		}
		if w != nil {
			fmt.Fprintln(stderr, "warning:", w)
		}
	}
	s.LockTimeout = fs.lockTimeout
	if s.LockTimeout == 0 {
		s.LockTimeout = -1 // --lock-timeout 0: wait until interrupted
	}
	s.OnLockWait = func(msg string) { fmt.Fprintln(stderr, msg) }
	return s, nil
}

func add(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("add", stderr)
	fs.writes()
	var mf modelFlags
	mf.register(fs)
	var n notes.Note
	comp := fs.String("component", "", `what the note is about: "20.7 OV", "L23/N907 V", set:NAME`)
	fs.StringVar(&n.Label, "label", "", "short label, e.g. \"names, medicine\"")
	fs.StringVar(&n.Text, "text", "", "free text")
	fs.StringVar(&n.Author, "author", "", "author (default $LENSKIT_AUTHOR or the login name)")
	fs.Func("tag", "tags, comma-separated (repeatable)", func(s string) error {
		for _, t := range strings.Split(s, ",") {
			if t = strings.TrimSpace(t); t != "" {
				n.Tags = append(n.Tags, t)
			}
		}
		return nil
	})
	fs.Func("member", "a token of a token set, ID:TEXT (repeatable)", func(s string) error {
		id, text, ok := strings.Cut(s, ":")
		i, err := strconv.Atoi(id)
		if !ok || err != nil {
			return fmt.Errorf("want ID:TEXT, e.g. 4102:ubrania")
		}
		n.Members = append(n.Members, notes.TokenRef{ID: i, Text: text})
		return nil
	})
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("notes add: unexpected arguments %q", rest)
	}
	if *comp == "" || n.Label == "" {
		return errors.New("notes add: --component and --label are required")
	}
	if n.Component, err = notes.ParseComponent(*comp); err != nil {
		return err
	}
	s, err := openForWrite(fs, &mf, stderr)
	if err != nil {
		return err
	}
	added, err := s.AddContext(ctx, n)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added %s: %v %q\n", added.ID, added.Component, added.Label)
	return nil
}

func remove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("remove", stderr)
	fs.writes()
	ids, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return errors.New("notes remove: which note? (give its id)")
	}
	s, err := openForWrite(fs, nil, stderr)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.RemoveContext(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %s\n", id)
	}
	return nil
}

func showMap(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("map", stderr)
	format := fs.String("format", "text", "text or html")
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("notes map: unexpected arguments %q", rest)
	}
	f, err := notes.ReadFile(fs.file)
	if err != nil {
		return err
	}
	switch *format {
	case "text":
		_, err = fmt.Fprintf(stdout, "%v\n%v", f.HeadMap(), f.NeuronMap())
	case "html":
		_, err = fmt.Fprintf(stdout, "%s\n%s\n", f.HeadMap().HTML(), f.NeuronMap().HTML())
	default:
		return fmt.Errorf("notes map: unknown format %q (want text or html)", *format)
	}
	return err
}
