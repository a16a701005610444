package core

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hoardhttp/hoard/core/internal/rfc9111"
)

// Cache-Status values (RFC 9211) written by the cache.
const (
	csHit          = CacheStatusName + "; hit"
	csHitStale     = CacheStatusName + "; hit; detail=stale"
	csHitSWR       = CacheStatusName + "; hit; detail=stale-while-revalidate"
	csStaleIfError = CacheStatusName + "; fwd=stale; detail=stale-if-error"
	csOnlyIfCached = CacheStatusName + "; detail=only-if-cached"
	csBypass       = CacheStatusName + "; fwd=bypass"
	csMethod       = CacheStatusName + "; fwd=method"
	csBodyTooLarge = CacheStatusName + "; fwd=bypass; detail=body-too-large"
	csClosed       = CacheStatusName + "; fwd=bypass; detail=closed"
)

// statusLines caches "200 OK" style status lines so a hit does not format one.
var statusLines [600]string

func init() {
	for code := range statusLines {
		if t := http.StatusText(code); t != "" {
			statusLines[code] = strconv.Itoa(code) + " " + t
		}
	}
}

func statusLine(code int) string {
	if code >= 0 && code < len(statusLines) && statusLines[code] != "" {
		return statusLines[code]
	}
	return strconv.Itoa(code) + " status code " + strconv.Itoa(code)
}

// served is a response built from a stored entry, allocated in one piece:
// the response, its body reader, its Info, and the Age and Cache-Status
// values. The entry it is built from is not part of it: the response keeps
// only what build copies out (see scratchEntry). Make one with newServed.
type served struct {
	resp http.Response
	body body // body.stream, when set, is the body of a streamed entry
	info Info
	vals [2]string
	// tagged, when set, is the record this one is part of, which also holds
	// the copy of the request served whose context carries the Info; nil:
	// the response's Request is that request itself.
	tagged *servedTagged
}

// servedTagged is a served allocated with a copy of the request served.
// It is that copy's context: the request's own context, which answers
// InfoOf with the Info.
type servedTagged struct {
	served
	req http.Request
	context.Context
}

// Value returns the Info for InfoOf, and the request context's values.
func (st *servedTagged) Value(key any) any { return infoValue(st.Context, &st.info, key) }

// newServed returns the record the response to req is built in. InfoOf
// reads a response's Info from its Body, which the cache built, and, when
// something has wrapped that Body since, from its Request's context. The
// wrapper every hit could meet is http.Client's, which wraps the Body of
// each response while a Timeout is set; it then sets Cancel on the request
// it hands a RoundTripper it does not know, as it knows none of hoard's
// (net/http's setRequestCancel). Such a request gets a copy whose context
// carries the Info, allocated with the record; every other response's
// Request is the request itself, the copy being half of what a hit would
// allocate. A Body replaced by other middleware above the cache leaves
// InfoOf the Cache-Status field (see InfoOf).
func newServed(req *http.Request) *served {
	if req.Cancel == nil {
		return new(served)
	}
	st := new(servedTagged)
	st.tagged = st
	return &st.served
}

// entryPool holds the Entries lookups decode into. A hit's response keeps
// nothing of the Entry itself (build copies its fields, and the header map,
// body and trailer it hands over stay the response's), so Lookup returns it
// with releaseEntry; any other path just drops it.
var entryPool = sync.Pool{New: func() any { return new(Entry) }}

// scratchEntry returns an empty Entry to decode into.
func scratchEntry() *Entry { return entryPool.Get().(*Entry) }

// releaseEntry returns e, the scratch Entry a response was built from, once
// nothing refers to it. A streamed entry's reader may, so it is left to the
// garbage collector.
func releaseEntry(e *Entry) {
	if e == nil || e.Streamed {
		return
	}
	*e = Entry{}
	entryPool.Put(e)
}

// build fills s.resp from e. e.Header must be owned by this response (a
// fresh decode, or a clone of a shared entry's header).
func (c *Cache) build(s *served, req *http.Request, e *Entry, key string, now time.Time, cacheStatus string, withBody bool) *http.Response {
	h := e.Header
	if h == nil {
		h = make(http.Header, 2)
	}
	age := rfc9111.CurrentAge(e.InitialAge, e.ResponseTime, now) / time.Second
	s.vals[0] = strconv.FormatInt(int64(age), 10)
	s.vals[1] = cacheStatus
	h["Age"] = s.vals[0:1:1]
	setCacheStatus(h, s.vals[1:2:2])
	s.info = infoFromStatus(cacheStatus)
	s.info.Created, s.info.Expires, s.info.Key = e.Created, e.Expires, key
	s.info.Age = age * time.Second
	s.info.expired = expiredAt(e.Expires, now)
	stream := s.body.stream
	s.body = body{info: &s.info}
	r := &s.resp
	r.ContentLength = int64(len(e.Body))
	if withBody {
		s.body.data = e.Body
	} else {
		r.ContentLength = -1
		if v := h["Content-Length"]; len(v) == 1 {
			if n, err := strconv.ParseInt(v[0], 10, 64); err == nil && n >= 0 {
				r.ContentLength = n
			}
		}
	}
	r.Status = statusLine(e.Status)
	r.StatusCode = e.Status
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	if e.Proto != "" && e.Proto != r.Proto {
		if major, minor, ok := http.ParseHTTPVersion(e.Proto); ok {
			r.Proto, r.ProtoMajor, r.ProtoMinor = e.Proto, major, minor
		}
	}
	r.Header = h
	r.Trailer = e.Trailer
	r.Body = &s.body
	if e.Streamed && withBody && stream != nil {
		s.body.stream = stream
		r.ContentLength = e.BodySize
	}
	r.Uncompressed = e.Uncompressed
	r.Request = req
	if st := s.tagged; st != nil {
		st.Context = req.Context()
		st.req = *req.WithContext(st) // the copy WithContext makes stays on the stack
		r.Request = &st.req
	}
	return r
}

// expiredAt reports whether a response whose lifetime ends at expires (zero:
// unknown) is expired at now, for Info.IsExpired.
func expiredAt(expires, now time.Time) bool {
	return !expires.IsZero() && !now.Before(expires)
}

// setCacheStatus adds the cache's Cache-Status member as the last one.
func setCacheStatus(h http.Header, v []string) {
	if prev := h["Cache-Status"]; len(prev) > 0 {
		h["Cache-Status"] = append(prev[:len(prev):len(prev)], v[0])
		return
	}
	h["Cache-Status"] = v
}

// markForwarded stamps a response that came from the origin with the cache's
// Cache-Status and, for InfoOf, attaches the Info to its Request context.
func (c *Cache) markForwarded(req *http.Request, resp *http.Response, cacheStatus string, e *Entry, key string) {
	if resp.Header == nil {
		resp.Header = make(http.Header)
	}
	f := new(forwarded)
	f.val[0] = cacheStatus
	setCacheStatus(resp.Header, f.val[:1:1])
	f.info = infoFromStatus(cacheStatus)
	if e != nil {
		f.info.Created, f.info.Expires, f.info.Key = e.Created, e.Expires, key
		f.info.expired = expiredAt(e.Expires, c.cfg.now())
	}
	if b, ok := resp.Body.(*body); ok {
		b.info = &f.info
	}
	f.ictx = infoContext{Context: req.Context(), info: &f.info}
	resp.Request = req.WithContext(&f.ictx)
}

// forwarded is what markForwarded attaches to a response, allocated in one
// piece: its Info, the context InfoOf reads, the Cache-Status value.
type forwarded struct {
	info Info
	ictx infoContext
	val  [1]string
}

// infoFromStatus derives Info flags from a Cache-Status value of ours.
func infoFromStatus(cs string) Info {
	switch cs {
	case csHit:
		return Info{FromCache: true}
	case csHitStale, csHitSWR, csStaleIfError:
		return Info{FromCache: true, Stale: true}
	case csOnlyIfCached:
		return Info{Synthetic: true}
	case csBypass, csMethod, csBodyTooLarge, csClosed:
		return Info{}
	}
	var in Info
	addCacheStatus(&in, cs)
	return in
}

// fwdStatuses holds fwdStatus's values for every Forward and detail, with
// no fwd-status or fwd-status=304: a forwarded request formats nothing.
var fwdStatuses [ForwardRequest + 1][detailClosed + 1][2][2][2]string

func init() {
	for f := range fwdStatuses {
		for d := range fwdStatuses[f] {
			for i, status := range [2]int{0, http.StatusNotModified} {
				for j, stored := range [2]bool{false, true} {
					for k, collapsed := range [2]bool{false, true} {
						fwdStatuses[f][d][i][j][k] = formatFwdStatus(Forward(f), detail(d), status, stored, collapsed)
					}
				}
			}
		}
	}
}

// fwdStatus returns the Cache-Status for a forwarded request.
func fwdStatus(fwd Forward, d detail, fwdStatus int, stored, collapsed bool) string {
	if fwd >= 0 && int(fwd) < len(fwdStatuses) && int(d) < len(fwdStatuses[0]) &&
		(fwdStatus == 0 || fwdStatus == http.StatusNotModified) {
		return fwdStatuses[fwd][d][b2i(fwdStatus != 0)][b2i(stored)][b2i(collapsed)]
	}
	return formatFwdStatus(fwd, d, fwdStatus, stored, collapsed)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// formatFwdStatus formats the Cache-Status for a forwarded request.
func formatFwdStatus(fwd Forward, d detail, fwdStatus int, stored, collapsed bool) string {
	var b strings.Builder
	b.WriteString(CacheStatusName)
	b.WriteString("; fwd=")
	b.WriteString(fwd.String())
	if d != detailNone {
		b.WriteString("; detail=")
		b.WriteString(d.String())
	}
	if fwdStatus > 0 {
		b.WriteString("; fwd-status=")
		b.WriteString(strconv.Itoa(fwdStatus))
	}
	if stored {
		b.WriteString("; stored")
	}
	if collapsed {
		b.WriteString("; collapsed")
	}
	return b.String()
}

// gatewayTimeout is the synthetic only-if-cached response (RFC 9111 §5.2.1.7).
func (c *Cache) gatewayTimeout(req *http.Request) *http.Response {
	s := newServed(req)
	e := new(Entry)
	e.Status = http.StatusGatewayTimeout
	e.Header = http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
	e.Body = []byte("hoard: only-if-cached and no usable stored response\n")
	e.Header["Content-Length"] = []string{strconv.Itoa(len(e.Body))}
	now := c.cfg.now()
	e.ResponseTime = now
	return c.build(s, req, e, "", now, csOnlyIfCached, req.Method != http.MethodHead)
}
