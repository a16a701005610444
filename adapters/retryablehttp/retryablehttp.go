// Package retryablecache plugs a hoard cache into go-retryablehttp
// (github.com/hashicorp/go-retryablehttp).
//
// # Where the cache goes
//
// go-retryablehttp's own hooks cannot answer a request: RequestLogHook,
// ResponseLogHook, CheckRetry, Backoff and PrepareRetry observe or steer
// the retry loop, and ErrorHandler, the one that can substitute a response,
// runs only after the last attempt and is not given the request. The cache
// is therefore an http.RoundTripper calling core.Cache.Do, and since a
// retryablehttp.Client runs its retry loop around an *http.Client, that
// transport can sit on either side of the loop; the adapter offers both,
// because each gives a different answer to a failing origin with a stale
// entry, and both are reasonable:
//
//   - Below the retries (Install, the default): the cache is the transport of
//     rc.HTTPClient, and every attempt of the loop goes through it. A fresh
//     hit answers the first attempt without the network, and CheckRetry
//     (installed by Install) stops the loop there. When a stale entry may be
//     served on error (stale-if-error), the first failed attempt answers with
//     the stale response at once: one origin request, no backoff.
//   - Above the retries (NewClientAbove): the cache wraps the whole retry
//     loop (retryablehttp.RoundTripper) in an *http.Client. A miss or a
//     revalidation runs every attempt first; only when the loop gives up is
//     the stale response served (1 + RetryMax origin requests). This is the
//     order requests-cache has with urllib3 retries. The price is the
//     *http.Client interface: per-request retryablehttp features such as
//     Request.SetResponseHandler are not available.
//
// # Retries of cached responses
//
// A response the cache made (a hit, a stale response, a revalidated one, or
// the synthetic 504 of only-if-cached) did not come from the origin, and
// retrying it only repeats the lookup after a backoff. CheckRetry wraps a
// retry policy so that such responses are never retried; Install applies it
// to rc.CheckRetry. retryablehttp.DefaultRetryPolicy alone would retry the
// only-if-cached 504 and end with "giving up after N attempt(s)".
//
// # Request bodies
//
// Request bodies (for methods cached by body digest, see
// core.WithAllowableMethods) are read through the request's GetBody, which
// retryablehttp sets from its rewindable body, so the body the attempt holds
// is never consumed by the cache and every retry sends the whole body.
//
// # Per-request options
//
// Per-request options travel in the request's context, built with the core
// helpers (a retryablehttp.Request has no chaining setter, so
// core.RequestOptions has nothing to add here):
//
//	ctx := core.ForceRefresh(ctx)
//	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, url, nil)
//
// core.InfoOf(resp) tells how the cache produced a response.
package retryablecache

import (
	"context"
	"fmt"
	"net/http"

	"github.com/hoardhttp/hoard/core"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"
)

// Transport is an http.RoundTripper that answers from a cache and sends
// everything else to its base. It differs from nethttpcache.Transport only
// in how it reads request bodies: through GetBody when the request has one,
// leaving Body itself unread (it is closed, as the http.RoundTripper contract
// requires). It is safe for concurrent use.
type Transport struct {
	cache *core.Cache
	next  http.RoundTripper
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a Transport over cache that sends misses to base; a
// nil base means http.DefaultTransport.
func NewTransport(cache *core.Cache, base http.RoundTripper) *Transport {
	return &Transport{cache: cache, next: base}
}

// base is the transport misses are sent to.
func (t *Transport) base() http.RoundTripper {
	if t.next != nil {
		return t.next
	}
	return http.DefaultTransport
}

// CloseIdleConnections closes the idle connections of the transport below
// the cache (http.DefaultTransport when the base is nil), so that
// http.Client.CloseIdleConnections keeps working with the cache in place:
// a base with a CloseIdleConnections method has it called, and a
// *retryablehttp.RoundTripper (NewClientAbove) has its client's HTTPClient
// close them.
func (t *Transport) CloseIdleConnections() {
	var next http.RoundTripper = http.DefaultTransport
	if t.next != nil {
		next = t.next
	}
	switch b := next.(type) {
	case interface{ CloseIdleConnections() }:
		b.CloseIdleConnections()
	case *retryablehttp.RoundTripper:
		if b.Client != nil && b.Client.HTTPClient != nil {
			b.Client.HTTPClient.CloseIdleConnections()
		}
	}
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.GetBody == nil || req.Body == nil || req.Body == http.NoBody ||
		req.Method == "" || req.Method == http.MethodGet || req.Method == http.MethodHead {
		return t.cache.DoTransport(req, t.base())
	}
	body, err := req.GetBody()
	if err != nil {
		req.Body.Close()
		return nil, fmt.Errorf("retryablecache: rewinding request body of %s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	r := new(http.Request)
	*r = *req
	r.Body = body
	resp, err := t.cache.DoTransport(r, t.base())
	// The cache has read (and closed) the body GetBody gave; the attempt's
	// own body is closed unread.
	req.Body.Close()
	return resp, err
}

// Install puts cache below rc's retry loop: rc.HTTPClient is replaced by a
// copy whose transport is a Transport over cache sending to the transport
// rc.HTTPClient had (a nil HTTPClient is first given retryablehttp's default,
// cleanhttp.DefaultPooledClient), and rc.CheckRetry is wrapped with
// CheckRetry so cached responses are never retried. The copy keeps the
// client's Timeout, Jar and CheckRedirect, and leaves an *http.Client shared
// with other code (http.DefaultClient, say) untouched.
//
// Call Install once, before rc is used, and after setting rc.CheckRetry; a
// policy set later should be wrapped with CheckRetry by hand.
func Install(rc *retryablehttp.Client, cache *core.Cache) {
	var hc *http.Client
	if rc.HTTPClient == nil {
		hc = cleanhttp.DefaultPooledClient()
	} else {
		c := *rc.HTTPClient
		hc = &c
	}
	hc.Transport = NewTransport(cache, hc.Transport)
	rc.HTTPClient = hc
	rc.CheckRetry = CheckRetry(rc.CheckRetry)
}

// NewClientAbove returns an *http.Client that puts cache above rc's retry
// loop: misses and revalidations go through retryablehttp.RoundTripper{Client:
// rc}, so all attempts run before a stale response is served on error. rc is
// used as it is: do not also Install a cache in it.
//
// When the loop gives up, retryablehttp's default ErrorHandler returns an
// error (a stale response within stale-if-error is then served);
// retryablehttp.PassthroughErrorHandler returns the last response, and a 5xx
// is treated the same way.
func NewClientAbove(rc *retryablehttp.Client, cache *core.Cache) *http.Client {
	return &http.Client{Transport: NewTransport(cache, &retryablehttp.RoundTripper{Client: rc})}
}

// CheckRetry wraps a retry policy so that a response the cache made (a
// fresh or stale hit, a revalidated response, the synthetic 504 of
// only-if-cached) is never retried: it did not come from the origin, and a
// retry would only repeat the lookup. Every other outcome is left to next; a
// nil next means retryablehttp.DefaultRetryPolicy.
func CheckRetry(next retryablehttp.CheckRetry) retryablehttp.CheckRetry {
	if next == nil {
		next = retryablehttp.DefaultRetryPolicy
	}
	return func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if err == nil && core.InfoOf(resp).MadeByCache() {
			return false, nil
		}
		return next(ctx, resp, err)
	}
}
