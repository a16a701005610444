package reqcache_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imroc/req/v3"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	reqcache "github.com/hoardhttp/hoard/adapters/req"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// harness sends the conformance scenarios through a req client with the
// cache installed and req's defaults otherwise (cookie jar, redirects,
// auto-read, charset decoding).
type harness struct{}

func (h harness) Doer(c *core.Cache) conformance.Doer {
	client := req.C()
	reqcache.Install(client, c)
	return func(hr *http.Request) (*http.Response, error) {
		r := client.R().SetContext(hr.Context())
		r.Headers = hr.Header.Clone() // names as written, as SetHeaderNonCanonical keeps them
		if hr.Host != "" && hr.Host != hr.URL.Host {
			r.SetHeader("Host", hr.Host) // req sends it as the request's Host
		}
		if hr.Body != nil && hr.Body != http.NoBody {
			b, err := io.ReadAll(hr.Body)
			hr.Body.Close()
			if err != nil {
				return nil, err
			}
			r.SetBody(b)
		}
		resp, err := r.Send(hr.Method, hr.URL.String())
		if err != nil {
			return nil, err
		}
		return resp.Response, nil
	}
}

func (harness) Close() {}

func TestConformance(t *testing.T) {
	// RunAdapterTests runs every scenario over memstore and over filestore.
	conformance.RunAdapterTests(t, func(context.Context, *testing.T) (conformance.AdapterHarness, error) {
		return harness{}, nil
	})
}

func newCache(t testing.TB, opts ...core.Option) *core.Cache {
	t.Helper()
	st, err := memstore.New(&memstore.Options{MaxBytes: conformance.ScenarioMemBytes}) // small bodies: a small, cheap store
	if err != nil {
		t.Fatal(err)
	}
	c, err := core.New(st, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newClient(t testing.TB, cache *core.Cache) *req.Client {
	c := req.C()
	reqcache.Install(c, cache)
	return c
}

// TestSuccessResult checks that SetSuccessResult / SetErrorResult are
// filled on hits as on misses, and that the client's after-response
// middlewares run on both.
func TestSuccessResult(t *testing.T) {
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/missing" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"no such user"}`)
			return
		}
		fmt.Fprint(w, `{"id":7,"name":"Ada"}`)
	}))
	defer origin.Close()
	type user struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	type apiErr struct {
		Message string `json:"message"`
	}
	client := newClient(t, newCache(t, core.WithAllowableCodes(200, 404)))
	var after atomic.Int64
	client.OnAfterResponse(func(*req.Client, *req.Response) error { after.Add(1); return nil })
	for i, wantFromCache := range []bool{false, true} {
		var u user
		resp, err := client.R().SetSuccessResult(&u).Get(origin.URL + "/users/7")
		if err != nil {
			t.Fatal(err)
		}
		if u != (user{7, "Ada"}) || reqcache.Info(resp).FromCache != wantFromCache {
			t.Errorf("request %d: result %+v, FromCache %v; want {7 Ada} and %v", i+1, u, reqcache.Info(resp).FromCache, wantFromCache)
		}
		if resp.String() != `{"id":7,"name":"Ada"}` {
			t.Errorf("request %d: String() = %q", i+1, resp.String())
		}
		var e apiErr
		resp, err = client.R().SetErrorResult(&e).Get(origin.URL + "/missing")
		if err != nil {
			t.Fatal(err)
		}
		if e.Message != "no such user" || !resp.IsErrorState() || reqcache.Info(resp).FromCache != wantFromCache {
			t.Errorf("request %d: error result %+v, FromCache %v", i+1, e, reqcache.Info(resp).FromCache)
		}
	}
	if hits.Load() != 2 || after.Load() != 4 {
		t.Errorf("origin requests %d, after-response middleware calls %d; want 2 and 4", hits.Load(), after.Load())
	}
}

// gbkHello is "你好" in GBK.
var gbkHello = []byte{0xc4, 0xe3, 0xba, 0xc3}

// TestCharset checks that req decodes a GBK body to UTF-8 on hits as on
// misses, and that the store keeps the original GBK bytes.
func TestCharset(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Type", "text/plain; charset=gbk")
		w.Write(gbkHello)
	}))
	defer origin.Close()
	plain, err := req.C().R().Get(origin.URL + "/t")
	if err != nil {
		t.Fatal(err)
	}
	cache := newCache(t)
	client := newClient(t, cache)
	for i, wantFromCache := range []bool{false, true} {
		resp, err := client.R().Get(origin.URL + "/t")
		if err != nil {
			t.Fatal(err)
		}
		if resp.String() != "你好" || resp.String() != plain.String() || reqcache.Info(resp).FromCache != wantFromCache {
			t.Errorf("request %d: %q FromCache %v; want %q (as without the cache) and %v", i+1, resp.String(), reqcache.Info(resp).FromCache, "你好", wantFromCache)
		}
	}
	// A plain net/http client over the same cache sees what was stored.
	hresp, err := nethttpcache.NewClient(cache, nil).Get(origin.URL + "/t")
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(hresp.Body)
	hresp.Body.Close()
	if !core.InfoOf(hresp).FromCache || !bytes.Equal(stored, gbkHello) {
		t.Errorf("stored body % x (FromCache %v), want the original GBK % x", stored, core.InfoOf(hresp).FromCache, gbkHello)
	}
}

// TestDownloadCallback checks that SetOutput and download callbacks see
// the whole body on hits as on misses.
func TestDownloadCallback(t *testing.T) {
	payload := strings.Repeat("0123456789", 1000)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Type", "application/octet-stream")
		fmt.Fprint(w, payload)
	}))
	defer origin.Close()
	run := func(client *req.Client) (string, int64, bool) {
		var out bytes.Buffer
		var last atomic.Int64
		resp, err := client.R().SetOutput(&out).
			SetDownloadCallback(func(info req.DownloadInfo) { last.Store(info.DownloadedSize) }).
			Get(origin.URL + "/file")
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), last.Load(), reqcache.Info(resp).FromCache
	}
	wantOut, wantSize, _ := run(req.C())
	client := newClient(t, newCache(t))
	for i, wantFromCache := range []bool{false, true} {
		out, size, fromCache := run(client)
		if out != wantOut || size != wantSize || size != int64(len(payload)) || fromCache != wantFromCache {
			t.Errorf("request %d: %d bytes written, callback saw %d, FromCache %v; want %d, %d, %v",
				i+1, len(out), size, fromCache, len(payload), wantSize, wantFromCache)
		}
	}
}

// TestDump checks that the response dump includes the body on hits.
func TestDump(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "dumped-body")
	}))
	defer origin.Close()
	client := newClient(t, newCache(t))
	for i, wantFromCache := range []bool{false, true} {
		resp, err := client.R().EnableDump().Get(origin.URL + "/d")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(resp.Dump(), "dumped-body") || reqcache.Info(resp).FromCache != wantFromCache {
			t.Errorf("request %d: dump %q, FromCache %v", i+1, resp.Dump(), reqcache.Info(resp).FromCache)
		}
	}
}

// TestGzip checks that responses are as without the cache, with and
// without an explicit Accept-Encoding, on misses and on hits.
func TestGzip(t *testing.T) {
	const text = "hello, compressed world"
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Encoding")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			fmt.Fprint(w, text)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		fmt.Fprint(zw, text)
		zw.Close()
	}))
	defer origin.Close()
	gunzip := func(b []byte) string {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return "not gzip: " + err.Error()
		}
		out, _ := io.ReadAll(zr)
		return string(out)
	}
	tests := []struct {
		name     string
		hdr      map[string]string
		wantEnc  string
		wantText func([]byte) string
	}{
		{"implicit", nil, "", func(b []byte) string { return string(b) }},
		{"explicit gzip", map[string]string{"Accept-Encoding": "gzip"}, "gzip", gunzip},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plain, err := req.C().R().SetHeaders(tc.hdr).Get(origin.URL + "/g")
			if err != nil {
				t.Fatal(err)
			}
			client := newClient(t, newCache(t))
			for i, wantFromCache := range []bool{false, true} {
				resp, err := client.R().SetHeaders(tc.hdr).Get(origin.URL + "/g")
				if err != nil {
					t.Fatal(err)
				}
				if reqcache.Info(resp).FromCache != wantFromCache {
					t.Errorf("request %d: FromCache = %v, want %v", i+1, !wantFromCache, wantFromCache)
				}
				if got := resp.GetHeader("Content-Encoding"); got != tc.wantEnc || got != plain.GetHeader("Content-Encoding") {
					t.Errorf("request %d: Content-Encoding %q, want %q", i+1, got, tc.wantEnc)
				}
				if got := tc.wantText(resp.Bytes()); got != text || !bytes.Equal(resp.Bytes(), plain.Bytes()) {
					t.Errorf("request %d: body decodes to %q, want %q as without the cache", i+1, got, text)
				}
			}
		})
	}
}

// TestPerRequestOptions checks the SetContext helpers.
func TestPerRequestOptions(t *testing.T) {
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Etag", `"v"`)
		if r.Header.Get("If-None-Match") == `"v"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprintf(w, "v%d", n)
	}))
	defer origin.Close()
	client := newClient(t, newCache(t))
	url := origin.URL + "/o"
	steps := []struct {
		name      string
		r         func() *req.Request
		status    int
		body      string
		fromCache bool
		hits      int64
	}{
		{"only-if-cached miss", func() *req.Request { return reqcache.Options.OnlyIfCached(client.R()) }, 504, "", false, 0},
		{"miss", func() *req.Request { return client.R() }, 200, "v1", false, 1},
		{"hit", func() *req.Request { return client.R() }, 200, "v1", true, 1},
		{"only-if-cached hit", func() *req.Request { return reqcache.Options.OnlyIfCached(client.R()) }, 200, "v1", true, 1},
		{"refresh", func() *req.Request { return reqcache.Options.Refresh(client.R()) }, 200, "v1", true, 2},
		{"force refresh", func() *req.Request { return reqcache.Options.ForceRefresh(client.R()) }, 200, "v3", false, 3},
		{"disabled", func() *req.Request { return reqcache.Options.Disable(client.R()) }, 200, "v4", false, 4},
		{"expire after 0", func() *req.Request { return reqcache.Options.ExpireAfter(client.R(), 0) }, 200, "v3", true, 5},
		{"with SetContext first", func() *req.Request {
			return reqcache.Options.ForceRefresh(client.R().SetContext(t.Context()))
		}, 200, "v6", false, 6},
	}
	for _, st := range steps {
		resp, err := st.r().Get(url)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		in := reqcache.Info(resp)
		body := resp.String()
		if st.status == 504 {
			body = ""
		}
		if resp.StatusCode != st.status || body != st.body || in.FromCache != st.fromCache || hits.Load() != st.hits {
			t.Errorf("%s: %d %q FromCache=%v origin=%d; want %d %q %v %d",
				st.name, resp.StatusCode, body, in.FromCache, hits.Load(), st.status, st.body, st.fromCache, st.hits)
		}
	}
}

// TestRetryInterplay counts origin requests for a stale entry with
// stale-if-error when the origin fails, with and without req's retries:
// the cache is below the retry loop, so the stale response answers the
// first attempt.
func TestRetryInterplay(t *testing.T) {
	for _, retries := range []int{0, 3} {
		for _, failure := range []string{"500", "reset"} {
			t.Run(fmt.Sprintf("retries=%d/%s", retries, failure), func(t *testing.T) {
				var failing atomic.Bool
				var hits atomic.Int64
				clk := conformance.NewClock()
				origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if !failing.Load() {
						w.Header().Set("Connection", "close") // a fresh connection for the failure
						w.Header().Set("Date", clk.Now().UTC().Format(http.TimeFormat))
						w.Header().Set("Cache-Control", "max-age=1, stale-if-error=600")
						fmt.Fprint(w, "v1")
						return
					}
					hits.Add(1)
					if failure == "reset" {
						panic(http.ErrAbortHandler)
					}
					http.Error(w, "down", http.StatusInternalServerError)
				}))
				defer origin.Close()
				client := newClient(t, newCache(t, core.WithClock(clk.Now)))
				var retried atomic.Int64
				if retries > 0 {
					client.SetCommonRetryCount(retries).
						SetCommonRetryFixedInterval(0).
						SetCommonRetryCondition(reqcache.RetryCondition(func(resp *req.Response, err error) bool {
							return err != nil || resp.StatusCode >= 500
						})).
						SetCommonRetryHook(func(*req.Response, error) { retried.Add(1) })
				}
				if resp, err := client.R().Get(origin.URL + "/x"); err != nil || resp.String() != "v1" {
					t.Fatalf("priming: %v %v", resp, err)
				}
				clk.Advance(2 * time.Second)
				failing.Store(true)
				resp, err := client.R().Get(origin.URL + "/x")
				if err != nil {
					t.Fatal(err)
				}
				in := reqcache.Info(resp)
				if resp.StatusCode != 200 || resp.String() != "v1" || !in.Stale {
					t.Errorf("got %d %q %+v, want the stale 200", resp.StatusCode, resp.String(), in)
				}
				if hits.Load() != 1 || retried.Load() != 0 {
					t.Errorf("origin requests %d, retries %d; want 1 and 0", hits.Load(), retried.Load())
				}
			})
		}
	}
}

// TestRetryCondition checks that the cache's only-if-cached 504 is not
// retried by a 5xx retry condition wrapped with RetryCondition, and is
// without it.
func TestRetryCondition(t *testing.T) {
	on5xx := func(resp *req.Response, err error) bool { return err != nil || resp.StatusCode >= 500 }
	tests := []struct {
		name        string
		cond        req.RetryConditionFunc
		wantRetries int64
	}{
		{"wrapped", reqcache.RetryCondition(on5xx), 0},
		{"bare", on5xx, 2},
		{"wrapped nil", reqcache.RetryCondition(nil), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var retried atomic.Int64
			client := newClient(t, newCache(t)).
				SetCommonRetryCount(2).
				SetCommonRetryFixedInterval(0).
				SetCommonRetryCondition(tc.cond).
				SetCommonRetryHook(func(*req.Response, error) { retried.Add(1) })
			resp, err := reqcache.Options.OnlyIfCached(client.R()).Get("http://127.0.0.1:1/never")
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 504 || !reqcache.Info(resp).Synthetic || retried.Load() != tc.wantRetries {
				t.Errorf("got %d %+v after %d retries; want the synthetic 504 after %d", resp.StatusCode, reqcache.Info(resp), retried.Load(), tc.wantRetries)
			}
		})
	}
}

// TestPOSTBodyDigest caches a POST by its body digest, with req's retries
// still sending the whole body.
func TestPOSTBodyDigest(t *testing.T) {
	const payload = `{"b":2,"a":1}`
	var mu sync.Mutex
	var got []string
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(b))
		n := len(got)
		mu.Unlock()
		if n <= 2 {
			http.Error(w, "flaky", http.StatusBadGateway)
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"echo":%s}`, b)
	}))
	defer origin.Close()
	client := newClient(t, newCache(t, core.WithAllowableMethods(http.MethodGet, http.MethodHead, http.MethodPost))).
		SetCommonRetryCount(3).
		SetCommonRetryFixedInterval(0).
		SetCommonRetryCondition(reqcache.RetryCondition(func(resp *req.Response, err error) bool {
			return err != nil || resp.StatusCode >= 500
		}))
	post := func(body string) *req.Response {
		t.Helper()
		resp, err := client.R().SetBodyJsonString(body).Post(origin.URL + "/search")
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := post(payload); resp.StatusCode != 200 || reqcache.Info(resp).FromCache {
		t.Fatalf("first POST: %d %q", resp.StatusCode, resp.String())
	}
	mu.Lock()
	if len(got) != 3 {
		t.Errorf("origin requests = %d, want 3", len(got))
	}
	for i, b := range got {
		if b != payload {
			t.Errorf("attempt %d sent %q, want %q", i+1, b, payload)
		}
	}
	mu.Unlock()
	if resp := post(`{"a":1,"b":2}`); !reqcache.Info(resp).FromCache || resp.String() != `{"echo":`+payload+`}` {
		t.Errorf("same JSON: FromCache %v %q, want a hit", reqcache.Info(resp).FromCache, resp.String())
	}
	if resp := post(`{"a":3}`); reqcache.Info(resp).FromCache {
		t.Error("other body answered from the cache")
	}
}

// TestContextCancel cancels a request while its body arrives: req reports
// the cancellation, nothing is stored, and req does not retry.
func TestContextCancel(t *testing.T) {
	var hits atomic.Int64
	arrived := make(chan struct{}, 4)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=60")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, "partial")
		w.(http.Flusher).Flush()
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer origin.Close()
	client := newClient(t, newCache(t)).SetCommonRetryCount(3).SetCommonRetryFixedInterval(0)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	_, err := client.R().SetContext(ctx).Get(origin.URL + "/c")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled in flight: %v, want context.Canceled", err)
	}
	if hits.Load() != 1 {
		t.Errorf("origin requests %d, want 1", hits.Load())
	}
	resp, err := reqcache.Options.OnlyIfCached(client.R()).Get(origin.URL + "/c")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 504 {
		t.Errorf("after the cancel: %d, want 504 (nothing stored)", resp.StatusCode)
	}

	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	if _, err := client.R().SetContext(ctx).Get(origin.URL + "/other"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before sending: %v, want context.Canceled", err)
	}
}

func TestInfoNil(t *testing.T) {
	if reqcache.Info(nil) != (core.Info{}) || reqcache.Info(&req.Response{}) != (core.Info{}) {
		t.Error("Info of a nil or empty response is not the zero Info")
	}
}
