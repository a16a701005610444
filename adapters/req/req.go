// Package reqcache plugs a hoard cache into req v3 (github.com/imroc/req/v3).
//
//	client := req.C()
//	reqcache.Install(client, cache)
//	resp, err := client.R().SetSuccessResult(&user).Get(url)
//	fmt.Println(reqcache.Info(resp).FromCache)
//
// # Where the cache goes
//
// req v3 has request middleware (OnBeforeRequest, OnAfterResponse), which
// returns only an error and so cannot answer a request, and two layers of
// round-trip wrappers that can: the client level (Client.WrapRoundTripFunc,
// over *req.Request and *req.Response) and the transport level
// (Transport.WrapRoundTripFunc, over *http.Request and *http.Response).
// Install adds the cache as a transport-level wrapper
// (client.GetTransport().WrapRoundTripFunc), which calls core.Cache.Do
// directly above req's network round trip. Everything req does around its
// transport therefore runs on hits exactly as on misses: the client's and
// the request's middlewares, auto-reading the body, SetSuccessResult / SetErrorResult unmarshalling,
// charset decoding to UTF-8, download callbacks, response dumps and debug
// logs. The stored bytes are the ones the network returned (in their
// original charset), so a store shared with other clients holds the same
// entries whatever client filled it.
//
// Two other placements look possible and are wrong: a client-level wrapper
// (Client.WrapRoundTripFunc) that answers a hit skips req's body parsing and
// after-response middlewares, so SetSuccessResult stays empty; and replacing
// client.GetClient().Transport puts the cache above req's charset decoding,
// so decoded bytes would be stored under the original charset.
//
// Transport wrappers added before Install sit below the cache and run only
// on misses and revalidations (request signing, say); wrappers added after
// it run on hits too.
//
// What does not happen on a hit: req's request dump (written by the
// connection) and the connection timings of TraceInfo, since nothing is
// sent.
//
// # Per-request options
//
// Options travel in the request's context: Options.ForceRefresh, Refresh,
// OnlyIfCached, ExpireAfter and Disable (the core.RequestOptions methods)
// set them with Request.SetContext, and can be chained with req's own
// setters:
//
//	resp, err := reqcache.Options.ForceRefresh(client.R()).Get(url)
//
// Request.SetContext and Request.Do(ctx) replace the request's context:
// call them first, or put the options in the ctx you pass (core.ForceRefresh(ctx)).
//
// # Retries
//
// req's retry loop always runs above its transport, so the cache is below
// it: a stale response allowed by stale-if-error answers the first failed
// attempt, and no retry happens. RetryCondition wraps a retry condition so
// that a response the cache made (such as the 504 of only-if-cached) is
// never retried.
package reqcache

import (
	"net/http"

	"github.com/hoardhttp/hoard/core"
	"github.com/imroc/req/v3"
)

// Install makes c answer from cache: the cache is added as a transport-level
// round-trip wrapper over c's transport, which sends misses to the network.
// Call it once per client.
func Install(c *req.Client, cache *core.Cache) {
	c.GetTransport().WrapRoundTripFunc(Wrap(cache))
}

// Wrap returns the transport wrapper that Install adds, for callers who
// order their transport wrappers themselves:
//
//	client.GetTransport().WrapRoundTripFunc(sign, reqcache.Wrap(cache), trace)
func Wrap(cache *core.Cache) req.HttpRoundTripWrapperFunc {
	return func(next http.RoundTripper) req.HttpRoundTripFunc {
		return func(r *http.Request) (*http.Response, error) {
			return cache.DoTransport(r, next)
		}
	}
}

// Info returns how the cache produced resp; the zero Info for a response
// that did not go through the cache, a nil resp or a failed request.
func Info(resp *req.Response) core.Info {
	if resp == nil || resp.Response == nil {
		return core.Info{}
	}
	return core.InfoOf(resp.Response)
}

// Options sets hoard's per-request options on a *req.Request, chained with
// req's own setters: each method derives a context from r.Context() with the
// core function of the same name (core.ForceRefresh, core.Refresh,
// core.OnlyIfCached, core.ExpireAfter, core.Disable), sets it with
// r.SetContext and returns r:
//
//	resp, err := reqcache.Options.ForceRefresh(client.R()).SetSuccessResult(&user).Get(url)
var Options core.RequestOptions[*req.Request]

// RetryCondition wraps a req retry condition so that a response the cache
// made (a hit, a stale or revalidated response, the synthetic 504 of
// only-if-cached) is never retried: it did not come from the origin. Every
// other outcome is left to next; a nil next retries on errors only, req's
// default.
func RetryCondition(next req.RetryConditionFunc) req.RetryConditionFunc {
	return func(resp *req.Response, err error) bool {
		if err == nil && Info(resp).MadeByCache() {
			return false
		}
		if next == nil {
			return err != nil
		}
		return next(resp, err)
	}
}
