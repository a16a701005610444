package core

import (
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"
)

// Expiration values for WithExpireAfter, WithURLExpireAfter and ExpireAfter,
// with requests-cache's meanings. Any positive duration is a lifetime.
const (
	// NeverExpire keeps a response fresh forever (requests-cache NEVER_EXPIRE).
	NeverExpire time.Duration = -1
	// ExpireImmediately stores a response only when it has a validator
	// (ETag or Last-Modified), and revalidates it on every use
	// (requests-cache EXPIRE_IMMEDIATELY).
	ExpireImmediately time.Duration = 0
	// DoNotCache neither reads nor writes the cache (requests-cache DO_NOT_CACHE).
	DoNotCache time.Duration = -2
)

// Forever is an unbounded window for WithStaleIfError and
// WithStaleWhileRevalidate (requests-cache's True).
const Forever time.Duration = math.MaxInt64

// DefaultIgnoredParameters are the credential names removed from cache keys
// and redacted in stored requests unless WithIgnoredParameters replaces them:
// the same list as requests-cache. Header names match case-insensitively;
// query and body parameter names match exactly.
func DefaultIgnoredParameters() []string {
	return []string{
		"Authorization", "Proxy-Authorization", "X-API-Key", "X-Auth-Token",
		"X-API-Token", "X-Access-Token", "access_token", "api_key", "apikey",
	}
}

// Option configures a Cache. Options are applied in order; later ones win.
type Option interface{ apply(*config) error }

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type urlRule struct {
	pattern string // scheme stripped, trailing '*' trimmed
	expire  time.Duration
}

type config struct {
	shared           bool
	now              func() time.Time
	logger           *slog.Logger
	codec            Codec
	expireAfter      time.Duration
	hasExpireAfter   bool
	urlRules         []urlRule
	cacheControl     bool
	codes            map[int]bool // the allowable codes: 200 by default
	codesSet         bool         // WithAllowableCodes was given: codes restricts every response
	methods          methodSet
	alwaysRevalidate bool
	ignored          []string
	matchHeaders     []string
	matchAll         bool
	filter           func(*http.Response) bool
	keyFunc          func(req *http.Request, defaultKey string) string
	staleIfError     time.Duration
	staleWhileReval  time.Duration
	readOnly         bool
	disabled         bool
	storeTimeout     time.Duration
	storeTimeoutSet  bool
	breaker          BreakerSettings
	heuristicCap     time.Duration
	staleRetention   time.Duration
	maxBodySize      int64
	maxKeyedBody     int64
	maxStreamSize    int64
	streamThreshold  int64
	backgroundTO     time.Duration
	collapseWait     time.Duration
	leaseWait        time.Duration // WithLeaseWait; 0: off
	targeted         []string      // canonical names, most applicable first
	observers        []Observer
	clockSet         bool // WithClock replaced time.Now
}

func defaultConfig() config {
	return config{
		now:             time.Now,
		logger:          slog.Default(),
		codec:           BinaryCodec{},
		cacheControl:    true,
		codes:           map[int]bool{http.StatusOK: true},
		methods:         methodSet{get: true, head: true},
		ignored:         DefaultIgnoredParameters(),
		heuristicCap:    24 * time.Hour,
		staleRetention:  24 * time.Hour,
		maxBodySize:     64 << 20,
		maxKeyedBody:    DefaultMaxKeyedBodySize,
		maxStreamSize:   1 << 30,
		streamThreshold: 1 << 20,
		backgroundTO:    30 * time.Second,
		collapseWait:    DefaultCollapseWait,
	}
}

func checkExpiration(what string, d time.Duration) error {
	if d < 0 && d != NeverExpire && d != DoNotCache {
		return fmt.Errorf("core: %s %v: negative durations other than NeverExpire and DoNotCache are not allowed", what, d)
	}
	return nil
}

// WithShared switches to shared-cache rules (RFC 9111): s-maxage wins over
// max-age, responses marked private are not stored, proxy-revalidate acts as
// must-revalidate, and responses to requests with Authorization are stored
// only when public, must-revalidate or s-maxage allow it (§3.5). The default
// is a private cache, like a browser and like requests-cache.
func WithShared() Option {
	return optionFunc(func(c *config) error { c.shared = true; return nil })
}

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) error {
		if now == nil {
			return fmt.Errorf("core: WithClock: nil clock")
		}
		c.now, c.clockSet = now, true
		return nil
	})
}

// WithLogger sets the logger for store errors and background refreshes
// (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) error {
		if l != nil {
			c.logger = l
		}
		return nil
	})
}

// WithCodec sets the codec entries are stored with (default BinaryCodec).
func WithCodec(codec Codec) Option {
	return optionFunc(func(c *config) error {
		if codec == nil {
			return fmt.Errorf("core: WithCodec: nil codec")
		}
		c.codec = codec
		return nil
	})
}

// WithExpireAfter sets the lifetime of responses whose own headers give none
// (requests-cache expire_after): a duration, NeverExpire, ExpireImmediately or
// DoNotCache. Unset, such responses follow RFC 9111 alone (heuristic
// freshness from Last-Modified, otherwise not stored). With
// WithCacheControl(false) it applies to every response. A lifetime applies
// to responses of an allowable code only (see WithAllowableCodes).
func WithExpireAfter(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if err := checkExpiration("WithExpireAfter", d); err != nil {
			return err
		}
		c.expireAfter, c.hasExpireAfter = d, true
		return nil
	})
}

// WithURLExpireAfter sets the lifetime for URLs matching a glob pattern
// (requests-cache urls_expire_after). Patterns are tried in the order they
// were added and the first match wins. The scheme is ignored on both sides,
// '*' matches any run of characters including '/', '?' any one character,
// and every pattern is a prefix match: "api.example.com/v1" covers
// everything below /v1. Matching takes time proportional to the pattern's
// length times the URL's, whatever the pattern. A URL rule
// overrides the response's own Cache-Control lifetime (see the precedence
// table in the package doc); DoNotCache under "*" turns the rules into an
// allowlist.
func WithURLExpireAfter(pattern string, d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if err := checkExpiration("WithURLExpireAfter", d); err != nil {
			return err
		}
		p := pattern
		if i := strings.Index(p, "://"); i >= 0 {
			p = p[i+3:]
		}
		p = strings.TrimRight(p, "*")
		c.urlRules = append(c.urlRules, urlRule{pattern: p, expire: d})
		return nil
	})
}

// WithCacheControl turns the use of response Cache-Control, Expires and
// Pragma on or off (requests-cache cache_control; default on here). Off, the
// lifetime comes from the expire-after settings alone (NeverExpire when none
// is set) and response directives such as no-store are ignored. Request
// directives from the caller are honoured either way; Vary and validators are
// always used.
func WithCacheControl(on bool) Option {
	return optionFunc(func(c *config) error { c.cacheControl = on; return nil })
}

// WithTargetedCacheControl gives the cache a target list of targeted
// cache-control fields (RFC 9213), most applicable first, for example
// "CDN-Cache-Control". For each response, the first field of the list that
// is present, non-empty and a valid Dictionary Structured Field replaces
// Cache-Control and Expires in every decision the cache makes about it
// (storing, freshness, revalidation, stale windows; RFC 9213 §2.2); a field
// that does not parse is ignored as if absent, and a response with none of
// them follows Cache-Control as usual. The fields are stored and passed on
// unchanged. Nothing is targeted by default, in private and shared mode
// alike: the fields address caches of a class (CDN-Cache-Control: CDNs
// acting for the origin) that a client-side cache is not, and they can
// grant more than Cache-Control does (storing what Cache-Control forbids
// other caches to store), so only a cache deployed as such a class should
// honour them. Calling it again replaces the list; no names turns it off.
// It has no effect with WithCacheControl(false).
func WithTargetedCacheControl(names ...string) Option {
	return optionFunc(func(c *config) error {
		out := make([]string, 0, len(names))
		for _, n := range names {
			if n == "" || strings.ContainsAny(n, " \t\r\n:") {
				return fmt.Errorf("core: WithTargetedCacheControl: invalid field name %q", n)
			}
			out = append(out, http.CanonicalHeaderKey(n))
		}
		c.targeted = out
		return nil
	})
}

// WithAllowableCodes sets the status codes that may be stored, whatever the
// response says (requests-cache allowable_codes).
//
// Unset, the allowable codes are 200, and with WithCacheControl(true) the
// origin's word counts too (RFC 9111 §3): a response with explicit
// freshness (max-age, s-maxage in a shared cache, Expires) or public may be
// stored whatever its final status, among those the cache understands (but
// for 401 and 407: they answer credentials that are never part of the
// key), and
// a response with a heuristically cacheable status (200, 203, 204, 300,
// 301, 308, 404, 405, 410, 414, 501; RFC 9110 §15.1) may get a heuristic
// lifetime. Lifetimes the user configures without the origin's word
// (WithExpireAfter, WithURLExpireAfter, ExpireAfter(ctx), NeverExpire, and
// every lifetime with WithCacheControl(false)) apply to the allowable codes
// only, so a transient 500 is never kept for the hour WithExpireAfter
// gives a 200. Set, the codes restrict every response, Cache-Control or
// not. A 206, 304, 412 or 416 is never stored (they answer Range or
// precondition fields that are not part of the key): they pass through.
func WithAllowableCodes(codes ...int) Option {
	return optionFunc(func(c *config) error {
		m := make(map[int]bool, len(codes))
		for _, code := range codes {
			if code < 100 || code > 999 {
				return fmt.Errorf("core: WithAllowableCodes: invalid status %d", code)
			}
			m[code] = true
		}
		c.codes, c.codesSet = m, true
		return nil
	})
}

// methodSet is the set of methods a Cache reads and writes (upper case).
// GET and HEAD, the methods of nearly every lookup, are answered without a
// map lookup.
type methodSet struct {
	get, head bool
	other     map[string]bool
}

func (m *methodSet) add(method string) {
	switch method {
	case http.MethodGet:
		m.get = true
	case http.MethodHead:
		m.head = true
	default:
		if m.other == nil {
			m.other = make(map[string]bool)
		}
		m.other[method] = true
	}
}

// has reports whether method is in m.
func (m *methodSet) has(method string) bool {
	switch method {
	case http.MethodGet:
		return m.get
	case http.MethodHead:
		return m.head
	}
	return m.other[method]
}

// WithAllowableMethods sets the methods whose responses are read from and
// written to the cache (default GET and HEAD). Methods are upper-cased. For
// methods other than GET and HEAD the request's Content-Type and body are
// part of the key, the body read up to WithMaxKeyedBodySize.
func WithAllowableMethods(methods ...string) Option {
	return optionFunc(func(c *config) error {
		var m methodSet
		for _, meth := range methods {
			if meth == "" {
				return fmt.Errorf("core: WithAllowableMethods: empty method")
			}
			m.add(strings.ToUpper(meth))
		}
		c.methods = m
		return nil
	})
}

// WithAlwaysRevalidate sends a conditional request on every use of a stored
// response that has a validator, even a fresh one (requests-cache
// always_revalidate). Responses without a validator are unaffected, and so are
// fresh responses marked immutable.
func WithAlwaysRevalidate() Option {
	return optionFunc(func(c *config) error { c.alwaysRevalidate = true; return nil })
}

// WithIgnoredParameters replaces DefaultIgnoredParameters: names removed from
// cache keys (query parameters, JSON and form body keys, matched headers) and
// redacted in what is stored. To extend the defaults pass
// append(core.DefaultIgnoredParameters(), "my_token").
func WithIgnoredParameters(names ...string) Option {
	return optionFunc(func(c *config) error { c.ignored = append([]string(nil), names...); return nil })
}

// WithMatchHeaders adds the named request headers to the cache key
// (requests-cache match_headers). Like Vary, each distinct combination of
// values is its own stored variant.
func WithMatchHeaders(names ...string) Option {
	return optionFunc(func(c *config) error {
		for _, n := range names {
			if n == "" {
				return fmt.Errorf("core: WithMatchHeaders: empty header name")
			}
			c.matchHeaders = append(c.matchHeaders, http.CanonicalHeaderKey(n))
		}
		return nil
	})
}

// WithMatchAllHeaders keys responses by every request header except ignored
// parameters (requests-cache match_headers=True).
func WithMatchAllHeaders() Option {
	return optionFunc(func(c *config) error { c.matchAll = true; return nil })
}

// WithFilter sets a function that decides whether a response may be stored
// and served (requests-cache filter_fn). It runs before a response is stored
// and before a stored response is served; a stored response it rejects is
// deleted and the request goes to the origin.
func WithFilter(f func(*http.Response) bool) Option {
	return optionFunc(func(c *config) error { c.filter = f; return nil })
}

// WithKeyFunc replaces the cache key (requests-cache key_fn). It receives the
// request and the default key and returns the key to use; returning
// defaultKey + something extends the default. Vary and matched headers still
// select variants below the returned key, and invalidation computes the key
// of a GET and a HEAD request for each invalidated URL, with the unsafe
// request's headers.
func WithKeyFunc(f func(req *http.Request, defaultKey string) string) Option {
	return optionFunc(func(c *config) error { c.keyFunc = f; return nil })
}

// WithStaleIfError serves a stale response, up to d past its expiry, when
// refreshing it fails with a transport error or a 500, 502, 503 or 504
// (requests-cache stale_if_error; RFC 5861 §4). Forever means no bound. A
// response's own stale-if-error and the request's are honoured too; the
// largest window wins. Never applies to responses marked must-revalidate.
func WithStaleIfError(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 0 {
			return fmt.Errorf("core: WithStaleIfError: negative window %v", d)
		}
		c.staleIfError = d
		return nil
	})
}

// WithStaleWhileRevalidate serves a response up to d past its expiry at once
// and refreshes it in the background (requests-cache stale_while_revalidate;
// RFC 5861 §3). The response's own stale-while-revalidate is honoured too.
// One refresh runs per key at a time, on a context detached from the caller's.
func WithStaleWhileRevalidate(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 0 {
			return fmt.Errorf("core: WithStaleWhileRevalidate: negative window %v", d)
		}
		c.staleWhileReval = d
		return nil
	})
}

// WithReadOnly serves stored responses but never writes, not even after a
// revalidation (requests-cache read_only).
func WithReadOnly() Option {
	return optionFunc(func(c *config) error { c.readOnly = true; return nil })
}

// WithDisabled turns the cache off: every request goes to the origin and
// nothing is stored (requests-cache disabled).
func WithDisabled() Option {
	return optionFunc(func(c *config) error { c.disabled = true; return nil })
}

// WithStoreTimeout bounds each store operation the cache makes on a
// request's behalf (reads, writes, deletes, stream opens); a slower operation
// fails, the request fails open to the origin, and the failure counts towards
// opening the circuit breaker (WithBreaker). Zero sets no bound beyond the
// request's own context. Without this option the store's TimeoutHinter
// decides (memstore: none; filestore, sqlitestore: 2s), and otherwise
// DefaultStoreTimeout (300ms). Management calls (Entries, Delete, Clear, ...)
// are bounded by their caller's context only.
func WithStoreTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 0 {
			return fmt.Errorf("core: WithStoreTimeout: negative timeout %v", d)
		}
		c.storeTimeout, c.storeTimeoutSet = d, true
		return nil
	})
}

// WithBreaker configures the circuit breaker around the store. After
// s.Failures consecutive failed or timed-out store calls it opens: requests
// go straight to the origin without touching the store (Cache-Status
// "fwd=bypass; detail=store-unavailable") and management calls fail with an
// error wrapping ErrUnavailable. After a jittered backoff one background
// probe reads the store (half-open); its success closes the breaker, its
// failure opens it again for twice the backoff, up to s.MaxBackoff. No
// caller waits for the probe. Each change of state is logged once; the state
// and counters are in Stats().Breaker. The breaker is on by default with the
// DefaultBreaker* settings.
func WithBreaker(s BreakerSettings) Option {
	return optionFunc(func(c *config) error {
		if err := s.check(); err != nil {
			return err
		}
		c.breaker = s
		return nil
	})
}

// WithHeuristicCap caps heuristic freshness (RFC 9111 §4.2.2; default 24h).
func WithHeuristicCap(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 0 {
			return fmt.Errorf("core: WithHeuristicCap: negative cap %v", d)
		}
		c.heuristicCap = d
		return nil
	})
}

// WithStaleRetention sets how long a stale response that has a validator is
// kept for revalidation after it expires (default 24h). The store's deletion
// time is the expiry plus the largest of this, the stale-if-error and the
// stale-while-revalidate windows.
func WithStaleRetention(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 0 {
			return fmt.Errorf("core: WithStaleRetention: negative retention %v", d)
		}
		c.staleRetention = d
		return nil
	})
}

// WithMaxBodySize sets the largest body that is stored by reading it into
// memory (default 64 MiB): bodies up to the stream threshold, and every body
// when the store cannot stream. Larger responses are passed to the caller
// unchanged and not stored.
func WithMaxBodySize(n int64) Option {
	return optionFunc(func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("core: WithMaxBodySize: size must be positive, got %d", n)
		}
		c.maxBodySize = n
		return nil
	})
}

// DefaultMaxKeyedBodySize is the default of WithMaxKeyedBodySize: 1 MiB.
const DefaultMaxKeyedBodySize = 1 << 20

// WithMaxKeyedBodySize bounds the request body the cache reads to key a
// request whose method is allowable and is not GET or HEAD (default
// DefaultMaxKeyedBodySize). A request with a longer body (by its
// Content-Length, or found while reading) is a bypass: nothing is read
// from or written to the cache for it, the body goes to the origin whole,
// streamed (the bytes already read first, then the rest, never held in
// memory), its GetBody kept for retries, and the response carries
// Cache-Status "fwd=bypass; detail=body-too-large". Unsafe methods still
// invalidate.
func WithMaxKeyedBodySize(n int64) Option {
	return optionFunc(func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("core: WithMaxKeyedBodySize: size must be positive, got %d", n)
		}
		c.maxKeyedBody = n
		return nil
	})
}

// WithStreamThreshold sets the body size above which (or when the length is
// unknown) a response is streamed to the caller and into the store at the
// same time, for stores that implement Streamer (default 1 MiB). Memory then
// stays bounded whatever the body size; the entry is committed only after a
// clean EOF with the expected length.
func WithStreamThreshold(n int64) Option {
	return optionFunc(func(c *config) error {
		if n < 0 {
			return fmt.Errorf("core: WithStreamThreshold: negative threshold %d", n)
		}
		c.streamThreshold = n
		return nil
	})
}

// WithMaxStreamSize sets the largest streamed body that is stored (default
// 1 GiB). A longer response still reaches the caller whole; it is not
// stored, and what was written of it is discarded as soon as the limit is
// passed. The bound matters most for bodies of unknown length, such as a
// gzip response that net/http's transport decompresses below the cache: a
// small compressed body can inflate without bound.
func WithMaxStreamSize(n int64) Option {
	return optionFunc(func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("core: WithMaxStreamSize: size must be positive, got %d", n)
		}
		c.maxStreamSize = n
		return nil
	})
}

// WithBackgroundTimeout bounds a background stale-while-revalidate refresh
// (default 30s).
func WithBackgroundTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("core: WithBackgroundTimeout: timeout must be positive, got %v", d)
		}
		c.backgroundTO = d
		return nil
	})
}

// DefaultCollapseWait is how long, by default, a request collapsed onto an
// identical one in flight waits for that one's streamed body to be committed
// to the store (see WithCollapseWait).
const DefaultCollapseWait = time.Second

// WithCollapseWait bounds how long a request waits for an identical request
// in flight whose body is being streamed into the store (a body above the
// stream threshold, or of unknown length, with a store that implements
// Streamer): that body reaches the store only as fast as the first caller
// reads it, so after d the waiting request is sent to the origin on its own
// (default DefaultCollapseWait). Zero sends it at once. Waiting for a body
// small enough to be buffered depends on the origin alone (the cache reads
// it before answering the first caller) and is not affected.
func WithCollapseWait(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 0 {
			return fmt.Errorf("core: WithCollapseWait: negative wait %v", d)
		}
		c.collapseWait = d
		return nil
	})
}

// WithLeaseWait turns on request coalescing across processes, for a store
// that implements Leaser (redisstore, pgstore; with any other store it
// changes nothing). A request that would go to the origin for a miss (after
// in-process collapsing made it the one to go) first takes the store's
// lease on its key, for d; when another process holds it, the request waits
// for that process's response to appear in the store and is served from it
// as a lookup would serve it (same freshness rules), instead of asking the
// origin too. The wait is bounded by d and by half of what remains of the
// request context's deadline, whichever is shorter; when the bound passes,
// or the lease is released without a usable entry, the request goes to the
// origin on its own. A holder that crashed is waited for at most that
// bound, and its lease lapses after d: never a deadlock. Every lease error
// fails open (the request goes to the origin; the error is logged and
// counted like other store errors). Only GET and HEAD requests without a
// body take leases. d must be at least a millisecond; the feature is off
// by default. See the README section "Coalescing across processes".
func WithLeaseWait(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < time.Millisecond {
			return fmt.Errorf("core: WithLeaseWait: %v is below the minimum of 1ms (leave the option out to turn leases off)", d)
		}
		c.leaseWait = d
		return nil
	})
}

// urlExpireAfter returns the first URL rule matching rawURL.
func (c *config) urlExpireAfter(rawURL string) (time.Duration, bool) {
	if len(c.urlRules) == 0 {
		return 0, false
	}
	u := rawURL
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	for _, r := range c.urlRules {
		if globPrefix(r.pattern, u) {
			return r.expire, true
		}
	}
	return 0, false
}

// globPrefix reports whether pattern matches a prefix of s, with '*' matching
// any run of characters (including '/') and '?' any one character.
//
// It is the greedy matcher with a single backtrack point: when a literal
// fails after a '*', only the latest '*' is retried one byte further on.
// That suffices because a later '*' can absorb whatever an earlier one would
// have, so the work is O(len(pattern)·len(s)) for any input, where a
// recursive matcher backtracks exponentially ("*a*a*a*a*a*a*b" against a
// run of 'a's). A pattern that is used up has matched a prefix.
func globPrefix(pattern, s string) bool {
	p, i := 0, 0
	star, restart := -1, 0 // the latest '*' and where in s its run ends
	for p < len(pattern) {
		switch {
		case pattern[p] == '*':
			star, restart = p, i
			p++
		case i < len(s) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case star >= 0 && restart < len(s):
			restart++
			p, i = star+1, restart
		default:
			return false
		}
	}
	return true
}
