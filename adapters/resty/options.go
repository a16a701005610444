package restycache

import (
	"net/http"

	"github.com/go-resty/resty/v2"
	"github.com/hoardhttp/hoard/core"
)

// Options sets hoard's per-request options on a *resty.Request, in resty's
// chaining style: each method derives a context from r.Context() with the
// core function of the same name (core.ForceRefresh, core.Refresh,
// core.OnlyIfCached, core.ExpireAfter, core.Disable), sets it with
// r.SetContext and returns r, so they chain with resty's own setters and
// nest:
//
//	resp, err := restycache.Options.OnlyIfCached(client.R()).Get(url)
//	r := restycache.Options.Refresh(restycache.Options.ExpireAfter(client.R(), time.Minute))
//
// OnlyIfCached answers from the cache alone or with a synthetic 504 Gateway
// Timeout that the origin never saw: Info(resp).Synthetic tells the two
// apart, and RetryCondition never retries it.
var Options core.RequestOptions[*resty.Request]

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
	if err != nil || Info(resp).MadeByCache() {
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
		if Info(resp).MadeByCache() {
			return false
		}
		return cond(resp, err)
	}
}
