package notes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"lenskit.dev/lenskit/internal/untrusted"
)

var (
	// ErrNotFound is returned (wrapped) for a note id not in the store.
	ErrNotFound = errors.New("no such note")
	// ErrExists is returned (wrapped) when adding a note whose id is taken.
	ErrExists = errors.New("note id already in use")
	// ErrOutOfRange is wrapped by errors about components and token ids
	// the model does not have (layer ≥ Layers, head ≥ Heads, …).
	ErrOutOfRange = errors.New("out of range")
)

// A Store is a notes file opened for one model. Every write takes a lock on
// a sidecar file (path + ".lock"), reads the file afresh, applies the change
// and replaces the file atomically, so notebooks and command lines writing
// at the same time lose nothing, and a crash leaves either the old file or
// the new one. Reads see the file as of the last read or write, re-read
// when it has changed on disk.
//
// A Store is safe for concurrent use.
type Store struct {
	// Author is recorded on notes added without one. Open sets it from
	// $LENSKIT_AUTHOR, else from the login name.
	Author string

	// LockTimeout bounds how long a write waits for the lock another
	// process (or Store) holds on the file: 0 means DefaultLockTimeout
	// (30 s), a negative value waits as long as the write's context
	// allows. A write that gives up returns an error wrapping
	// ErrLockTimeout that names the file and, on Linux, the holder's pid.
	LockTimeout time.Duration
	// OnLockWait, when set, is told once per write that has waited a second
	// for the lock, e.g. "notes: waiting for the lock on F held by another
	// process (pid 4242)…". Open sets it to print that line to standard
	// error; set it to nil for silence.
	OnLockWait func(msg string)

	path  string
	model Model // the model the store was opened with

	mu    sync.Mutex
	snap  *File       // as last read or written
	stamp fs.FileInfo // the file snap was read from; nil if there was none
	now   func() time.Time
}

// A Warning says that a notes file was written against other weights than
// those it is opened with: findings and their evidence may not hold. The
// store is usable; its notes are kept as they are.
type Warning struct {
	Path    string
	Stored  Model    // as recorded in the file
	Opened  Model    // as given to Open
	Outside []string // ids of notes whose components the opened model does not have
}

func (w *Warning) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "notes: %s was written against weights %s, but is opened with weights %s",
		w.Path, describeModel(w.Stored), describeModel(w.Opened))
	if w.Stored.Layers != w.Opened.Layers || w.Stored.Heads != w.Opened.Heads || w.Stored.Neurons != w.Opened.Neurons {
		fmt.Fprintf(&b, "; shapes differ (%d layers × %d heads × %d neurons vs %d × %d × %d), so writes are refused until Adopt",
			w.Stored.Layers, w.Stored.Heads, w.Stored.Neurons, w.Opened.Layers, w.Opened.Heads, w.Opened.Neurons)
	}
	if len(w.Outside) > 0 {
		ids := w.Outside
		more := ""
		if len(ids) > 10 {
			ids, more = ids[:10], fmt.Sprintf(" and %d more", len(w.Outside)-10)
		}
		fmt.Fprintf(&b, "; %d notes are about components the opened model lacks: %s%s", len(w.Outside), strings.Join(ids, ", "), more)
	}
	return b.String() + "; their evidence may not hold for these weights"
}

func (w *Warning) String() string { return w.Error() }

func describeModel(m Model) string {
	h := m.Hash
	if h == "" {
		h = "(no hash)"
	}
	s := h + " (" + m.name()
	if m.Revision != "" {
		s += " @" + m.Revision
	}
	return s + ")"
}

// Open opens the notes file at path for model m. A missing file is an empty
// store (the file is created by the first write, with any missing
// directories). A malformed file is an error (a *ParseError with its
// position) and is left untouched. If the file was written against other
// weights — a different hash, id, revision or shape — Open returns the store
// and a *Warning naming both.
func Open(path string, m Model) (*Store, *Warning, error) {
	if err := m.check(); err != nil {
		return nil, nil, fmt.Errorf("notes: open %s: %v", path, err)
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real // write through a symlink, not over it
	}
	s := &Store{Author: defaultAuthor(), path: path, model: m, now: time.Now,
		OnLockWait: func(msg string) { fmt.Fprintln(os.Stderr, msg) }}
	s.mu.Lock()
	err := s.refresh()
	s.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	return s, s.warning(), nil
}

// OpenFile opens an existing notes file for the model it records, for
// tools (like the lenskit command) that read and merge notes without
// loading the weights.
func OpenFile(path string) (*Store, error) {
	f, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, _, err := Open(path, f.Model)
	return s, err
}

func defaultAuthor() string {
	if a := os.Getenv("LENSKIT_AUTHOR"); a != "" {
		return a
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

// Path returns the file the store reads and writes.
func (s *Store) Path() string { return s.path }

// Model returns the model the store was opened with.
func (s *Store) Model() Model { return s.model }

func (s *Store) warning() *Warning {
	st := s.snap.Model
	m := s.model
	if st.Hash == m.Hash && st.ID == m.ID && st.Revision == m.Revision && sameShape(st, m) {
		return nil
	}
	w := &Warning{Path: s.path, Stored: st, Opened: m}
	for _, n := range s.snap.Notes {
		if n.Component.check(m) != nil {
			w.Outside = append(w.Outside, n.ID)
		}
	}
	return w
}

func sameShape(a, b Model) bool {
	return a.Layers == b.Layers && a.Heads == b.Heads && a.Neurons == b.Neurons &&
		(a.Vocab == b.Vocab || a.Vocab == 0 || b.Vocab == 0)
}

// refresh re-reads the file if it changed since the snapshot. s.mu is held.
func (s *Store) refresh() error {
	st, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		s.snap, s.stamp = &File{Model: s.model}, nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("notes: %w", err)
	}
	if s.snap != nil && s.stamp != nil && os.SameFile(st, s.stamp) &&
		st.Size() == s.stamp.Size() && st.ModTime().Equal(s.stamp.ModTime()) {
		return nil
	}
	f, st, err := s.read()
	if err != nil {
		return err
	}
	s.snap, s.stamp = f, st
	return nil
}

// read reads and parses the file; a missing file is an empty one.
func (s *Store) read() (*File, fs.FileInfo, error) {
	st, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return &File{Model: s.model}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("notes: %w", err)
	}
	data, err := readCapped(s.path)
	if err != nil {
		return nil, nil, err
	}
	f, err := Parse(s.path, data)
	if err != nil {
		return nil, nil, err
	}
	return f, st, nil
}

// write applies change to the file under the lock: fresh read, change,
// atomic replace. A file that does not parse is never written over, nor
// is one about a model of another shape.
func (s *Store) write(ctx context.Context, change func(f *File) error) error {
	return s.locked(ctx, func(f *File) error {
		if !sameShape(f.Model, s.model) {
			return fmt.Errorf("notes: %s is about %s with %d layers × %d heads × %d neurons, not %s with %d × %d × %d; writes are refused (Adopt to re-target the file)",
				s.path, f.Model.name(), f.Model.Layers, f.Model.Heads, f.Model.Neurons, s.model.name(), s.model.Layers, s.model.Heads, s.model.Neurons)
		}
		return change(f)
	})
}

// locked reads the file under s.mu and the file lock, lets change edit it,
// and replaces the file with the result.
func (s *Store) locked(ctx context.Context, change func(f *File) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("notes: %w", err)
	}
	unlock, err := lockFile(ctx, s.path+".lock", lockWait{timeout: s.LockTimeout, notify: s.OnLockWait})
	if err != nil {
		if errors.Is(err, ErrLockTimeout) || ctx.Err() != nil {
			return err // says which lock, held by whom
		}
		return fmt.Errorf("notes: locking %s: %w", s.path, err)
	}
	defer unlock()
	f, _, err := s.read()
	if err != nil {
		return fmt.Errorf("%w (the file is left as it is; fix it before writing)", err)
	}
	if err := change(f); err != nil {
		return err
	}
	return s.replace(f)
}

// replace writes f over the file; the lock and s.mu are held.
func (s *Store) replace(f *File) error {
	c, err := f.canonical()
	if err != nil {
		return err
	}
	data, err := c.encode()
	if err != nil {
		return err
	}
	removeStaleTemps(s.path)
	if err := writeAtomic(s.path, data); err != nil {
		return fmt.Errorf("notes: writing %s: %w", s.path, err)
	}
	st, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("notes: %w", err)
	}
	s.snap, s.stamp = c, st
	return nil
}

// testHookBeforeRename, when set by a test, runs after the temporary file
// is written and synced and before it is renamed over the notes file.
var testHookBeforeRename func(tmp string)

// writeAtomic replaces path by data: temporary file in the same directory,
// fsync, rename, fsync of the directory. Readers see the old file or the new
// one, never a mix, and a crash at any point leaves one of them.
func writeAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if testHookBeforeRename != nil {
		testHookBeforeRename(tmp.Name())
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// removeStaleTemps deletes temporary files left by writers that died
// before their rename. It runs under the lock, so no live writer owns them.
func removeStaleTemps(path string) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + base + ".tmp-"
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) && e.Type().IsRegular() {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func newID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Add stores a new note and returns it as stored. Missing fields are filled
// in: a fresh id, Author from s.Author, Weights from the opened model's
// hash, Created and Updated from the clock. A component or token the model
// does not have is refused (the error wraps ErrOutOfRange). The note is on
// disk when Add returns.
func (s *Store) Add(n Note) (Note, error) { return s.AddContext(context.Background(), n) }

// AddContext is Add, giving up waiting for the file's lock when ctx is done.
func (s *Store) AddContext(ctx context.Context, n Note) (Note, error) {
	n = n.clone()
	if n.Author == "" {
		n.Author = s.Author
	}
	if n.Weights == "" {
		n.Weights = s.model.Hash
	}
	now := s.now()
	if n.Created.IsZero() {
		n.Created = now
	}
	if n.Updated.IsZero() {
		n.Updated = n.Created
	}
	n.normalize()
	probe := n
	if probe.ID == "" {
		probe.ID = "new"
	}
	if _, err := probe.check(s.model); err != nil {
		return Note{}, fmt.Errorf("notes: add %v: %w", n.Component, err)
	}
	err := s.write(ctx, func(f *File) error {
		if n.ID == "" {
			for n.ID == "" || f.index(n.ID) >= 0 {
				n.ID = newID()
			}
		} else if f.index(n.ID) >= 0 {
			return fmt.Errorf("notes: add %s: %w", n.ID, ErrExists)
		}
		f.Notes = append(f.Notes, n)
		return nil
	})
	if err != nil {
		return Note{}, err
	}
	return n.clone(), nil
}

// Update applies edit to the current version of note id, read under the
// lock, and stores the result with Updated set to now. The id and creation
// time cannot change. The edit is on disk when Update returns.
func (s *Store) Update(id string, edit func(n *Note) error) (Note, error) {
	return s.UpdateContext(context.Background(), id, edit)
}

// UpdateContext is Update, giving up waiting for the file's lock when ctx
// is done.
func (s *Store) UpdateContext(ctx context.Context, id string, edit func(n *Note) error) (Note, error) {
	var out Note
	err := s.write(ctx, func(f *File) error {
		i := f.index(id)
		if i < 0 {
			return fmt.Errorf("notes: update %s: %w", id, ErrNotFound)
		}
		n := f.Notes[i].clone()
		if err := edit(&n); err != nil {
			return err
		}
		if n.ID != id {
			return fmt.Errorf("notes: update %s: the id cannot change (to %s)", id, untrusted.Quote(n.ID))
		}
		n.Created = f.Notes[i].Created
		n.Updated = s.now()
		if n.Updated.Before(n.Created) {
			n.Updated = n.Created
		}
		n.normalize()
		if _, err := n.check(s.model); err != nil {
			return fmt.Errorf("notes: update %s: %w", id, err)
		}
		f.Notes[i] = n
		out = n.clone()
		return nil
	})
	return out, err
}

// Remove deletes note id; it is gone from disk when Remove returns.
func (s *Store) Remove(id string) error { return s.RemoveContext(context.Background(), id) }

// RemoveContext is Remove, giving up waiting for the file's lock when ctx
// is done.
func (s *Store) RemoveContext(ctx context.Context, id string) error {
	return s.write(ctx, func(f *File) error {
		i := f.index(id)
		if i < 0 {
			return fmt.Errorf("notes: remove %s: %w", id, ErrNotFound)
		}
		f.Notes = slices.Delete(f.Notes, i, i+1)
		return nil
	})
}

// Adopt re-targets the file at the model the store was opened with: the
// header takes its id, revision, hash and shape, so later opens with these
// weights do not warn. Notes keep the weights hash they were made against.
// Adopt fails if a note is about a component the model lacks.
func (s *Store) Adopt() error { return s.AdoptContext(context.Background()) }

// AdoptContext is Adopt, giving up waiting for the file's lock when ctx is
// done.
func (s *Store) AdoptContext(ctx context.Context) error {
	return s.locked(ctx, func(f *File) error {
		f.Model = s.model
		for _, n := range f.Notes {
			if _, err := n.check(s.model); err != nil {
				return fmt.Errorf("notes: adopt %s: note %s: %w", s.model.name(), n.ID, err)
			}
		}
		return nil
	})
}

func (f *File) index(id string) int {
	return slices.IndexFunc(f.Notes, func(n Note) bool { return n.ID == id })
}

// File returns a copy of the notes file as it is on disk now.
func (s *Store) File() (*File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refresh(); err != nil {
		return nil, err
	}
	f := &File{Model: s.snap.Model, Notes: make([]Note, len(s.snap.Notes))}
	for i, n := range s.snap.Notes {
		f.Notes[i] = n.clone()
	}
	return f, nil
}

// Get returns note id.
func (s *Store) Get(id string) (Note, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refresh(); err != nil {
		return Note{}, err
	}
	i := s.snap.index(id)
	if i < 0 {
		return Note{}, fmt.Errorf("notes: %s: %w", id, ErrNotFound)
	}
	return s.snap.Notes[i].clone(), nil
}

// List returns the notes q selects, in file order.
func (s *Store) List(q Query) ([]Note, error) {
	f, err := s.File()
	if err != nil {
		return nil, err
	}
	return f.Select(q)
}

// Search returns the notes in which every whitespace-separated term occurs,
// ignoring case, in the component, label, text, tags, author, token-set
// members, evidence tokens or filter description.
func (s *Store) Search(terms string) ([]Note, error) {
	return s.List(Query{Text: terms})
}
