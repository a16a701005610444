// Package restycache plugs a hoard cache into a resty v2 client
// (github.com/go-resty/resty/v2).
//
//	cache, _ := core.New(store)
//	client := restycache.Install(resty.New(), cache)
//	resp, err := client.R().SetResult(&user).Get(url)
//
// # Where the cache goes
//
// resty v2 offers four places to hook into a request: request middleware
// (OnBeforeRequest), the pre-request hook (SetPreRequestHook), response
// middleware (OnAfterResponse) and the client's http.RoundTripper
// (SetTransport). Only the last can answer a request: request middleware
// and the pre-request hook return only an error, which aborts the request,
// so they cannot hand back a stored response; and response middleware runs
// after the network, on a body resty has already read, gunzipped and
// closed while Content-Encoding still says gzip, so it can neither save a
// request nor store the bytes the origin sent. Install therefore puts the
// cache in the transport: as the http.RoundTripper of the client's
// *http.Client, wrapping the transport the client already has, and calls
// core.Cache.Do there. Everything resty does above the transport runs on
// hits as on misses: request middleware, gunzipping, reading the body,
// SetResult/SetError unmarshalling, response middleware, debug logs and
// retries.
//
// # Proxy, TLS and the order of calls
//
// resty configures proxies and TLS by type-asserting the client's transport
// to *http.Transport (Client.Transport). Once the cache is installed that
// assertion fails, and SetProxy, RemoveProxy, SetTLSClientConfig,
// SetCertificates, SetRootCertificate and SetClientRootCertificate only log
// "current transport is not an *http.Transport instance" and change nothing.
// Settings made before Install stay in effect, because Install keeps the
// transport it wraps. So:
//
//  1. create the client and apply transport settings (SetTransport, SetProxy,
//     SetTLSClientConfig, SetCertificates, ...);
//  2. call Install;
//  3. call SetDigestAuth, if used, after Install: resty swaps the client's
//     transport around each request for digest authentication, restoring
//     the one it saw when SetDigestAuth was called, which would remove a
//     cache installed later.
//
// To change transport settings after Install, call Uninstall, change them,
// and Install again, or change the *http.Transport that BaseTransport
// returns (both while no request is in flight). SetTransport after Install
// replaces the cache with the new transport: call Install again after it.
//
// # Per-request options
//
// Options.ForceRefresh, Refresh, OnlyIfCached, ExpireAfter and Disable (the
// core.RequestOptions methods) set hoard's per-request options on a
// *resty.Request through its context, in resty's chaining style; they are
// never sent to the origin:
//
//	resp, err := restycache.Options.OnlyIfCached(client.R()).Get(url)
//
// They derive from the context the request already has, so call them after
// SetContext, or pass a context built with the core functions to SetContext.
//
// # Retries
//
// resty's retry loop runs above the transport, so each attempt is a cache
// lookup:
//   - a fresh hit never reaches a retry condition as a failure: the condition
//     sees the stored response;
//   - a stale entry within a stale-if-error window answers a failing origin
//     at once, on the first attempt (RFC 5861): the condition sees the stale
//     200 and no retry happens, so the origin is asked once;
//   - without a usable stale entry, the origin's 5xx or transport error
//     reaches the conditions, and every retry looks up the cache again
//     (a miss) before asking the origin;
//   - a response the cache produced from its store (a hit, a stale response,
//     or the synthetic 504 Gateway Timeout of OnlyIfCached) is the same on
//     every attempt, so retrying it only adds backoff delays. Without retry
//     conditions resty retries errors only, never a status; with them it
//     retries when any condition says so. Use RetryCondition, or wrap your
//     own conditions with SkipCached, so that such responses are never
//     retried.
//     resty's AddRetryAfterErrorCondition retries every status >= 400,
//     including the synthetic 504: use RetryCondition instead.
//
// There is no placement above resty's retry loop, so "retry the origin
// first, then serve stale" is not available; without WithStaleIfError (and
// without stale-if-error in the response) the retries reach the origin.
//
// # Compression
//
// Responses behave as without the cache. Without an explicit Accept-Encoding
// header, net/http asks for gzip and decompresses below the cache, so the
// cache stores and serves the decoded body. With an explicit Accept-Encoding:
// gzip, net/http leaves the body alone; the cache stores the compressed bytes
// with their Content-Encoding and resty gunzips them above the transport, on
// hits as on misses. The two requests differ in Accept-Encoding, so a
// response with Vary: Accept-Encoding keeps them apart.
package restycache

import (
	"errors"
	"net/http"

	"github.com/go-resty/resty/v2"
	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/core"
)

// ErrNotInstalled is returned by BaseTransport when the client's transport is
// not a cache installed by Install.
var ErrNotInstalled = errors.New("restycache: cache not installed on this client")

// ErrNotHTTPTransport is returned by BaseTransport when the transport below
// the cache is not an *http.Transport.
var ErrNotHTTPTransport = errors.New("restycache: transport below the cache is not an *http.Transport")

// Transport is the http.RoundTripper that Install puts in a resty client:
// the net/http adapter's transport, which answers from Cache and sends
// everything else to Base (nil: http.DefaultTransport). It never modifies
// the request, closes the request body on every path, is safe for
// concurrent use, and passes CloseIdleConnections on to Base.
type Transport = nethttpcache.Transport

// Install makes c answer from cache, wrapping the transport c already has
// (resty.New gives every client its own *http.Transport) so that its proxy
// and TLS settings keep working; see the package documentation for the order
// of calls. Installing on a client that already has a cache replaces the
// cache and keeps the transport below it. Install returns c for chaining.
//
// Like resty's SetTransport, Install is not safe to call while c has
// requests in flight.
func Install(c *resty.Client, cache *core.Cache) *resty.Client {
	hc := c.GetClient()
	if t, ok := hc.Transport.(*Transport); ok {
		hc.Transport = &Transport{Cache: cache, Base: t.Base}
		return c
	}
	hc.Transport = &Transport{Cache: cache, Base: hc.Transport}
	return c
}

// Uninstall restores the transport that Install wrapped, so that c no longer
// uses the cache and resty's transport settings (SetProxy,
// SetTLSClientConfig, ...) work again. It does nothing when c has no cache
// installed, and returns c for chaining. It is not safe to call while c has
// requests in flight.
func Uninstall(c *resty.Client) *resty.Client {
	hc := c.GetClient()
	if t, ok := hc.Transport.(*Transport); ok {
		hc.Transport = t.Base
	}
	return c
}

// BaseTransport returns the *http.Transport below the cache installed on c,
// to change proxy or TLS settings after Install. It returns ErrNotInstalled
// when c has no cache installed, and ErrNotHTTPTransport when the transport
// below the cache is another RoundTripper. Change it only while no request
// is in flight, as with resty's own setters.
func BaseTransport(c *resty.Client) (*http.Transport, error) {
	t, ok := c.GetClient().Transport.(*Transport)
	if !ok {
		return nil, ErrNotInstalled
	}
	if t.Base == nil {
		return nil, ErrNotHTTPTransport
	}
	ht, ok := t.Base.(*http.Transport)
	if !ok {
		return nil, ErrNotHTTPTransport
	}
	return ht, nil
}

// Info returns how the cache produced resp (see core.Info): on hits and
// misses alike, before or after resty read the body, and behind
// SetDoNotParseResponse. A nil resp, a response without a RawResponse (a
// request that failed before an answer) and a response that did not go
// through a cache give the zero Info.
func Info(resp *resty.Response) core.Info {
	if resp == nil || resp.RawResponse == nil {
		return core.Info{}
	}
	return core.InfoOf(resp.RawResponse)
}
