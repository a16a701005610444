package core_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

// TestInfoIsExpired checks Info.IsExpired on the responses the cache
// produces: a response is expired when it is a stale hit, or when the cache
// produced it at or after its Expires (by the cache's clock); one read back
// from a Cache-Status field alone knows only whether it was stale.
func TestInfoIsExpired(t *testing.T) {
	ctx := context.Background()
	// The cache's clock runs from the real time: memstore drops entries
	// past their deletion time by the real clock.
	start := time.Now()
	tests := []struct {
		name string
		// first and second are the Cache-Control of the origin's first
		// answer (a 200 with an ETag) and of its second (a 304, when the
		// second request revalidates); after is when the second request
		// is made; reqCC is its Cache-Control.
		first, second string
		after         time.Duration
		reqCC         string
		wantFirst     bool // IsExpired of the first (forwarded) response
		wantSecond    bool
		fromCache     bool // the second is served from the store
	}{
		{name: "fresh hit", first: "max-age=60", after: 10 * time.Second, fromCache: true},
		{name: "hit at the last fresh moment", first: "max-age=60", after: 60*time.Second - time.Nanosecond, fromCache: true},
		{name: "stale hit by max-stale", first: "max-age=60", after: 120 * time.Second, reqCC: "max-stale=3600",
			wantSecond: true, fromCache: true},
		{name: "stored already expired", first: "max-age=0", second: "max-age=60", after: time.Second,
			wantFirst: true, fromCache: true},
		{name: "revalidated with no lifetime", first: "max-age=0", second: "max-age=0", after: time.Second,
			wantFirst: true, wantSecond: true, fromCache: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := start
			c := rvNew(t, nil, core.WithClock(func() time.Time { return now }))
			calls := 0
			send := func(r *http.Request) (*http.Response, error) {
				calls++
				if calls > 1 && r.Header.Get("If-None-Match") == `"v1"` {
					return rvResp(r, http.StatusNotModified, http.Header{"Etag": {`"v1"`}, "Cache-Control": {tc.second}}, ""), nil
				}
				return rvResp(r, http.StatusOK, http.Header{"Etag": {`"v1"`}, "Cache-Control": {tc.first}}, "body"), nil
			}
			resp, _ := rvDo(t, c, rvGet(t, ctx, "GET", "http://example.test/a", nil), send)
			if got := core.InfoOf(resp).IsExpired(); got != tc.wantFirst {
				t.Errorf("first response: IsExpired = %v, want %v (Info %+v)", got, tc.wantFirst, core.InfoOf(resp))
			}
			now = start.Add(tc.after)
			var h http.Header
			if tc.reqCC != "" {
				h = http.Header{"Cache-Control": {tc.reqCC}}
			}
			resp, body := rvDo(t, c, rvGet(t, ctx, "GET", "http://example.test/a", h), send)
			in := core.InfoOf(resp)
			if body != "body" || in.FromCache != tc.fromCache {
				t.Fatalf("second response: body %q, FromCache %v; want body, %v", body, in.FromCache, tc.fromCache)
			}
			if got := in.IsExpired(); got != tc.wantSecond {
				t.Errorf("second response: IsExpired = %v, want %v (Info %+v)", got, tc.wantSecond, in)
			}
		})
	}

	t.Run("read back from Cache-Status", func(t *testing.T) {
		for cs, want := range map[string]bool{
			"hoard; hit":                     false,
			"hoard; hit; detail=stale":       true,
			"hoard; fwd=stale; detail=stale": true,
		} {
			resp := &http.Response{Header: http.Header{"Cache-Status": {cs}}}
			if got := core.InfoOf(resp).IsExpired(); got != want {
				t.Errorf("Cache-Status %q: IsExpired = %v, want %v", cs, got, want)
			}
		}
	})
}

// wrappedBody stands for a middleware's body wrapper (http.Client's for a
// Timeout, a tracer's): InfoOf cannot see the cache's body through it.
type wrappedBody struct{ io.ReadCloser }

// TestInfoOfWrappedBody checks where InfoOf finds a hit's Info once its
// Body is wrapped. A request that carries Cancel, as http.Client sets it on
// every request it sends under a Timeout (the case where it wraps every
// Body), gets a Request whose context holds the whole Info and still
// answers the request context's values; any other hit's Request is the
// request itself, and InfoOf reads what the Cache-Status field says.
func TestInfoOfWrappedBody(t *testing.T) {
	type ctxKey struct{}
	ctx := context.WithValue(context.Background(), ctxKey{}, "caller's value")
	c := rvNew(t, nil)
	send := func(r *http.Request) (*http.Response, error) {
		return rvResp(r, http.StatusOK, http.Header{"Cache-Control": {"max-age=600"}}, "body"), nil
	}
	rvDo(t, c, rvGet(t, ctx, "GET", "http://example.test/a", nil), send)
	for _, tc := range []struct {
		name     string
		cancel   bool
		wantFull bool // Key, Created and Expires are there
	}{
		{name: "request with Cancel", cancel: true, wantFull: true},
		{name: "request without Cancel", cancel: false, wantFull: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := rvGet(t, ctx, "GET", "http://example.test/a", nil)
			if tc.cancel {
				req.Cancel = make(chan struct{})
			}
			resp, err := c.Do(req, send)
			if err != nil {
				t.Fatal(err)
			}
			direct := core.InfoOf(resp)
			if !direct.FromCache || direct.Key == "" || direct.Created.IsZero() || direct.Expires.IsZero() {
				t.Fatalf("InfoOf before wrapping = %+v, want a hit with Key, Created and Expires", direct)
			}
			resp.Body = wrappedBody{resp.Body}
			got := core.InfoOf(resp)
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(b) != "body" {
				t.Fatalf("body %q, %v; want body", b, err)
			}
			if tc.wantFull {
				if got != direct {
					t.Errorf("InfoOf through the wrapper = %+v, want %+v", got, direct)
				}
				if resp.Request == req {
					t.Error("Request is the request served; want a copy whose context carries the Info")
				}
			} else {
				want := core.Info{FromCache: true, Age: direct.Age}
				if got != want {
					t.Errorf("InfoOf through the wrapper = %+v, want what Cache-Status says, %+v", got, want)
				}
				if resp.Request != req {
					t.Error("Request is a copy; want the request served")
				}
			}
			if v := resp.Request.Context().Value(ctxKey{}); v != "caller's value" {
				t.Errorf("Request context value = %v, want the caller's", v)
			}
		})
	}
}
