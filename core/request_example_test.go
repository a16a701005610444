package core_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// apiRequest stands for a client library's request type whose SetContext
// chains, like *resty.Request and *req.Request.
type apiRequest struct {
	ctx context.Context
	url string
}

func (r *apiRequest) Context() context.Context { return r.ctx }

func (r *apiRequest) SetContext(ctx context.Context) *apiRequest {
	r.ctx = ctx
	return r
}

// An adapter for such a library exposes the per-request options as a
// core.RequestOptions of its request type, in the library's chaining style.
func ExampleRequestOptions() {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "hello")
	}))
	defer origin.Close()
	store, err := memstore.New(nil)
	if err != nil {
		panic(err)
	}
	defer store.Close()
	cache, err := core.New(store)
	if err != nil {
		panic(err)
	}

	// What the library does with its request, in the end: an *http.Request
	// with the request's context, through the cache.
	send := func(r *apiRequest) *http.Response {
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, r.url, nil)
		if err != nil {
			panic(err)
		}
		resp, err := cache.Do(req, http.DefaultTransport.RoundTrip)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		return resp
	}

	var opts core.RequestOptions[*apiRequest]
	ctx := context.Background()
	send(&apiRequest{ctx: ctx, url: origin.URL + "/a"})

	resp := send(opts.OnlyIfCached(&apiRequest{ctx: ctx, url: origin.URL + "/a"}))
	fmt.Println(resp.StatusCode, core.InfoOf(resp).FromCache)
	resp = send(opts.OnlyIfCached(&apiRequest{ctx: ctx, url: origin.URL + "/b"}))
	fmt.Println(resp.StatusCode, core.InfoOf(resp).MadeByCache())
	// Output:
	// 200 true
	// 504 true
}
