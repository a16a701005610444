package core_test

import (
	"context"
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
