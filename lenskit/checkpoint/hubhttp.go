package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"lenskit.dev/lenskit/internal/untrusted"
)

// Defaults for talking to the hub; see WithTimeouts, WithRetry and the
// package documentation (HF_HUB_DOWNLOAD_TIMEOUT).
const (
	// DefaultConnectTimeout bounds connecting to the hub (TCP and TLS).
	DefaultConnectTimeout = 10 * time.Second
	// DefaultIdleTimeout is how long a request may make no progress — no
	// answer after it was sent, no body bytes since the last ones — before
	// it fails. A slow download that keeps moving never times out.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultRetries is how many times an answer of 429 (Too Many
	// Requests) or 503 (Service Unavailable) is retried.
	DefaultRetries = 3
	// DefaultMaxRetryWait bounds one wait before a retry, whether it comes
	// from the hub's Retry-After or from the back-off (1 s, 2 s, 4 s, …).
	DefaultMaxRetryWait = time.Minute
	// maxRedirects bounds the redirects followed by one request (the hub
	// sends one, to its CDN).
	maxRedirects = 10
	// maxUnannounced bounds a file whose size the hub did not announce.
	maxUnannounced = 1 << 30
)

// ErrTimeout is wrapped by the error for a request that made no progress
// for the idle timeout, or could not connect within the connect timeout.
var ErrTimeout = errors.New("timed out")

// retrySleep waits d or until ctx is done; tests replace it.
var retrySleep = func(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// hubHTTP makes the hub's requests: every one with connect and idle
// timeouts, a redirect cap and identity encoding, retried on 429 and 503.
//
// This replaces go-huggingface v0.4.0's downloader, which builds its own
// http.Client for each download with no timeout of any kind (a server that
// accepts and never answers, or stops in the middle of a body, hangs the
// program for ever), follows redirects without limit (999 were followed),
// lets net/http decode a gzip body transparently (256 MB of zeros reached
// the cache for a 19,552-byte file before any size check), reports success
// when the connection drops mid-body, writes every download of one file to
// the same ".part" name and removes its lock file while holding it, so that
// concurrent downloaders of one file trip over each other.
type hubHTTP struct {
	client   *http.Client
	connect  time.Duration
	idle     time.Duration
	retries  int
	maxWait  time.Duration
	token    string
	endpoint string
}

func newHubHTTP(o *hubOptions) *hubHTTP {
	h := &hubHTTP{client: o.client, connect: o.connectTimeout, idle: o.idleTimeout,
		retries: o.retries, maxWait: o.maxRetryWait, token: o.token, endpoint: o.endpoint}
	if h.connect <= 0 {
		h.connect = DefaultConnectTimeout
	}
	if h.idle <= 0 {
		h.idle = DefaultIdleTimeout
	}
	if h.retries < 0 {
		h.retries = 0
	}
	if h.maxWait <= 0 {
		h.maxWait = DefaultMaxRetryWait
	}
	if h.client == nil {
		dialer := &net.Dialer{Timeout: h.connect, KeepAlive: 30 * time.Second}
		h.client = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   h.connect,
			DisableCompression:    true,
			MaxIdleConns:          16,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		}}
	}
	return h
}

// do sends one request (GET or HEAD) and returns the answer, following up
// to maxRedirects redirects when follow is set. Answers 429 and 503 are
// retried up to h.retries times, after the wait the hub asks for
// (Retry-After) or a back-off of 1 s, 2 s, 4 s…, each at most h.maxWait;
// then the last such answer is returned for the caller to report. The
// returned body fails with ErrTimeout when no bytes arrive for h.idle;
// closing it releases the request.
func (h *hubHTTP) do(ctx context.Context, method, url string, follow bool) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		resp, err := h.once(ctx, method, url, follow)
		if err != nil {
			return nil, err
		}
		if (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) || attempt >= h.retries {
			if attempt > 0 {
				resp.Header.Set("X-Lenskit-Tries", strconv.Itoa(attempt+1))
			}
			return resp, nil
		}
		wait, asked := retryAfter(resp.Header.Get("Retry-After"), time.Now())
		if !asked {
			wait = time.Second << attempt
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if wait > h.maxWait {
			return nil, fmt.Errorf("%w: the hub answered %s and asks to wait %v before retrying, more than the %v lenskit waits (WithRetry)",
				ErrLimit, quoteMessage(resp.Status), wait, h.maxWait)
		}
		if err := retrySleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		if s > int64(24*time.Hour/time.Second) {
			s = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// once sends the request with a watchdog: if no answer comes within
// h.idle, or later no body bytes for h.idle, the request's context is
// cancelled with an ErrTimeout cause, which is what the caller sees.
func (h *hubHTTP) once(ctx context.Context, method, url string, follow bool) (*http.Response, error) {
	rctx, cancel := context.WithCancelCause(ctx)
	w := &watchdog{idle: h.idle, cancel: cancel, endpoint: h.endpoint}
	w.timer = time.AfterFunc(h.idle, w.fire)
	req, err := http.NewRequestWithContext(rctx, method, url, nil)
	if err != nil {
		w.stop()
		return nil, err
	}
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	req.Header.Set("User-Agent", userAgent())
	// Set explicitly, so that no transport (WithHTTPClient's included)
	// adds gzip and decodes the body behind the size checks' back.
	req.Header.Set("Accept-Encoding", "identity")
	client := *h.client
	client.CheckRedirect = func(next *http.Request, via []*http.Request) error {
		if !follow {
			return http.ErrUseLastResponse
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("%w: stopped after %d redirects (the last to %s)", ErrLimit, maxRedirects, untrusted.Quote(next.URL.Redacted()))
		}
		return nil
	}
	resp, err := client.Do(req)
	if err != nil {
		cause := context.Cause(rctx)
		w.stop()
		if errors.Is(cause, ErrTimeout) {
			return nil, cause
		}
		// net/http's *url.Error repeats the URL, which a redirect makes
		// the server's choice: keep only the fault.
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("%w: cannot connect to %s within %v: %v", ErrTimeout, h.endpoint, h.connect, err)
		}
		return nil, err
	}
	w.answered.Store(true)
	w.timer.Reset(h.idle)
	resp.Body = &watchedBody{rc: resp.Body, w: w, ctx: rctx}
	return resp, nil
}

// A watchdog cancels a request that has made no progress for idle.
type watchdog struct {
	idle     time.Duration
	timer    *time.Timer
	cancel   context.CancelCauseFunc
	endpoint string
	answered atomic.Bool
	got      atomic.Int64
}

func (w *watchdog) fire() {
	if w.answered.Load() {
		w.cancel(fmt.Errorf("%w: no data for %v after %d bytes of the body (the hub or the network stopped sending; WithTimeouts or HF_HUB_DOWNLOAD_TIMEOUT sets how long to wait)", ErrTimeout, w.idle, w.got.Load()))
		return
	}
	w.cancel(fmt.Errorf("%w: no answer from %s within %v (WithTimeouts or HF_HUB_DOWNLOAD_TIMEOUT sets how long to wait; HF_HUB_OFFLINE=1 uses only the cache)", ErrTimeout, w.endpoint, w.idle))
}

func (w *watchdog) stop() {
	w.timer.Stop()
	w.cancel(nil)
}

// watchedBody is a response body that feeds the watchdog as bytes arrive
// and reports its timeout as the error.
type watchedBody struct {
	rc  io.ReadCloser
	w   *watchdog
	ctx context.Context
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.w.got.Add(int64(n))
		b.w.timer.Reset(b.w.idle)
	}
	if err != nil && err != io.EOF {
		if cause := context.Cause(b.ctx); errors.Is(cause, ErrTimeout) {
			err = cause
		}
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.w.stop()
	return b.rc.Close()
}
