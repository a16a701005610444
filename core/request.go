package core

import (
	"context"
	"time"
)

// Per-request options travel in the request's context and are never sent to
// the origin. Each function returns a derived context; combine them by
// nesting: core.Refresh(core.ExpireAfter(ctx, time.Minute)).

type reqOptsKey struct{}

type reqOpts struct {
	forceRefresh   bool
	refresh        bool
	onlyIfCached   bool
	disabled       bool
	expireAfter    time.Duration
	hasExpireAfter bool
}

func requestOptions(ctx context.Context) reqOpts {
	if o, ok := ctx.Value(reqOptsKey{}).(*reqOpts); ok {
		return *o
	}
	return reqOpts{}
}

func withReqOpts(ctx context.Context, f func(*reqOpts)) context.Context {
	o := requestOptions(ctx)
	f(&o)
	return context.WithValue(ctx, reqOptsKey{}, &o)
}

// ForceRefresh makes the request skip the stored response and fetch a new one
// unconditionally, storing it (requests-cache force_refresh).
func ForceRefresh(ctx context.Context) context.Context {
	return withReqOpts(ctx, func(o *reqOpts) { o.forceRefresh = true })
}

// Refresh makes the request revalidate the stored response even if it is
// fresh: a conditional request when it has a validator, otherwise a full one
// (requests-cache refresh, which instead returns the stored response when
// there is no validator).
func Refresh(ctx context.Context) context.Context {
	return withReqOpts(ctx, func(o *reqOpts) { o.refresh = true })
}

// OnlyIfCached answers the request from the cache alone: a stored response
// that may be used (fresh, or stale within a stale-if-error window), otherwise
// a synthetic 504 Gateway Timeout (requests-cache only_if_cached; RFC 9111
// §5.2.1.7).
func OnlyIfCached(ctx context.Context) context.Context {
	return withReqOpts(ctx, func(o *reqOpts) { o.onlyIfCached = true })
}

// ExpireAfter sets the lifetime of the response this request stores and
// bounds the age of a stored response it accepts, like a request max-age
// (requests-cache's per-request expire_after). NeverExpire imposes no bound,
// ExpireImmediately revalidates, DoNotCache bypasses the cache. Other negative
// values are treated as ExpireImmediately.
func ExpireAfter(ctx context.Context, d time.Duration) context.Context {
	if d < 0 && d != NeverExpire && d != DoNotCache {
		d = ExpireImmediately
	}
	return withReqOpts(ctx, func(o *reqOpts) { o.expireAfter, o.hasExpireAfter = d, true })
}

// Disable makes this one request bypass the cache entirely: it neither reads
// nor writes, and it is safe to use from many goroutines at once (unlike
// requests-cache's global cache_disabled()). Unsafe methods still invalidate.
func Disable(ctx context.Context) context.Context {
	return withReqOpts(ctx, func(o *reqOpts) { o.disabled = true })
}

// ContextRequest is a client library's request type R that carries a
// context and sets it in a chaining style, as *resty.Request and
// *req.Request do: SetContext replaces the context and returns the request.
type ContextRequest[R any] interface {
	Context() context.Context
	SetContext(ctx context.Context) R
}

// RequestOptions sets hoard's per-request options (ForceRefresh, Refresh,
// OnlyIfCached, ExpireAfter, Disable) on a request of a client library whose
// request type R carries its context (see ContextRequest). Each method
// derives a context from r.Context() with the function of the same name,
// sets it with r.SetContext and returns what SetContext returns, so the
// options chain with the library's own setters and nest. An adapter exposes
// them as a variable in its library's idiom, as restycache.Options and
// reqcache.Options do:
//
//	var Options core.RequestOptions[*somelib.Request]
//	resp, err := Options.OnlyIfCached(client.R()).Get(url)
//
// Because they derive from the request's current context, set them after
// any call that replaces it (SetContext). The zero value is ready to use.
type RequestOptions[R ContextRequest[R]] struct{}

// ForceRefresh sets ForceRefresh on r's context.
func (RequestOptions[R]) ForceRefresh(r R) R { return r.SetContext(ForceRefresh(r.Context())) }

// Refresh sets Refresh on r's context.
func (RequestOptions[R]) Refresh(r R) R { return r.SetContext(Refresh(r.Context())) }

// OnlyIfCached sets OnlyIfCached on r's context.
func (RequestOptions[R]) OnlyIfCached(r R) R { return r.SetContext(OnlyIfCached(r.Context())) }

// ExpireAfter sets ExpireAfter(d) on r's context.
func (RequestOptions[R]) ExpireAfter(r R, d time.Duration) R {
	return r.SetContext(ExpireAfter(r.Context(), d))
}

// Disable sets Disable on r's context.
func (RequestOptions[R]) Disable(r R) R { return r.SetContext(Disable(r.Context())) }
