package core

import (
	"context"
	"iter"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hoardhttp/hoard/core/internal/rfc9111"
)

// Filter selects stored responses for EntriesWhere, CountWhere and
// DeleteWhere. Its fields combine with AND; a zero field selects
// everything, so the zero Filter selects every stored response. Variant
// indexes are never selected: they are bookkeeping, not responses.
//
// URL, Host, Method, Status and URLs look only at what the store records
// beside each value (Meta), so they are applied before anything is read and
// decoded, and pushed down to stores that implement FilterLister. Expiry
// and OlderThan need the decoded entry.
type Filter struct {
	// URL is a pattern over the stored URL (normalised as the cache keys
	// it, ignored parameters redacted), with the syntax of
	// WithURLExpireAfter: the scheme is ignored on both sides, '*' matches
	// any run of characters including '/', '?' any one character, and the
	// pattern matches a prefix, so a plain URL prefix ("api.example.com/v1")
	// is a pattern too.
	URL string
	// URLs, when non-empty, selects the responses stored for exactly these
	// URLs (each normalised as the cache keys it): every method, every
	// Vary variant. A URL that does not parse is an error.
	URLs []string
	// Host selects the URL's host, case-insensitively: "example.com"
	// matches it on every port, "example.com:8080" on that port only.
	Host string
	// Method selects the request method (GET, HEAD, POST, ...),
	// case-insensitively.
	Method string
	// Status, when non-empty, lists the status codes to select.
	Status []int
	// Expiry selects responses by freshness at the cache's clock.
	Expiry Expiry
	// OlderThan, when positive, selects responses first stored more than
	// OlderThan ago (by the cache's clock), as DeleteOlderThan does.
	OlderThan time.Duration
}

// Expiry is the freshness a Filter selects.
type Expiry int

const (
	// AnyExpiry selects fresh and expired responses alike.
	AnyExpiry Expiry = iota
	// OnlyExpired selects responses past their freshness lifetime
	// (Entry.IsExpired), the ones DeleteExpired removes.
	OnlyExpired
	// OnlyFresh selects responses within their freshness lifetime.
	OnlyFresh
)

// ListFilter is the part of a Filter that a store can apply to the Meta it
// records, given to FilterLister.ListFilter. Its fields combine with AND;
// a zero field selects everything.
type ListFilter struct {
	// URLPrefixes, when non-empty, selects the items whose Meta.URL starts
	// with one of them (byte for byte).
	URLPrefixes []string
	// Method, when set, selects the items whose Meta.Method is exactly it
	// (the cache gives it upper-case, as it records methods).
	Method string
	// Statuses, when non-empty, selects the items whose Meta.Status is one
	// of them. (A variant index has status 0; the cache never asks for it.)
	Statuses []int
}

// FilterLister is implemented by stores that can apply a ListFilter while
// listing (an SQL WHERE, a database query), so that a filtered listing does
// not move every key of the store to the caller.
//
// Contract, checked by conformance.RunStoreTests: ListFilter yields what
// List yields, restricted to the items f selects. It may yield items f does
// not select (the cache checks every item again), but never omits one that
// List would yield and f selects, and yields no key twice. Errors are
// reported as by List.
type FilterLister interface {
	Lister
	ListFilter(ctx context.Context, f ListFilter) iter.Seq2[Listed, error]
}

// Selects reports whether the listing f describes includes an item with
// meta m. It is the reference semantics of ListFilter, for stores that
// filter in Go and for tests.
func (f ListFilter) Selects(m Meta) bool {
	if f.Method != "" && m.Method != f.Method {
		return false
	}
	if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, m.Status) {
		return false
	}
	if len(f.URLPrefixes) > 0 && !slices.ContainsFunc(f.URLPrefixes, func(p string) bool { return strings.HasPrefix(m.URL, p) }) {
		return false
	}
	return true
}

// matcher is a Filter compiled for one listing.
type matcher struct {
	f       Filter
	pattern string              // f.URL without its scheme and trailing '*'
	urls    map[string]struct{} // f.URLs normalised
	host    string              // f.Host lower-cased
	hostAny bool                // f.Host has no port: match every port
	method  string
	now     time.Time
	list    ListFilter
	// indexes makes the matcher select variant indexes too (by their
	// Meta fields), for deletions that must not leave them behind.
	indexes bool
}

// compile prepares f for matching, and the ListFilter a store can apply.
func (c *Cache) compile(f Filter) (*matcher, error) {
	m := &matcher{f: f, now: c.cfg.now(), method: strings.ToUpper(f.Method)}
	m.list.Method, m.list.Statuses = m.method, f.Status
	if f.URL != "" {
		p := f.URL
		if i := strings.Index(p, "://"); i >= 0 {
			p = p[i+3:]
		}
		m.pattern = strings.TrimRight(p, "*")
		if lit := literalPrefix(m.pattern); lit != "" && m.pattern != "" {
			m.list.URLPrefixes = []string{"http://" + lit, "https://" + lit}
		}
	}
	if f.Host != "" {
		m.host = strings.ToLower(f.Host)
		m.hostAny = !hasPort(m.host)
		if len(m.list.URLPrefixes) == 0 {
			m.list.URLPrefixes = []string{"http://" + m.host, "https://" + m.host}
		}
	}
	if len(f.URLs) > 0 {
		m.urls = make(map[string]struct{}, len(f.URLs))
		var prefixes []string
		for _, raw := range f.URLs {
			u, err := url.Parse(raw)
			if err != nil {
				return nil, err
			}
			s := c.storedURL(u)
			m.urls[s] = struct{}{}
			prefixes = append(prefixes, s)
		}
		m.list.URLPrefixes = prefixes // exact URLs are narrower than any prefix
	}
	return m, nil
}

// literalPrefix is the part of a glob pattern before its first '*' or '?'.
func literalPrefix(p string) string {
	if i := strings.IndexAny(p, "*?"); i >= 0 {
		return p[:i]
	}
	return p
}

// hasPort reports whether host ("h", "h:1", "[::1]", "[::1]:1") has a port.
func hasPort(host string) bool {
	i := strings.LastIndexByte(host, ':')
	return i >= 0 && !strings.Contains(host[i:], "]") && (host[0] != '[' || strings.Contains(host[:i], "]"))
}

// urlHost is the host part of a stored URL ("scheme://host/path?query").
func urlHost(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return ""
	}
	h := u[i+3:]
	if j := strings.IndexAny(h, "/?"); j >= 0 {
		h = h[:j]
	}
	return h
}

// stripPort is host without its port.
func stripPort(h string) string {
	if hasPort(h) {
		return h[:strings.LastIndexByte(h, ':')]
	}
	return h
}

// meta reports whether a listed item may be selected, from its Meta alone:
// false for variant indexes and for items the Meta-level fields reject.
func (m *matcher) meta(md Meta) bool {
	if md.Status == 0 && !m.indexes {
		return false
	}
	if !m.list.Selects(md) && !(md.Status == 0 && m.indexes) {
		return false
	}
	if m.urls != nil {
		if _, ok := m.urls[md.URL]; !ok {
			return false
		}
	}
	if m.f.URL != "" {
		u := md.URL
		if i := strings.Index(u, "://"); i >= 0 {
			u = u[i+3:]
		}
		if !globPrefix(m.pattern, u) {
			return false
		}
	}
	if m.host != "" {
		h := strings.ToLower(urlHost(md.URL))
		if h != m.host && !(m.hostAny && stripPort(h) == m.host) {
			return false
		}
	}
	return true
}

// needsEntry reports whether the filter has fields only a decoded entry
// can answer.
func (m *matcher) needsEntry() bool {
	return m.f.Expiry != AnyExpiry || m.f.OlderThan > 0
}

// entry reports whether a decoded response is selected (its Meta having
// passed meta).
func (m *matcher) entry(e *Entry) bool {
	if e.Variants != nil {
		return m.indexes
	}
	switch m.f.Expiry {
	case OnlyExpired:
		if !e.IsExpired(m.now) {
			return false
		}
	case OnlyFresh:
		if e.IsExpired(m.now) {
			return false
		}
	}
	if m.f.OlderThan > 0 && !e.Created.Before(m.now.Add(-m.f.OlderThan)) {
		return false
	}
	return true
}

// list lists the store through its FilterLister when it has one.
func (m *matcher) listing(ctx context.Context, l Lister) iter.Seq2[Listed, error] {
	if fl, ok := l.(FilterLister); ok && (len(m.list.URLPrefixes) > 0 || m.list.Method != "" || len(m.list.Statuses) > 0) {
		return fl.ListFilter(ctx, m.list)
	}
	return l.List(ctx)
}

// IsExpired reports whether the response is past its freshness lifetime at
// now (Expires has passed; a zero Expires never passes). An expired
// response is still served after a successful revalidation, or stale where
// the cache's rules allow it.
func (e *Entry) IsExpired(now time.Time) bool {
	return !e.Expires.IsZero() && !now.Before(e.Expires)
}

// Age is the response's current age at now (RFC 9111 §4.2.3), as the Age
// header field of a response served from it would say.
func (e *Entry) Age(now time.Time) time.Duration {
	return rfc9111.CurrentAge(e.InitialAge, e.ResponseTime, now)
}

// BodyLen is the length of the response's content: len(Body), or BodySize
// for a streamed body.
func (e *Entry) BodyLen() int64 {
	if e.Streamed {
		return e.BodySize
	}
	return int64(len(e.Body))
}
