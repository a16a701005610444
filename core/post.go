package core

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hoardhttp/hoard/core/internal/rfc9111"
)

// storePOSTAsGET stores the response to a POST, forwarded because POST is
// not an allowable method, as the response to a GET of its target URI when
// RFC 9110 §9.3.3 makes it one: "Responses to POST requests are only
// cacheable when they include explicit freshness information ... and a
// Content-Location header field that has the same value as the POST's
// target URI", and such a response "can be reused to satisfy a later GET or
// HEAD request" (RFC 9111 §4). A POST itself is never answered from it.
//
// It applies only with Cache-Control honoured, GET an allowable method, and
// a 200 or 203 (a representation of the target resource, RFC 9110 §8.7,
// §15.3.1); everything else about storing (no-store, private in a shared
// cache, the lifetime, Vary on the POST's request fields, the size limits)
// is as for a GET with the POST's header. reqTime is when the POST was
// sent. It reports false, leaving resp untouched, when the response is not
// stored this way.
func (c *Cache) storePOSTAsGET(ctx context.Context, req *http.Request, resp *http.Response, reqTime time.Time) (*http.Response, bool) {
	if req.Method != http.MethodPost || !c.cfg.cacheControl || c.cfg.readOnly || !c.cfg.methods.has(http.MethodGet) ||
		(resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNonAuthoritativeInfo) {
		return nil, false
	}
	canonicalResponse(resp)
	if !rfc9111.ExplicitFreshness(resp.Header, c.respDirectives(resp.Header), c.cfg.shared) {
		return nil, false
	}
	target := wireURL(req)
	cl := resp.Header["Content-Location"]
	if len(cl) != 1 {
		return nil, false
	}
	ref, err := url.Parse(strings.TrimSpace(cl[0]))
	if err != nil || !sameURI(target, target.ResolveReference(ref)) {
		return nil, false
	}
	get := (&http.Request{
		Method: http.MethodGet, URL: req.URL, Host: req.Host, Header: req.Header,
		Proto: req.Proto, ProtoMajor: req.ProtoMajor, ProtoMinor: req.ProtoMinor,
	}).WithContext(ctx)
	x := new(exchange)
	if err := c.lookup(ctx, get, x); err != nil || x.act == Bypass {
		return nil, false
	}
	if x.resp != nil && x.resp.Body != nil {
		x.resp.Body.Close() // a GET's stored response, not served
	}
	x.reqTime, x.fwd = reqTime, ForwardMethod
	out := c.storeResponse(ctx, get, resp, x).resp
	// The response answers the caller's POST; its context carries the Info.
	out.Request = req.WithContext(out.Request.Context())
	return out, true
}

// sameURI reports whether two absolute URIs are the same (RFC 3986 §6.2.2,
// §6.2.3: scheme and host case, the default port, an empty path), with
// their queries compared exactly.
func sameURI(a, b *url.URL) bool {
	if !strings.EqualFold(a.Scheme, b.Scheme) || a.RawQuery != b.RawQuery {
		return false
	}
	scheme := strings.ToLower(a.Scheme)
	ha, hb := appendHost(nil, scheme, a.Host), appendHost(nil, scheme, b.Host)
	pa, pb := a.EscapedPath(), b.EscapedPath()
	if pa == "" {
		pa = "/"
	}
	if pb == "" {
		pb = "/"
	}
	return string(ha) == string(hb) && pa == pb
}
