// Package notes keeps a researcher's findings about a model's components —
// head 20.7 through W_OV, the value side of neuron L23/N907, a named token
// set — together with the evidence they were read from (the top tokens or
// pairs with their scores, k, the exact filter settings, the lenskit
// version) and the identity of the weights (model id, revision, hash).
//
// # One file per model
//
// A Store is one JSON file per model, meant to sit next to the notebooks and
// go into git with them, e.g. notebooks/notes/tiny-pl-gpt2.lenskit-notes.json.
// JSON, because every tool (jq, Python, an editor) reads it; laid out for
// diffs, because findings get reviewed and merged like code:
//
//   - a versioned schema ("schema": "lenskit-notes/1"); unknown versions,
//     unknown fields and repeated fields are refused rather than dropped on
//     the next rewrite;
//   - keys in a fixed order, notes sorted by component (heads, neurons, token
//     sets; by layer and index), then creation time, then id;
//   - one note is one contiguous block, one field per line, one evidence
//     entry per line, so adding or editing a note changes only its lines;
//   - note ids are random and stable, so merges match notes across copies.
//
// A notes file looks like this (evidence shortened):
//
//	{
//	  "schema": "lenskit-notes/1",
//	  "model": {"id": "tiny-pl-gpt2", "revision": "", "hash": "sha256:9f…", "layers": 4, "heads": 8, "neurons": 1024, "vocab": 8192},
//	  "notes": [
//	    {
//	      "id": "3c1f0a9e2b7d",
//	      "component": "3.7 OV",
//	      "label": "clothing",
//	      "tags": ["semantic"],
//	      "author": "ala",
//	      "created": "2026-11-27T10:00:00Z",
//	      "updated": "2026-11-27T10:00:00Z",
//	      "weights": "sha256:9f…",
//	      "evidence": {
//	        "k": 30,
//	        "bottom": false,
//	        "filter": "alnum",
//	        "lenskit": "v0.1.0",
//	        "pairs": [
//	          {"source": 5120, "source_text": "ubrania", "target": 733, "target_text": "mundur", "score": 4.25}
//	        ]
//	      }
//	    }
//	  ]
//	}
//
// # Safe writes
//
// Several kernels and command lines may write one file at once. Each write
// takes an exclusive lock on a sidecar file (path + ".lock", which can stay
// out of git), re-reads the file under the lock, applies its change and
// replaces the file atomically: temporary file in the same directory, fsync,
// rename, fsync of the directory. No write is lost, and a writer killed at
// any point leaves the previous file intact. A file that does not parse is
// reported with its line and column (*ParseError) and never written over.
// Files are size-checked (MaxFileSize) before they are read.
//
// A write waits for another writer's lock at most Store.LockTimeout
// (DefaultLockTimeout, 30 s; `lenskit notes add --lock-timeout`), and gives
// up when its context is done (the *Context methods; Ctrl-C in the
// command). After a second of waiting it says so through Store.OnLockWait
// (standard error by default), naming the file and, on Linux, the pid of
// the process holding the lock (from /proc/locks).
//
// # Bad input
//
// Notes files come from other people's repositories. Every limit is
// applied before work that grows with what it limits — a list longer than
// allowed is refused by its length before it is cleaned or de-duplicated,
// notes past MaxNotes before anything is built for them — and values from
// a file appear in messages only as a short escaped prefix.
//
//	| Input                                  | Error (abridged)                                                                          |
//	|----------------------------------------|-------------------------------------------------------------------------------------------|
//	| 300,000 tags on a note (4 MB)          | notes.json:1:257: note a: 300000 tags, more than 64  (in 0.23 s; was 186 s)               |
//	| more than 100,000 notes                | notes.json:1:11489020: more than 100000 notes (the most a notes file may hold)            |
//	| a field of 1 MB of escapes             | notes.json:1:155: note a: bad component "\x1b[2J\x1b[2J…"… (1000000 bytes): …              |
//	| a FIFO as the notes file               | notes: FILE: not a regular file: FIFO (named pipe)                                        |
//	| the lock held by another process       | notes: waiting for the lock on FILE.lock held by another process (pid 4242)…  (after 1 s) |
//	|                                        | notes: lock held too long: the lock on FILE.lock was held by another process (pid 4242) for 30s, the longest a write waits (set a longer wait with --lock-timeout or Store.LockTimeout) |
//	| Ctrl-C while waiting                   | notes: waiting for the lock on FILE.lock (held by another process (pid 4242)): context canceled |
//
// # Views
//
// File.Table, File.HeadMap (layer × head, coloured by which views carry
// labels) and File.NeuronMap (labelled neurons per layer) render as text
// and as HTML for notebooks; File.Markdown and File.Encode export; Merge
// brings in another researcher's file and reports every conflict.
package notes
