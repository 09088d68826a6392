package checkpoint

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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

	"github.com/gomlx/go-huggingface/hub"
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
	client   *http.Client
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

// WithHTTPClient sets the client used for the hub's metadata requests (the
// revision lookup and the per-file HEAD). File bodies are fetched by
// go-huggingface's downloader, which uses its own client.
func WithHTTPClient(c *http.Client) Option { return func(o *hubOptions) { o.client = c } }

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
		if b, err := os.ReadFile(tokenPath); err == nil {
			o.token = strings.TrimSpace(string(b))
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
	if o.client == nil {
		o.client = http.DefaultClient
	}
	r := &hubRepo{id: id, revision: rev, o: o,
		dir: filepath.Join(o.cacheDir, "models--"+strings.ReplaceAll(id, "/", "--"))}

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

func (r *hubRepo) snapshotDir(commit string) string {
	return filepath.Join(r.dir, "snapshots", commit)
}

// cachedCommit resolves the revision without the network: a commit hash is
// itself, a branch or tag is read from refs/.
func (r *hubRepo) cachedCommit() (string, bool) {
	if commitPattern.MatchString(r.revision) {
		return r.revision, true
	}
	b, err := os.ReadFile(filepath.Join(r.dir, "refs", filepath.FromSlash(r.revision)))
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
		data, err := readLimited(os.DirFS(dir), index, MaxIndex)
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
	msg := resp.Header.Get("X-Error-Message")
	if msg == "" {
		msg = resp.Status
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

func (r *hubRepo) request(ctx context.Context, method, u string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	if r.o.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.o.token)
	}
	req.Header.Set("User-Agent", userAgent())
	return req, nil
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
	req, err := r.request(ctx, http.MethodGet, u)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %s: %w", r.id, err)
	}
	resp, err := r.o.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %s@%s: cannot reach the hub at %s (set HF_HUB_OFFLINE=1 to use only the cache): %w", r.id, r.revision, r.o.endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, r.hubError("revision lookup", resp)
	}
	var info repoInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxIndex)).Decode(&info); err != nil {
		return nil, fmt.Errorf("checkpoint: %s@%s: revision lookup: %w: %v", r.id, r.revision, ErrMalformed, err)
	}
	if !commitPattern.MatchString(info.SHA) {
		return nil, fmt.Errorf("checkpoint: %s@%s: revision lookup: %w: commit %q is not a 40-digit hash", r.id, r.revision, ErrMalformed, info.SHA)
	}
	return &info, nil
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
		data, err := readLimited(os.DirFS(filepath.Dir(p)), index, MaxIndex)
		if err != nil {
			return fmt.Errorf("checkpoint: %s: %w", p, err)
		}
		idx, err := ParseIndex(p, data)
		if err != nil {
			return err
		}
		for _, s := range idx.Shards {
			if !have[s] {
				return fmt.Errorf("checkpoint: %s@%s: %w: %s names shard %s, which the repository does not have", r.id, r.revision, ErrNotFound, index, s)
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
// etag and size, the body into blobs/<etag> through go-huggingface's
// downloader (which locks against concurrent downloaders and writes to a
// .part file renamed on success), then the snapshot symlink.
//
// The HEAD request is made here, without following redirects, because the
// metadata Python keys the cache by (X-Linked-Etag, X-Linked-Size,
// X-Repo-Commit) is on the hub's 302 answer, not on the CDN's, and
// go-huggingface's FetchHeader follows the redirect. The downloaded blob is
// checked here too: go-huggingface v0.4.0 reports success when the
// connection drops mid-body (it wraps a nil error) and leaves no blob, so the
// size is compared with what the hub announced, and an LFS file's SHA-256
// (its etag) is verified.
func (r *hubRepo) fetch(ctx context.Context, commit, file string) error {
	if !fs.ValidPath(file) || strings.ContainsRune(file, '\\') {
		return fmt.Errorf("checkpoint: %s: %w: bad file name %q", r.id, ErrMalformed, file)
	}
	snapPath := filepath.Join(r.snapshotDir(commit), filepath.FromSlash(file))
	if st, err := os.Stat(snapPath); err == nil && st.Mode().IsRegular() {
		return nil
	}
	fileURL := fmt.Sprintf("%s/%s/resolve/%s/%s", r.o.endpoint, r.id, commit, escapePath(file))
	req, err := r.request(ctx, http.MethodHead, fileURL)
	if err != nil {
		return fmt.Errorf("checkpoint: %s: %w", r.id, err)
	}
	req.Header.Set("Accept-Encoding", "identity")
	client := *r.o.client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("checkpoint: %s@%s: %s: %w", r.id, r.revision, file, err)
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
	if !etagPattern.MatchString(etag) {
		return fmt.Errorf("checkpoint: %s@%s: %s: %w: etag %q is not usable as a cache key", r.id, r.revision, file, ErrMalformed, etag)
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
	if st, err := os.Stat(blob); err != nil || (size >= 0 && st.Size() != size) {
		if err == nil {
			os.Remove(blob) // a damaged blob from an earlier run
		}
		var cb func(done, total int64)
		if r.o.progress != nil {
			cb = func(done, total int64) {
				if total <= 0 {
					total = size
				}
				r.o.progress(file, done, total)
			}
		}
		mgr := hub.New(r.id).WithAuth(r.o.token).GetDownloadManager().WithUserAgent(userAgent())
		if err := mgr.LockedDownload(ctx, fileURL, blob, false, cb); err != nil {
			return fmt.Errorf("checkpoint: %s@%s: downloading %s: %w", r.id, r.revision, file, err)
		}
		if err := verifyBlob(blob, size, etag); err != nil {
			os.Remove(blob)
			return fmt.Errorf("checkpoint: %s@%s: downloading %s: %w", r.id, r.revision, file, err)
		}
		if r.o.progress != nil {
			st, _ := os.Stat(blob)
			r.o.progress(file, st.Size(), st.Size())
		}
	}
	if err := os.MkdirAll(filepath.Dir(snapPath), 0o755); err != nil {
		return fmt.Errorf("checkpoint: %s: %w", r.id, err)
	}
	rel, err := filepath.Rel(filepath.Dir(snapPath), blob)
	if err != nil {
		rel = blob
	}
	tmp := snapPath + ".lenskit-tmp"
	os.Remove(tmp)
	if err := os.Symlink(rel, tmp); err != nil {
		return fmt.Errorf("checkpoint: %s: %w", r.id, err)
	}
	if err := os.Rename(tmp, snapPath); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("checkpoint: %s: %w", r.id, err)
	}
	return nil
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return path.Join(parts...)
}

// verifyBlob checks a downloaded blob against the announced size and, for
// LFS files (whose etag is the SHA-256 of the content), the hash.
func verifyBlob(blob string, size int64, etag string) error {
	f, err := os.Open(blob)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: download incomplete: the downloader reported success but left no file (the connection was probably cut)", ErrTruncated)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if size >= 0 && st.Size() != size {
		return fmt.Errorf("%w: download incomplete: %d of %d bytes", ErrTruncated, st.Size(), size)
	}
	if sha256Pattern.MatchString(etag) {
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != etag {
			return fmt.Errorf("%w: content hash %s differs from the etag %s", ErrMalformed, got, etag)
		}
	}
	return nil
}

func writeAtomic(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	tmp := name + ".lenskit-tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
