package restycache

import (
	"net/http"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/hoardhttp/hoard/core"
)

// Each option below wraps the request's current context (r.Context()) with
// the core function of the same name and sets the result with r.SetContext.
// They return r, so they chain with resty's own setters, and they nest:
// restycache.Refresh(restycache.ExpireAfter(client.R(), time.Minute)).

// ForceRefresh makes r skip the stored response and fetch a new one
// unconditionally, storing it (core.ForceRefresh).
func ForceRefresh(r *resty.Request) *resty.Request {
	return r.SetContext(core.ForceRefresh(r.Context()))
}

// Refresh makes r revalidate the stored response even if it is fresh
// (core.Refresh).
func Refresh(r *resty.Request) *resty.Request {
	return r.SetContext(core.Refresh(r.Context()))
}

// OnlyIfCached makes r answer from the cache alone: a usable stored response,
// otherwise a synthetic 504 Gateway Timeout that the origin never saw
// (core.OnlyIfCached). Info(resp).Synthetic tells the two apart; RetryCondition
// never retries the synthetic 504.
func OnlyIfCached(r *resty.Request) *resty.Request {
	return r.SetContext(core.OnlyIfCached(r.Context()))
}

// ExpireAfter sets the lifetime of what r stores and bounds the age of a
// stored response r accepts (core.ExpireAfter; core.NeverExpire,
// core.ExpireImmediately and core.DoNotCache have their usual meaning).
func ExpireAfter(r *resty.Request, d time.Duration) *resty.Request {
	return r.SetContext(core.ExpireAfter(r.Context(), d))
}

// Disable makes r bypass the cache: nothing read, nothing written; unsafe
// methods still invalidate (core.Disable).
func Disable(r *resty.Request) *resty.Request {
	return r.SetContext(core.Disable(r.Context()))
}

var _ resty.RetryConditionFunc = RetryCondition

// RetryCondition is a resty retry condition (pass it to AddRetryCondition)
// that retries transport errors (the request was sent and no response came
// back), 429 Too Many Requests and 5xx responses, except responses the cache
// produced from its store: fresh and stale hits, revalidated responses and
// the synthetic 504 of OnlyIfCached. Those come back identical on every
// attempt, without touching the network, so retrying them would only add
// backoff delays. Errors from resty's request middleware or rate limiter
// (no response at all) are not retried, and resty stops retrying on a
// cancelled context by itself.
func RetryCondition(resp *resty.Response, err error) bool {
	if resp == nil {
		return false
	}
	if resp.RawResponse == nil {
		return err != nil
	}
	if in := Info(resp); err != nil || in.FromCache || in.Synthetic {
		return false
	}
	code := resp.StatusCode()
	return code == http.StatusTooManyRequests || code >= 500
}

// SkipCached wraps a resty retry condition so that it is not consulted for
// responses the cache produced from its store (see RetryCondition), which
// are never retried. resty retries when any one condition says so, so wrap
// every condition that could retry such a response, for example one that
// retries every 5xx.
func SkipCached(cond resty.RetryConditionFunc) resty.RetryConditionFunc {
	return func(resp *resty.Response, err error) bool {
		if in := Info(resp); in.FromCache || in.Synthetic {
			return false
		}
		return cond(resp, err)
	}
}
