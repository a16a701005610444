package core_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// ctxStore is a memstore that records, for every Set, whether the ctx it was
// given carries ctxMark.
type ctxStore struct {
	*memstore.Store
	mu     sync.Mutex
	marked int
	sets   int
}

type ctxMarkKey struct{}

func (s *ctxStore) Set(ctx context.Context, key string, v []byte, m core.Meta) error {
	s.mu.Lock()
	s.sets++
	if ctx.Value(ctxMarkKey{}) != nil {
		s.marked++
	}
	s.mu.Unlock()
	return s.Store.Set(ctx, key, v, m)
}

func (s *ctxStore) counts() (sets, marked int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sets, s.marked
}

// Every store write uses the ctx passed down to the hook, not the request's
// own context: freshening after a 304 (RFC 9111 §4.3.4) through the
// Revalidate hook writes with the hook's ctx, so it carries the hook's
// values and succeeds even when the request's context is already cancelled
// (a caller that gave up while its revalidation was answered).
func TestRevalidateWritesWithTheGivenContext(t *testing.T) {
	for _, vary := range []bool{false, true} {
		name := "plain"
		if vary {
			name = "variant" // the variant and its index are rewritten
		}
		t.Run(name, func(t *testing.T) {
			m, err := memstore.New(nil)
			if err != nil {
				t.Fatal(err)
			}
			st := &ctxStore{Store: m}
			clk := newRVClock()
			c := rvNew(t, st, core.WithClock(clk.Now))
			h := http.Header{"Cache-Control": {"max-age=10"}, "Etag": {`"e1"`}}
			if vary {
				h.Set("Vary", "Accept")
			}
			send := func(req *http.Request) (*http.Response, error) {
				if req.Header.Get("If-None-Match") == `"e1"` {
					return rvResp(req, http.StatusNotModified, http.Header{"Cache-Control": {"max-age=10"}, "Etag": {`"e1"`}}, ""), nil
				}
				return rvResp(req, 200, h.Clone(), "v1"), nil
			}
			get := func(ctx context.Context) *http.Request {
				return rvGet(t, ctx, "GET", "http://example.test/a", http.Header{"Accept": {"text/plain"}})
			}
			rvDo(t, c, get(context.Background()), send)
			clk.Advance(20 * time.Second)

			reqCtx, cancel := context.WithCancel(context.Background())
			req := get(reqCtx)
			hookCtx := context.WithValue(context.Background(), ctxMarkKey{}, true)
			lr, err := c.Lookup(hookCtx, req)
			if err != nil || lr.State != core.Revalidate {
				t.Fatalf("Lookup: %v, %v; want Revalidate", lr, err)
			}
			resp, err := send(lr.Request)
			cancel() // the request's context ends; the hook's does not
			sets0, marked0 := st.counts()
			out, err := c.Revalidate(hookCtx, &lr, resp, err)
			if err != nil {
				t.Fatalf("Revalidate: %v", err)
			}
			out.Body.Close()
			sets, marked := st.counts()
			if sets == sets0 || marked-marked0 != sets-sets0 {
				t.Errorf("Revalidate made %d store writes, %d of them with the hook's ctx; want at least one, all with it", sets-sets0, marked-marked0)
			}
			lr, err = c.Lookup(context.Background(), get(context.Background()))
			if err != nil || lr.State != core.Hit {
				t.Errorf("after the 304: Lookup state %v, %v; want a fresh hit (the entry was freshened)", lr.State, err)
			}
			if lr.Response != nil {
				lr.Response.Body.Close()
			}
		})
	}
}
