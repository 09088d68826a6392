// Package checkpoint turns the name of a model into its config and lazily
// opened tensors: "" for the embedded tiny Polish GPT-2, a local directory in
// the Hugging Face layout, or a hub id "owner/model[@revision]".
//
// # Files and formats
//
// A checkpoint directory holds config.json and one of, in order of
// preference, model.safetensors.index.json (sharded safetensors),
// model.safetensors, pytorch_model.bin.index.json (sharded torch) or
// pytorch_model.bin; tokenizer files beside them are reachable through
// Checkpoint.Files. Safetensors may hold F32, F16, BF16 or F64 tensors (and
// integer buffers); torch files may be torch.save's zip archive (torch ≥ 1.6)
// or its older single-stream layout.
//
// Files are memory-mapped and only headers are read at open: a 1.4 GB
// GPT-2-medium-shaped checkpoint opens in about a millisecond from the page
// cache with about 10 MB of RSS (see cmd/lkbench-open and
// BenchmarkOpenMedium in lenskit/weights). F32 tensors are handed out as
// views of the mapping; F16, BF16 and F64 tensors are converted to float32 the
// first time somebody asks, once per tensor. Everything handed out is
// read-only.
//
// A mapping stays tied to the file: if another program truncates or
// rewrites a weights file while it is open, touching a page that is gone
// raises SIGBUS, which kills a Go program. The Hugging Face cache never
// rewrites a blob in place (downloads go to a temporary file renamed into
// place), so this concerns local checkpoints edited while open.
// Checkpoint.Guard runs a function that reads tensors and turns such a
// fault into an error wrapping ErrTruncated that names the file;
// Tensor.Float32's conversions and Checkpoint.Hash guard themselves. Only
// regular files are opened or mapped: a FIFO, socket or device given as a
// config, weights or tokenizer file is refused, by type, without blocking
// (opening a FIFO for reading would wait for a writer for ever).
//
// The safetensors parser is this package's own (ParseSafetensors) rather
// than go-huggingface's models/safetensors, whose reader, read for v0.4.0,
// slices its map with the header's offsets unchecked (a bad offset panics),
// does not look for overlapping tensors or compare the header length with the
// file size, copies each tensor into a GoMLX tensor and needs a hub.Repo and
// a compute backend to open a local file. Torch pickles are unpickled by
// github.com/nlpodyssey/gopickle's pickle package, but not through its
// pytorch package, which reads every storage into Go memory: here storages
// become references into the mapped zip entries, only the classes a state
// dict uses are resolved (see ParseTorch), and the stream is pre-scanned:
// every length is checked against the bytes there, and the unpickler is run
// abstractly, charging each opcode what gopickle allocates for it (a MARK
// 384 bytes, an EMPTY_DICT 160, …) and the string bytes later hashed or
// printed; a pickle whose charges pass 1 MiB plus 128 bytes per pickle byte
// (at most MaxPickleMemory, 512 MiB) is refused with ErrLimit before
// gopickle runs. A real state dict needs about 20 bytes per pickle byte
// (estimated at about 50). TestPickleCostModel checks the charges against
// the allocations the Go runtime counts, and FuzzPickle does so for every
// input it tries. Unpickling never runs code.
//
// # The hub and its cache
//
// Load downloads into the cache layout of Python's huggingface_hub
// (models--owner--name/{blobs,snapshots,refs}), so both share downloads. It
// reads the same environment variables, with the same defaults:
//
//	HF_HOME          base directory (default $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface)
//	HF_HUB_CACHE     the hub cache (default $HF_HOME/hub; HUGGINGFACE_HUB_CACHE also read)
//	HF_TOKEN         access token; else the file HF_TOKEN_PATH (default $HF_HOME/token)
//	HF_ENDPOINT      hub URL (default https://huggingface.co)
//	HF_HUB_OFFLINE   1/ON/YES/TRUE: never touch the network; use the cache or fail with ErrNotCached
//	HF_HUB_DOWNLOAD_TIMEOUT  seconds: the connect and idle timeouts below (default 10 s and 30 s)
//
// Options (WithCacheDir, WithToken, WithEndpoint, WithOffline, WithProgress,
// WithRefresh, WithTimeouts, WithRetry, WithHTTPClient) override them. A revision that resolves, through refs/ or
// because it is a commit hash, to a snapshot holding config and weights is
// opened without any network access; WithRefresh asks the hub what a branch
// points to now. Downloads fetch config.json, the weights and the tokenizer
// files, verify size (and SHA-256 for LFS files) and write refs/<revision>
// last.
//
// Every request is made here on net/http, not through go-huggingface v0.4.0's
// downloader, which has no timeouts, follows redirects without limit, lets a
// gzip body be decoded behind the size check, reports success when the
// connection drops and lets concurrent downloaders share temporary names
// (see hubHTTP). Here each request has a connect timeout and an idle timeout
// that counts progress: no answer, or no body bytes, for the idle time
// (default 30 s) fails with ErrTimeout, while a slow download that keeps
// moving never does. A request follows at most 10 redirects; bodies are
// asked for in identity encoding, a body in any other encoding is refused,
// and bytes are counted as they arrive, so a body larger than announced is
// cut off there (ErrLimit, "larger than announced"). Answers 429 and 503 are
// retried three times, after the hub's Retry-After or 1 s, 2 s, 4 s; a
// Retry-After over a minute fails at once. 401 and 404 become
// ErrUnauthorized and ErrNotFound with a hint about HF_TOKEN.
//
// A blob is downloaded under .locks/models--owner--name/<etag>.lock, the
// lock file huggingface_hub takes for it (flock on Unix), into a temporary
// file of its own that is renamed into blobs/ when complete; snapshot links
// and refs are replaced through unique temporary names too. Processes and
// goroutines loading one model into an empty cache at once all succeed and
// download each blob once (TestHubConcurrentFirstDownloads).
//
// # Bad input
//
// Every fault in a file is an error value naming the file (and the tensor),
// wrapping one of the sentinel errors so callers can tell faults apart; the
// weights package adds the checks that need config.json's meaning. Each row
// is a case of TestBadInput in lenskit/weights or of the table tests here.
//
//	| Input                                   | Error (abridged)                                                                          | errors.Is             |
//	|-----------------------------------------|-------------------------------------------------------------------------------------------|-----------------------|
//	| missing directory                       | checkpoint: stat DIR: no such file or directory                                           | fs.ErrNotExist        |
//	| missing config.json                     | checkpoint: DIR/config.json: missing file: no such file or directory                      | fs.ErrNotExist        |
//	| no weights file                         | checkpoint: DIR: no weights file: none of model.safetensors.index.json, …                 | ErrNoWeights          |
//	| missing shard                           | checkpoint: DIR/model-00002-of-00003.safetensors: missing file: …                         | fs.ErrNotExist        |
//	| shard lacks a tensor its index lists    | checkpoint: DIR/model-00001-of-00003.safetensors: tensor "…": malformed: listed in the index… | ErrMalformed      |
//	| index names a file outside the dir      | checkpoint: DIR/model.safetensors.index.json: tensor "…": malformed: shard "../x" is not a file name inside the checkpoint | ErrMalformed |
//	| truncated file                          | checkpoint: DIR/model.safetensors: truncated: the header describes N bytes of tensor data, the file holds M | ErrTruncated |
//	| header larger than the file             | checkpoint: DIR/model.safetensors: truncated: header length N larger than the file (M bytes after the length field) | ErrTruncated |
//	| header over 100 MB / not JSON / dup key | checkpoint: FILE: malformed: header length N exceeds the 100000000-byte limit (…)          | ErrMalformed          |
//	| overlapping offsets                     | checkpoint: FILE: tensor "b": bad tensor offsets: bytes [x, y] overlap tensor "a" [x, y]  | ErrOffsets            |
//	| out-of-range offsets                    | checkpoint: FILE: tensor "…": bad tensor offsets: data_offsets [x, y] outside the data area of N bytes | ErrOffsets |
//	| size disagrees with shape × dtype       | checkpoint: FILE: tensor "…": bad tensor offsets: data_offsets [0, 8] hold 8 bytes, but F32[3] needs 12 | ErrOffsets |
//	| unknown dtype                           | checkpoint: FILE: tensor "…": unknown dtype: "F24"                                        | ErrDType              |
//	| dtype not a float where weights are     | weights: FILE: tensor "…": tensor does not match config.json: dtype I32 is not a float type | weights.ErrShape    |
//	| shape disagrees with config.json        | weights: FILE: tensor "…h.0.mlp.c_fc.weight": tensor does not match config.json: shape [8 32], config.json implies [8 64] (n_embd=8, n_inner=64) | weights.ErrShape |
//	| tensor missing                          | weights: DIR: tensor does not match config.json: tensor "h.2.ln_1.weight" (or "transformer.h.2.ln_1.weight") is missing | weights.ErrShape |
//	| impossible config (heads ∤ d_model)     | weights: DIR/config.json: bad config: n_embd 8 is not a multiple of n_head 3              | weights.ErrConfig     |
//	| unknown model_type                      | weights: DIR: unsupported model_type "llama" in config.json (supported: gpt2)             | weights.ErrModelType  |
//	| pickle names a class outside the list   | checkpoint: FILE: archive/data.pkl: unsupported: pickle refers to builtins.eval, which is not among the classes a state dict uses | ErrUnsupported |
//	| pickle bomb (20,000,000 MARKs)          | checkpoint: FILE: magic number: over a safety limit: unpickling would allocate more than 512.0 MB, the most allowed for a pickle of 19.1 MB (a state dict needs about 20 bytes per pickle byte): by byte 1398018, 1398017 MARK ('(') opcodes alone would take 512.0 MB | ErrLimit |
//	| string DUP'ed into a tuple 100,000 times | checkpoint: FILE: archive/data.pkl: over a safety limit: unpickling would hash or print strings of more than 141.2 MB, … 1 TUPLE ('t') opcodes alone would take 97.66 GB | ErrLimit |
//	| huge value in a pickle or header        | checkpoint: FILE: malformed: state dict key tuple of 1 ("\x1b[2J\x1b[2J…"… (3000000 bytes)) is not a tensor name | ErrMalformed |
//	| FIFO or device as a checkpoint file     | checkpoint: DIR/model.safetensors: not a regular file: FIFO (named pipe)   (or: character device) | untrusted.ErrNotRegular |
//	| weights truncated while mapped          | checkpoint: FILE: truncated: byte N of the M mapped when the checkpoint was opened is gone: the file was truncated or rewritten while open; reopen the checkpoint (Guard, Hash, Float32) | ErrTruncated |
//	| damaged pickle / zip                    | checkpoint: FILE: malformed: archive/data.pkl: zip: checksum error                        | ErrMalformed          |
//	| non-contiguous torch tensor             | checkpoint: FILE: tensor "t": unsupported: non-contiguous tensor (size [4 3], stride [1 4]) | ErrUnsupported       |
//	| hub: private model, no token            | checkpoint: owner/m@main: revision lookup: unauthorized (…): no token was sent: set HF_TOKEN … | ErrUnauthorized  |
//	| hub: unknown model or revision          | checkpoint: owner/m@main: revision lookup: not found (Repository Not Found)               | ErrNotFound           |
//	| offline and not cached                  | checkpoint: owner/m@main: not cached: the model is not in the Hugging Face cache at DIR and HF_HUB_OFFLINE is set … | ErrNotCached |
//	| download cut short                      | checkpoint: owner/m@main: downloading model.safetensors: truncated: download incomplete: 1000 of 19376 bytes: unexpected EOF | ErrTruncated |
//	| hub accepts and never answers           | checkpoint: owner/m@main: revision lookup: timed out: no answer from URL within 30s (WithTimeouts or HF_HUB_DOWNLOAD_TIMEOUT sets how long to wait; …) | ErrTimeout |
//	| download stalls mid-body                | checkpoint: owner/m@main: downloading model.safetensors: timed out: no data for 30s after 1000 bytes of the body (…) | ErrTimeout |
//	| redirect loop                           | checkpoint: owner/m@main: downloading model.safetensors: over a safety limit: stopped after 10 redirects (the last to "…") | ErrLimit |
//	| body longer than announced              | checkpoint: owner/m@main: downloading model.safetensors: over a safety limit: larger than announced: the hub announced 19376 bytes and sent more; the download was stopped there | ErrLimit |
//	| gzip body despite identity              | checkpoint: owner/m@main: downloading config.json: unsupported: the hub sent a body in "gzip" encoding although lenskit asked for identity (unencoded) bytes | ErrUnsupported |
//	| 503 every time                          | checkpoint: owner/m@main: revision lookup: hub answered 503 Service Unavailable (4 tries) | —           |
//	| Retry-After over a minute               | checkpoint: owner/m@main: revision lookup: over a safety limit: the hub answered 429 Too Many Requests and asks to wait 1h0m0s before retrying, more than the 1m0s lenskit waits (WithRetry) | ErrLimit |
//
// The tokenizer and the embedding meet in the lenskit facade: a tokenizer
// smaller than the embedding is a padded vocabulary (the extra rows take no
// part in any view), and one larger is refused while its file is parsed
// (vocab.LoadOptions.MaxTokens), naming the first id beyond the rows.
package checkpoint
