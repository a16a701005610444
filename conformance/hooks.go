package conformance

import (
	"context"
	"errors"
	"net/http"

	"github.com/hoardhttp/hoard/core"
)

// HooksHarness is an AdapterHarness whose adapter is built from the cache's
// public hooks alone (Lookup, RevalidateInBackground, Join, Store,
// Revalidate), never from Cache.Do: RunAdapterTests over it shows that an
// adapter written against the hooks gets the semantics of Do. It sends
// through an http.Client whose transport is that adapter over Base
// (http.DefaultTransport when nil).
type HooksHarness struct {
	Base http.RoundTripper
}

// Doer implements AdapterHarness.
func (h HooksHarness) Doer(cache *core.Cache) Doer {
	base := h.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return (&http.Client{Transport: &hooksTransport{cache: cache, base: base}}).Do
}

// Close implements AdapterHarness.
func (HooksHarness) Close() {}

// hooksTransport is an http.RoundTripper over the hooks.
type hooksTransport struct {
	cache *core.Cache
	base  http.RoundTripper
}

func (t *hooksTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	c := t.cache
	lr, err := c.Lookup(ctx, req)
	if err != nil {
		closeRequestBody(req)
		return nil, err
	}
	switch lr.State {
	case core.Hit:
		closeRequestBody(req)
		return lr.Response, nil
	case core.StaleWhileRevalidate:
		closeRequestBody(req)
		c.RevalidateInBackground(&lr, t.base.RoundTrip)
		return lr.Response, nil
	}
	if resp, err := c.Join(ctx, &lr); resp != nil || err != nil {
		closeRequestBody(req)
		return resp, err
	}
	resp, err := t.send(ctx, &lr)
	if errors.Is(err, core.ErrResend) {
		resp, err = t.send(ctx, &lr)
	}
	return resp, err
}

// send sends lr.Request and hands the outcome to the hook for its State.
func (t *hooksTransport) send(ctx context.Context, lr *core.LookupResult) (*http.Response, error) {
	resp, err := t.base.RoundTrip(lr.Request)
	if lr.State == core.Revalidate {
		return t.cache.Revalidate(ctx, lr, resp, err)
	}
	return t.cache.Store(ctx, lr, resp, err)
}

func closeRequestBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
