package core_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hoardhttp/hoard/core"
)

const csBodyTooLarge = "hoard; fwd=bypass; detail=body-too-large"

// genReader produces n deterministic bytes on the fly, hashing what it
// produced, and holds none of them.
type genReader struct {
	n, off int64
	sum    hash.Hash
}

func newGenReader(n int64) *genReader { return &genReader{n: n, sum: sha256.New()} }

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.n {
		return 0, io.EOF
	}
	if rem := g.n - g.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	for i := range p {
		x := g.off + int64(i)
		p[i] = byte(x ^ x>>8 ^ x>>16)
	}
	g.off += int64(len(p))
	g.sum.Write(p)
	return len(p), nil
}

// TestKeyedBodyBoundStreams checks that a request body longer than
// WithMaxKeyedBodySize (here the 1 MiB default) is never held in memory: a
// 64 MiB body produced on the fly reaches the origin whole while the heap
// allocated for the whole exchange stays far below the body's size, and the
// response says why it bypassed the cache.
func TestKeyedBodyBoundStreams(t *testing.T) {
	const size = 64 << 20
	type got struct {
		n   int64
		sum []byte
	}
	var last atomic.Pointer[got]
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		last.Store(&got{n, h.Sum(nil)})
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "ok")
	}))
	defer origin.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()

	for _, tc := range []struct {
		name     string
		declared bool
	}{{"UnknownLength", false}, {"DeclaredLength", true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := rvNew(t, nil, core.WithAllowableMethods("GET", "POST"))
			gen := newGenReader(size)
			req, err := http.NewRequest(http.MethodPost, origin.URL+"/upload", gen)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/octet-stream")
			if tc.declared {
				req.ContentLength = size
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			resp, err := c.Do(req, tr.RoundTrip)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("heap allocated during the exchange: %.1f MiB", float64(alloc)/(1<<20))
			if alloc > 16<<20 {
				t.Errorf("heap allocated during a %d MiB upload: %d MiB, want under 16 MiB (the body must stream)", size>>20, alloc>>20)
			}
			g := last.Load()
			if g == nil || g.n != size || !bytes.Equal(g.sum, gen.sum.Sum(nil)) {
				t.Fatalf("the origin did not receive the whole body: %+v, want %d bytes with the sent digest", g, size)
			}
			if cs := resp.Header.Get("Cache-Status"); cs != csBodyTooLarge {
				t.Errorf("Cache-Status %q, want %q", cs, csBodyTooLarge)
			}
			if info := core.InfoOf(resp); info.FromCache || info.Stored {
				t.Errorf("Info %+v, want neither from the cache nor stored", info)
			}
			if s := c.Stats(); s.Stores != 0 {
				t.Errorf("Stats.Stores = %d, want 0", s.Stores)
			}
		})
	}
}

// bodyOf reads a request body and, when the request has GetBody, a second
// copy through it.
func bodyOf(t *testing.T, r *http.Request) (body, again string, hasGetBody bool) {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("reading the body sent: %v", err)
	}
	r.Body.Close()
	if r.GetBody == nil {
		return string(b), "", false
	}
	rc, err := r.GetBody()
	if err != nil {
		t.Fatalf("GetBody: %v", err)
	}
	defer rc.Close()
	a, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading GetBody's copy: %v", err)
	}
	return string(b), string(a), true
}

// trackedBody is a request body that records whether it was closed.
type trackedBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackedBody) Close() error { b.closed.Store(true); return nil }

// TestKeyedBodyBound checks the bypass of a body longer than
// WithMaxKeyedBodySize: every byte reaches the origin in order (the bytes
// read replayed first), the caller's GetBody is kept for retries, the body
// at the bound is still keyed and cached, and unsafe methods still
// invalidate.
func TestKeyedBodyBound(t *testing.T) {
	const bound = 16
	ctx := context.Background()
	over := strings.Repeat("abcdefgh", 4) // 32 bytes
	newCache := func(t *testing.T) *core.Cache {
		return rvNew(t, nil, core.WithAllowableMethods("GET", "POST"), core.WithMaxKeyedBodySize(bound))
	}
	type sent struct {
		body, again string
		getBody     bool
	}
	recorder := func(t *testing.T, out *[]sent) func(*http.Request) (*http.Response, error) {
		return func(r *http.Request) (*http.Response, error) {
			var s sent
			if r.Body != nil {
				s.body, s.again, s.getBody = bodyOf(t, r)
			}
			*out = append(*out, s)
			if r.Method == http.MethodPost {
				return rvResp(r, http.StatusOK, http.Header{"Cache-Control": {"max-age=60"}}, "posted "+itoa(len(*out))), nil
			}
			return rvResp(r, http.StatusOK, http.Header{"Cache-Control": {"max-age=60"}}, "got "+itoa(len(*out))), nil
		}
	}
	cases := []struct {
		name    string
		make    func() *http.Request
		getBody bool
	}{
		{"DeclaredLengthWithGetBody", func() *http.Request {
			r, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://example.test/p", strings.NewReader(over))
			return r
		}, true},
		{"UnknownLengthWithGetBody", func() *http.Request {
			r, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://example.test/p", strings.NewReader(over))
			r.ContentLength = -1
			return r
		}, true},
		{"UnknownLengthWithoutGetBody", func() *http.Request {
			r, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://example.test/p", io.MultiReader(strings.NewReader(over)))
			return r
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t)
			var got []sent
			send := recorder(t, &got)
			for i := 0; i < 2; i++ {
				resp, _ := rvDo(t, c, tc.make(), send)
				if cs := resp.Header.Get("Cache-Status"); cs != csBodyTooLarge {
					t.Errorf("request %d: Cache-Status %q, want %q", i+1, cs, csBodyTooLarge)
				}
			}
			if len(got) != 2 {
				t.Fatalf("origin calls = %d, want 2 (never served from the cache)", len(got))
			}
			for i, s := range got {
				if s.body != over {
					t.Errorf("request %d: the origin received %q, want %q", i+1, s.body, over)
				}
				if s.getBody != tc.getBody || (tc.getBody && s.again != over) {
					t.Errorf("request %d: GetBody present %v giving %q; want present %v giving the whole body", i+1, s.getBody, s.again, tc.getBody)
				}
			}
		})
	}
	t.Run("CallerBodyClosed", func(t *testing.T) {
		c := newCache(t)
		var got []sent
		body := &trackedBody{Reader: strings.NewReader(over)}
		r, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://example.test/p", body)
		rvDo(t, c, r, recorder(t, &got))
		if !body.closed.Load() {
			t.Errorf("the caller's body was not closed")
		}
	})
	t.Run("AtTheBoundKeyedAndCached", func(t *testing.T) {
		c := newCache(t)
		var got []sent
		send := recorder(t, &got)
		exact := over[:bound]
		for i, want := range []bool{false, true} {
			r, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://example.test/p", io.MultiReader(strings.NewReader(exact)))
			resp, _ := rvDo(t, c, r, send)
			if core.InfoOf(resp).FromCache != want {
				t.Errorf("request %d with a body of exactly the bound: FromCache %v (Cache-Status %q), want %v", i+1, !want, resp.Header.Get("Cache-Status"), want)
			}
		}
		if len(got) != 1 || got[0].body != exact {
			t.Errorf("origin received %+v, want one request with %q", got, exact)
		}
		r, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://example.test/p", strings.NewReader(over[:bound-1]+"x"))
		resp, _ := rvDo(t, c, r, send)
		if core.InfoOf(resp).FromCache {
			t.Errorf("another body of the same length was served the stored response")
		}
	})
	t.Run("DefaultBoundKeysSmallBodies", func(t *testing.T) {
		c := rvNew(t, nil, core.WithAllowableMethods("GET", "POST"))
		var got []sent
		send := recorder(t, &got)
		small := strings.Repeat("s", 64<<10)
		for i, want := range []bool{false, true} {
			r, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://example.test/p", strings.NewReader(small))
			resp, _ := rvDo(t, c, r, send)
			if core.InfoOf(resp).FromCache != want {
				t.Errorf("request %d with a 64 KiB body: FromCache %v, want %v", i+1, !want, want)
			}
		}
	})
	t.Run("Invalidates", func(t *testing.T) {
		c := newCache(t)
		var got []sent
		send := recorder(t, &got)
		rvDo(t, c, rvGet(t, ctx, "GET", "http://example.test/p", nil), send)
		r, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://example.test/p", strings.NewReader(over))
		rvDo(t, c, r, send)
		resp, _ := rvDo(t, c, rvGet(t, ctx, "GET", "http://example.test/p", nil), send)
		if core.InfoOf(resp).FromCache {
			t.Errorf("GET after a POST with a body over the bound: served from the cache, want invalidated (RFC 9111 §4.4)")
		}
	})
	t.Run("LookupHook", func(t *testing.T) {
		c := newCache(t)
		r, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://example.test/p", io.MultiReader(strings.NewReader(over)))
		lr, err := c.Lookup(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if lr.State != core.Bypass || lr.Request == nil {
			t.Fatalf("Lookup: state %v, request %v; want Bypass with a request to send", lr.State, lr.Request)
		}
		if b, _, _ := bodyOf(t, lr.Request); b != over {
			t.Errorf("LookupResult.Request body %q, want %q", b, over)
		}
	})
	t.Run("StoreHook", func(t *testing.T) {
		c := newCache(t)
		r, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://example.test/p", strings.NewReader(over))
		lr, err := c.Lookup(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		resp := rvResp(lr.Request, http.StatusOK, http.Header{"Cache-Control": {"max-age=60"}}, "answer")
		out, err := c.Store(ctx, &lr, resp, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, out.Body)
		out.Body.Close()
		if cs := out.Header.Get("Cache-Status"); cs != csBodyTooLarge {
			t.Errorf("Store: Cache-Status %q, want %q", cs, csBodyTooLarge)
		}
		if s := c.Stats(); s.Stores != 0 {
			t.Errorf("Store of a response to a body over the bound: Stats.Stores = %d, want 0", s.Stores)
		}
	})
}
