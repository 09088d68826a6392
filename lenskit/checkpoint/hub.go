package checkpoint

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"lenskit.dev/lenskit/internal/untrusted"
)

// An Option configures how Load reaches the Hugging Face hub. Options
// override the environment variables described in the package documentation.
type Option func(*hubOptions)

type hubOptions struct {
	cacheDir string
	endpoint string
	token    string
	offline  bool
	refresh  bool
	progress func(file string, done, total int64)
	lockWait func(msg string)
	client   *http.Client

	connectTimeout, idleTimeout time.Duration
	retries                     int
	maxRetryWait                time.Duration
}

// WithCacheDir sets the hub cache directory (the directory holding
// models--owner--name), overriding HF_HUB_CACHE and HF_HOME.
func WithCacheDir(dir string) Option { return func(o *hubOptions) { o.cacheDir = dir } }

// WithEndpoint sets the hub URL, overriding HF_ENDPOINT.
func WithEndpoint(endpoint string) Option {
	return func(o *hubOptions) { o.endpoint = strings.TrimSuffix(endpoint, "/") }
}

// WithToken sets the access token for private and gated models, overriding
// HF_TOKEN and the token file.
func WithToken(token string) Option { return func(o *hubOptions) { o.token = token } }

// WithOffline forbids (true) or allows (false) network access, overriding
// HF_HUB_OFFLINE.
func WithOffline(offline bool) Option { return func(o *hubOptions) { o.offline = offline } }

// WithRefresh makes Load ask the hub what a branch or tag points to even
// when a complete snapshot for it is cached. Without it a cached revision is
// used as is, with no network access (see the package documentation).
func WithRefresh() Option { return func(o *hubOptions) { o.refresh = true } }

// WithProgress reports download progress: done of total bytes of file
// (total is -1 when the hub did not say). It is called from the downloading
// goroutine, at least once per file downloaded, with done == total when the
// file is complete. Files already cached are not reported.
func WithProgress(fn func(file string, done, total int64)) Option {
	return func(o *hubOptions) { o.progress = fn }
}

// WithLockWait reports, once per file, that a download waits for another
// process or goroutine downloading the same file into the same cache (the
// lock huggingface_hub takes too). Such a wait lasts as long as the other
// download, which may be long, so it is not cut by a timeout; the message
// says what is waited for, and cancelling Load's context ends the wait.
func WithLockWait(fn func(msg string)) Option { return func(o *hubOptions) { o.lockWait = fn } }

// WithHTTPClient sets the client for the hub's requests (proxies, TLS
// settings, a test transport). Its Timeout and CheckRedirect are not used:
// every request still gets the idle timeout (WithTimeouts), the redirect
// cap and identity encoding; the connect timeout is the client's own.
func WithHTTPClient(c *http.Client) Option { return func(o *hubOptions) { o.client = c } }

// WithTimeouts sets how long connecting to the hub may take (connect,
// default DefaultConnectTimeout) and how long a request may make no
// progress (idle, default DefaultIdleTimeout): no answer after the request
// was sent, or no body bytes since the last ones. A download that keeps
// moving, however slowly, is never cut. Zero keeps a default; the variable
// HF_HUB_DOWNLOAD_TIMEOUT (seconds) sets both, as in huggingface_hub.
func WithTimeouts(connect, idle time.Duration) Option {
	return func(o *hubOptions) {
		if connect > 0 {
			o.connectTimeout = connect
		}
		if idle > 0 {
			o.idleTimeout = idle
		}
	}
}

// WithRetry sets how often an answer of 429 (Too Many Requests) or 503
// (Service Unavailable) is retried (default DefaultRetries; 0 never
// retries) and the longest single wait before a retry (default
// DefaultMaxRetryWait). The wait is the hub's Retry-After when it sends
// one, else 1 s, 2 s, 4 s, …; a Retry-After longer than maxWait fails at
// once with ErrLimit rather than wait.
func WithRetry(retries int, maxWait time.Duration) Option {
	return func(o *hubOptions) {
		o.retries = max(retries, 0)
		if maxWait > 0 {
			o.maxRetryWait = maxWait
		}
	}
}

// TextProgress returns a progress function for WithProgress that writes one
// self-overwriting line per file to w (usually os.Stderr), at most a few
// times a second.
func TextProgress(w io.Writer) func(file string, done, total int64) {
	var mu sync.Mutex
	var last time.Time
	return func(file string, done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		finished := total >= 0 && done >= total
		if !finished && time.Since(last) < 200*time.Millisecond {
			return
		}
		last = time.Now()
		if total < 0 {
			fmt.Fprintf(w, "\rdownloading %s: %s", file, humanBytes(done))
		} else {
			fmt.Fprintf(w, "\rdownloading %s: %s / %s", file, humanBytes(done), humanBytes(total))
		}
		if finished {
			fmt.Fprintln(w)
		}
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// envOptions reads the variables huggingface_hub reads, with its defaults.
func envOptions() hubOptions {
	var o hubOptions
	home := os.Getenv("HF_HOME")
	if home == "" {
		xdg := os.Getenv("XDG_CACHE_HOME")
		if xdg == "" {
			if h, err := os.UserHomeDir(); err == nil {
				xdg = filepath.Join(h, ".cache")
			}
		}
		home = filepath.Join(xdg, "huggingface")
	}
	o.cacheDir = os.Getenv("HF_HUB_CACHE")
	if o.cacheDir == "" {
		o.cacheDir = os.Getenv("HUGGINGFACE_HUB_CACHE") // the older name
	}
	if o.cacheDir == "" {
		o.cacheDir = filepath.Join(home, "hub")
	}
	o.endpoint = strings.TrimSuffix(os.Getenv("HF_ENDPOINT"), "/")
	if o.endpoint == "" {
		o.endpoint = "https://huggingface.co"
	}
	o.token = strings.TrimSpace(os.Getenv("HF_TOKEN"))
	if o.token == "" {
		tokenPath := os.Getenv("HF_TOKEN_PATH")
		if tokenPath == "" {
			tokenPath = filepath.Join(home, "token")
		}
		if b, err := untrusted.ReadFile(tokenPath, 64<<10); err == nil {
			o.token = strings.TrimSpace(string(b))
		}
	}
	o.retries = DefaultRetries
	if v := strings.TrimSpace(os.Getenv("HF_HUB_DOWNLOAD_TIMEOUT")); v != "" {
		if sec, err := strconv.ParseFloat(v, 64); err == nil && sec > 0 && sec < 1e6 {
			o.connectTimeout = time.Duration(sec * float64(time.Second))
			o.idleTimeout = o.connectTimeout
		}
	}
	switch strings.ToUpper(strings.TrimSpace(os.Getenv("HF_HUB_OFFLINE"))) {
	case "1", "ON", "YES", "TRUE":
		o.offline = true
	}
	return o
}

var (
	repoIDPattern   = regexp.MustCompile(`^(?:[A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*$`)
	revisionPattern = regexp.MustCompile(`^[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$`)
	commitPattern   = regexp.MustCompile(`^[0-9a-f]{40}$`)
	etagPattern     = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]*$`)
	sha256Pattern   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ParseHubID splits "owner/model@revision" into repository id and revision
// ("main" when absent), checking both against the characters the hub allows.
func ParseHubID(name string) (repo, revision string, err error) {
	repo, revision = name, "main"
	if i := strings.IndexByte(name, '@'); i >= 0 {
		repo, revision = name[:i], name[i+1:]
	}
	if !repoIDPattern.MatchString(repo) || strings.Contains(repo, "..") {
		return "", "", fmt.Errorf("checkpoint: %q is neither a directory nor a hub id (owner/model[@revision])", name)
	}
	if !revisionPattern.MatchString(revision) || strings.Contains(revision, "..") {
		return "", "", fmt.Errorf("checkpoint: %q: bad revision %q", name, revision)
	}
	return repo, revision, nil
}

// hubRepo is one model repository in the cache, in the layout
// huggingface_hub uses, so that Python and Go share downloads:
//
//	<cache>/models--owner--name/refs/<revision>          commit hash
//	<cache>/models--owner--name/blobs/<etag>             file contents
//	<cache>/models--owner--name/snapshots/<commit>/<file> → ../../blobs/<etag>
type hubRepo struct {
	id, revision string
	dir          string
	o            hubOptions
	http         *hubHTTP
}

func loadHub(ctx context.Context, name string, opts ...Option) (*Checkpoint, error) {
	id, rev, err := ParseHubID(name)
	if err != nil {
		return nil, err
	}
	o := envOptions()
	for _, opt := range opts {
		opt(&o)
	}
	r := &hubRepo{id: id, revision: rev, o: o, http: newHubHTTP(&o),
		dir: filepath.Join(o.cacheDir, repoFolder(id))}

	if commit, ok := r.cachedCommit(); ok && (!o.refresh || o.offline) {
		snap := r.snapshotDir(commit)
		if missing := missingFiles(snap); missing == "" {
			return r.open(commit)
		} else if o.offline {
			return nil, fmt.Errorf("checkpoint: %s@%s: %w: snapshot %s lacks %s and HF_HUB_OFFLINE is set", id, rev, ErrNotCached, snap, missing)
		}
	}
	if o.offline {
		return nil, fmt.Errorf("checkpoint: %s@%s: %w: the model is not in the Hugging Face cache at %s and HF_HUB_OFFLINE is set (download it once online, or unset HF_HUB_OFFLINE)", id, rev, ErrNotCached, o.cacheDir)
	}

	info, err := r.fetchInfo(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.download(ctx, info); err != nil {
		return nil, err
	}
	if rev != info.SHA {
		if err := writeAtomic(filepath.Join(r.dir, "refs", filepath.FromSlash(rev)), []byte(info.SHA)); err != nil {
			return nil, fmt.Errorf("checkpoint: %s: writing ref: %w", id, err)
		}
	}
	return r.open(info.SHA)
}

// repoFolder is a repository's directory in the cache, as huggingface_hub
// names it.
func repoFolder(id string) string { return "models--" + strings.ReplaceAll(id, "/", "--") }

func (r *hubRepo) snapshotDir(commit string) string {
	return filepath.Join(r.dir, "snapshots", commit)
}

// cachedCommit resolves the revision without the network: a commit hash is
// itself, a branch or tag is read from refs/.
func (r *hubRepo) cachedCommit() (string, bool) {
	if commitPattern.MatchString(r.revision) {
		return r.revision, true
	}
	b, err := untrusted.ReadFile(filepath.Join(r.dir, "refs", filepath.FromSlash(r.revision)), 1<<10)
	if err != nil {
		return "", false
	}
	c := strings.TrimSpace(string(b))
	return c, commitPattern.MatchString(c)
}

func (r *hubRepo) open(commit string) (*Checkpoint, error) {
	snap := r.snapshotDir(commit)
	c, err := open(dirSource(snap), r.id+"@"+commit, snap, r.id)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// missingFiles reports what a snapshot directory lacks to be opened: config
// and weights (every shard of a sharded checkpoint). "" means complete.
func missingFiles(dir string) string {
	has := func(name string) bool {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)))
		return err == nil && st.Mode().IsRegular()
	}
	if !has(ConfigFile) {
		return ConfigFile
	}
	for _, index := range []string{SafetensorsIndexFile, TorchIndexFile} {
		if !has(index) {
			continue
		}
		data, err := readLimited(dirFS(dir), index, MaxIndex)
		if err != nil {
			return index
		}
		idx, err := ParseIndex(index, data)
		if err != nil {
			return index
		}
		for _, s := range idx.Shards {
			if !has(s) {
				return s
			}
		}
		return ""
	}
	if has(SafetensorsFile) || has(TorchFile) {
		return ""
	}
	return "a weights file"
}

// repoInfo is the part of /api/models/{id}/revision/{rev} used here.
type repoInfo struct {
	SHA      string `json:"sha"`
	Siblings []struct {
		Name string `json:"rfilename"`
	} `json:"siblings"`
}

// hubError turns a non-2xx hub answer into an error wrapping ErrUnauthorized
// or ErrNotFound where that is what it means. The hub answers 401 both for
// private or gated repositories and, to unauthenticated callers, for
// repositories that do not exist.
func (r *hubRepo) hubError(what string, resp *http.Response) error {
	code := resp.Header.Get("X-Error-Code")
	msg := quoteMessage(resp.Header.Get("X-Error-Message"))
	if msg == "" {
		msg = quoteMessage(resp.Status)
	}
	if tries := resp.Header.Get("X-Lenskit-Tries"); tries != "" {
		msg += " (" + tries + " tries)"
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		hint := "no token was sent: set HF_TOKEN (or log in with huggingface-cli) if the model is private or gated"
		if r.o.token != "" {
			hint = "the token was refused, or it lacks access to this model"
		}
		if code == "RepoNotFound" {
			hint = "the repository does not exist, or " + hint
		}
		return fmt.Errorf("checkpoint: %s@%s: %s: %w (%s): %s", r.id, r.revision, what, ErrUnauthorized, msg, hint)
	case http.StatusNotFound:
		return fmt.Errorf("checkpoint: %s@%s: %s: %w (%s)", r.id, r.revision, what, ErrNotFound, msg)
	}
	return fmt.Errorf("checkpoint: %s@%s: %s: hub answered %s", r.id, r.revision, what, msg)
}

func userAgent() string {
	return "lenskit (go-huggingface; " + runtime.Version() + ")"
}

// fetchInfo asks the hub which commit the revision is and which files it
// has. This is done here on net/http rather than with go-huggingface's
// Repo.DownloadInfo, which reports every HTTP failure as a formatted string
// (so a 401 cannot be told from a 404 or a network error), cannot be
// cancelled, and keeps its answer in a non-standard info/ directory of the
// cache instead of the refs/ files Python reads.
func (r *hubRepo) fetchInfo(ctx context.Context) (*repoInfo, error) {
	u := fmt.Sprintf("%s/api/models/%s/revision/%s", r.o.endpoint, r.id, url.PathEscape(r.revision))
	resp, err := r.http.do(ctx, http.MethodGet, u, true)
	if err != nil {
		if errors.Is(err, ErrTimeout) || errors.Is(err, ErrLimit) {
			return nil, fmt.Errorf("checkpoint: %s@%s: revision lookup: %w", r.id, r.revision, err)
		}
		return nil, fmt.Errorf("checkpoint: %s@%s: cannot reach the hub at %s (set HF_HUB_OFFLINE=1 to use only the cache): %w", r.id, r.revision, r.o.endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, r.hubError("revision lookup", resp)
	}
	if err := identityEncoding(resp); err != nil {
		return nil, fmt.Errorf("checkpoint: %s@%s: revision lookup: %w", r.id, r.revision, err)
	}
	var info repoInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxIndex)).Decode(&info); err != nil {
		if errors.Is(err, ErrTimeout) {
			return nil, fmt.Errorf("checkpoint: %s@%s: revision lookup: %w", r.id, r.revision, err)
		}
		return nil, fmt.Errorf("checkpoint: %s@%s: revision lookup: %w: %s", r.id, r.revision, ErrMalformed, quoteMessage(err.Error()))
	}
	if !commitPattern.MatchString(info.SHA) {
		return nil, fmt.Errorf("checkpoint: %s@%s: revision lookup: %w: commit %s is not a 40-digit hash", r.id, r.revision, ErrMalformed, untrusted.Quote(info.SHA))
	}
	return &info, nil
}

// identityEncoding refuses a body the server encoded although lenskit asked
// for none: its bytes are not the file's.
func identityEncoding(resp *http.Response) error {
	if ce := strings.TrimSpace(resp.Header.Get("Content-Encoding")); ce != "" && !strings.EqualFold(ce, "identity") {
		return fmt.Errorf("%w: the hub sent a body in %s encoding although lenskit asked for identity (unencoded) bytes", ErrUnsupported, untrusted.Quote(ce))
	}
	return nil
}

// The files fetched besides the weights, when the repository has them.
var companionFiles = []string{
	"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
	"special_tokens_map.json", "added_tokens.json", "generation_config.json",
}

// download fetches config, weights and tokenizer files of the commit into
// the cache, skipping those already there.
func (r *hubRepo) download(ctx context.Context, info *repoInfo) error {
	have := make(map[string]bool, len(info.Siblings))
	for _, s := range info.Siblings {
		have[s.Name] = true
	}
	if !have[ConfigFile] {
		return fmt.Errorf("checkpoint: %s@%s: %w: the repository has no %s", r.id, r.revision, ErrNoWeights, ConfigFile)
	}
	files := []string{ConfigFile}
	for _, f := range companionFiles {
		if have[f] {
			files = append(files, f)
		}
	}
	var index string
	switch {
	case have[SafetensorsIndexFile]:
		index = SafetensorsIndexFile
	case have[SafetensorsFile]:
		files = append(files, SafetensorsFile)
	case have[TorchIndexFile]:
		index = TorchIndexFile
	case have[TorchFile]:
		files = append(files, TorchFile)
	default:
		return fmt.Errorf("checkpoint: %s@%s: %w: the repository has none of %s, %s, %s, %s", r.id, r.revision, ErrNoWeights,
			SafetensorsIndexFile, SafetensorsFile, TorchIndexFile, TorchFile)
	}
	if index != "" {
		if err := r.fetch(ctx, info.SHA, index); err != nil {
			return err
		}
		p := filepath.Join(r.snapshotDir(info.SHA), index)
		data, err := readLimited(dirFS(filepath.Dir(p)), filepath.Base(p), MaxIndex)
		if err != nil {
			return fmt.Errorf("checkpoint: %s: %w", p, err)
		}
		idx, err := ParseIndex(p, data)
		if err != nil {
			return err
		}
		for _, s := range idx.Shards {
			if !have[s] {
				return fmt.Errorf("checkpoint: %s@%s: %w: %s names shard %s, which the repository does not have", r.id, r.revision, ErrNotFound, index, untrusted.Name(s))
			}
		}
		files = append(files, idx.Shards...)
	}
	for _, f := range files {
		if err := r.fetch(ctx, info.SHA, f); err != nil {
			return err
		}
	}
	return nil
}

// fetch puts one file of the commit into the cache: a HEAD request for its
// etag and size, the body into blobs/<etag>, then the snapshot symlink.
//
// The HEAD request does not follow redirects, because the metadata Python
// keys the cache by (X-Linked-Etag, X-Linked-Size, X-Repo-Commit) is on the
// hub's 302 answer, not on the CDN's. The body is fetched under a lock on
// .locks/<repo>/<etag>.lock — the lock file huggingface_hub takes for the
// same blob — so that processes (Python's included) and goroutines
// downloading one blob at once do not both download it: the second waits,
// then finds the blob. The body goes to a temporary file of its own, is
// checked as it arrives (no more bytes than announced; in full; the
// SHA-256 of an LFS file equal to its etag) and is renamed into place when
// complete, as is the snapshot symlink; a reader never sees half a file.
func (r *hubRepo) fetch(ctx context.Context, commit, file string) error {
	if !fs.ValidPath(file) || strings.ContainsRune(file, '\\') {
		return fmt.Errorf("checkpoint: %s: %w: bad file name %s", r.id, ErrMalformed, untrusted.Quote(file))
	}
	snapPath := filepath.Join(r.snapshotDir(commit), filepath.FromSlash(file))
	if st, err := os.Stat(snapPath); err == nil && st.Mode().IsRegular() {
		return nil
	}
	fail := func(err error) error {
		return fmt.Errorf("checkpoint: %s@%s: downloading %s: %w", r.id, r.revision, file, err)
	}
	fileURL := fmt.Sprintf("%s/%s/resolve/%s/%s", r.o.endpoint, r.id, commit, escapePath(file))
	resp, err := r.http.do(ctx, http.MethodHead, fileURL, false)
	if err != nil {
		return fail(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return r.hubError(file, resp)
	}
	etag := resp.Header.Get("X-Linked-Etag")
	if etag == "" {
		etag = resp.Header.Get("ETag")
	}
	etag = strings.Trim(strings.TrimPrefix(etag, "W/"), `"`)
	if !etagPattern.MatchString(etag) || len(etag) > 128 {
		return fmt.Errorf("checkpoint: %s@%s: %s: %w: etag %s is not usable as a cache key", r.id, r.revision, file, ErrMalformed, untrusted.Quote(etag))
	}
	size := int64(-1)
	if s := resp.Header.Get("X-Linked-Size"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
			size = n
		}
	} else if resp.StatusCode == http.StatusOK && resp.ContentLength >= 0 {
		size = resp.ContentLength
	}

	blob := filepath.Join(r.dir, "blobs", etag)
	if !blobComplete(blob, size) {
		if err := r.fetchBlob(ctx, file, fileURL, blob, etag, size); err != nil {
			return fail(err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(snapPath), 0o755); err != nil {
		return fmt.Errorf("checkpoint: %s: %w", r.id, err)
	}
	rel, err := filepath.Rel(filepath.Dir(snapPath), blob)
	if err != nil {
		rel = blob
	}
	if err := symlinkAtomic(rel, snapPath); err != nil {
		return fmt.Errorf("checkpoint: %s: %w", r.id, err)
	}
	return nil
}

// blobComplete reports whether blob is a regular file of the announced size
// (any size when none was announced).
func blobComplete(blob string, size int64) bool {
	st, err := os.Stat(blob)
	return err == nil && st.Mode().IsRegular() && (size < 0 || st.Size() == size)
}

// fetchBlob downloads blob under its lock, unless another downloader
// completed it while this one waited for the lock.
func (r *hubRepo) fetchBlob(ctx context.Context, file, fileURL, blob, etag string, size int64) error {
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		return err
	}
	lockPath := filepath.Join(r.o.cacheDir, ".locks", repoFolder(r.id), etag+".lock")
	unlock, err := lockFile(ctx, lockPath, func() {
		if r.o.lockWait != nil {
			r.o.lockWait(fmt.Sprintf("checkpoint: %s: waiting for another download of %s into the same cache to finish (lock %s)…", r.id, untrusted.Quote(file), lockPath))
		}
	})
	if err != nil {
		return fmt.Errorf("locking %s: %w", lockPath, err)
	}
	defer unlock()
	if blobComplete(blob, size) {
		return nil // downloaded by another process or goroutine meanwhile
	}
	// Under the lock no live downloader owns a temporary file of this blob:
	// any left are from downloaders that died.
	if old, _ := filepath.Glob(filepath.Join(filepath.Dir(blob), etag+".lenskit-*.incomplete")); len(old) > 0 {
		for _, f := range old {
			os.Remove(f)
		}
	}
	os.Remove(blob) // a damaged blob from an earlier run
	return r.downloadBlob(ctx, file, fileURL, blob, etag, size)
}

// downloadBlob streams the file into a temporary file beside blob and
// renames it to blob once complete and checked.
func (r *hubRepo) downloadBlob(ctx context.Context, file, fileURL, blob, etag string, size int64) (err error) {
	resp, err := r.http.do(ctx, http.MethodGet, fileURL, true)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return r.hubError(file, resp)
	}
	if err := identityEncoding(resp); err != nil {
		return err
	}
	limit := size
	if limit < 0 {
		limit = maxUnannounced
		if resp.ContentLength >= 0 {
			size = resp.ContentLength
		}
	}
	if resp.ContentLength > limit {
		return largerThanAnnounced(size, resp.ContentLength)
	}
	tmp, err := os.CreateTemp(filepath.Dir(blob), etag+".lenskit-*.incomplete")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	var sum hash.Hash
	if sha256Pattern.MatchString(etag) {
		sum = sha256.New()
	}
	report := func(done int64) {
		if r.o.progress != nil {
			r.o.progress(file, done, size)
		}
	}
	report(0)
	buf := make([]byte, 256<<10)
	var done int64
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if done+int64(n) > limit {
				return largerThanAnnounced(size, -1)
			}
			if _, err := tmp.Write(buf[:n]); err != nil {
				return err
			}
			if sum != nil {
				sum.Write(buf[:n])
			}
			done += int64(n)
			report(done)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if errors.Is(rerr, ErrTimeout) {
				return rerr
			}
			return fmt.Errorf("%w: download incomplete: %d of %s bytes: %v", ErrTruncated, done, sizeText(size), rerr)
		}
	}
	if size >= 0 && done != size {
		return fmt.Errorf("%w: download incomplete: %d of %d bytes", ErrTruncated, done, size)
	}
	if sum != nil {
		if got := hex.EncodeToString(sum.Sum(nil)); got != etag {
			return fmt.Errorf("%w: content hash %s differs from the etag %s", ErrMalformed, got, etag)
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), blob); err != nil {
		return err
	}
	if size < 0 && r.o.progress != nil {
		r.o.progress(file, done, done) // the final report has done == total
	}
	return nil
}

func sizeText(size int64) string {
	if size < 0 {
		return "an unannounced number of"
	}
	return strconv.FormatInt(size, 10)
}

func largerThanAnnounced(size, got int64) error {
	if size < 0 {
		return fmt.Errorf("%w: larger than announced: the hub announced no size and sent more than %d bytes, the most accepted without one", ErrLimit, int64(maxUnannounced))
	}
	if got >= 0 {
		return fmt.Errorf("%w: larger than announced: the hub announced %d bytes, then a body of %d", ErrLimit, size, got)
	}
	return fmt.Errorf("%w: larger than announced: the hub announced %d bytes and sent more; the download was stopped there", ErrLimit, size)
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return path.Join(parts...)
}

// writeAtomic replaces name with data: a temporary file of its own in the
// same directory, renamed over name, so that concurrent writers never share
// a temporary name and a reader sees the old content or the new.
func writeAtomic(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".lenskit-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// symlinkAtomic makes name a symbolic link to target, replacing what is
// there: the link is made under a random name of its own and renamed over
// name.
func symlinkAtomic(target, name string) error {
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(name), "."+filepath.Base(name)+".lenskit-"+hex.EncodeToString(rnd[:]))
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
