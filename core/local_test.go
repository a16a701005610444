package core_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// localStore is a memstore that answers GetLocal from itself while local is
// set, and counts the reads of each kind; Get records whether it ran under
// a deadline (the store timeout).
type localStore struct {
	*memstore.Store
	local              atomic.Bool
	gets, localGets    atomic.Int64
	getsWithoutTimeout atomic.Int64
}

func (s *localStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.gets.Add(1)
	if _, ok := ctx.Deadline(); !ok {
		s.getsWithoutTimeout.Add(1)
	}
	return s.Store.Get(ctx, key)
}

func (s *localStore) GetLocal(key string) ([]byte, bool) {
	s.localGets.Add(1)
	if !s.local.Load() {
		return nil, false
	}
	v, err := s.Store.Get(context.Background(), key)
	return v, err == nil
}

// TestLocalGetter: a store's GetLocal answers a hit without a Get (and
// without the store timeout's context); when it reports false the Cache
// calls Get under the store timeout; observers see the local read as a get.
func TestLocalGetter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		local      bool
		wantGets   int64 // Gets for the second (hit) request
		wantOrigin int
	}{
		{name: "local hit", local: true, wantGets: 0, wantOrigin: 1},
		{name: "not local", local: false, wantGets: 1, wantOrigin: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := memstore.New(nil)
			if err != nil {
				t.Fatal(err)
			}
			st := &localStore{Store: m}
			var ops []core.StoreOp
			c := rvNew(t, st, core.WithStoreTimeout(time.Minute),
				core.WithObserver(core.ObserverFunc(func(_ context.Context, ev *core.Event) {
					ops = append(ops[:0], ev.StoreOps...)
				})))
			origin := 0
			send := func(req *http.Request) (*http.Response, error) {
				origin++
				return rvResp(req, 200, http.Header{"Cache-Control": {"max-age=60"}}, "body"), nil
			}
			get := func() *http.Request { return rvGet(t, context.Background(), "GET", "http://example.test/a", nil) }
			rvDo(t, c, get(), send) // a miss, then stored
			st.local.Store(tc.local)
			before := st.gets.Load()
			if _, body := rvDo(t, c, get(), send); body != "body" {
				t.Fatalf("hit body = %q", body)
			}
			if origin != tc.wantOrigin {
				t.Errorf("origin requests = %d, want %d", origin, tc.wantOrigin)
			}
			if got := st.gets.Load() - before; got != tc.wantGets {
				t.Errorf("Gets for the hit = %d, want %d", got, tc.wantGets)
			}
			if n := st.getsWithoutTimeout.Load(); n != 0 {
				t.Errorf("%d Gets ran without the store timeout", n)
			}
			if st.localGets.Load() < 2 {
				t.Errorf("GetLocal called %d times for two requests, want one per entry read at least", st.localGets.Load())
			}
			if len(ops) == 0 || ops[0].Op != core.OpGet || ops[0].Err != nil {
				t.Errorf("the hit's store ops = %+v, want a get first", ops)
			}
		})
	}
}

// TestLocalGetterAfterClose: once the Cache is closed its store is not
// read, locally or not.
func TestLocalGetterAfterClose(t *testing.T) {
	m, err := memstore.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	st := &localStore{Store: m}
	st.local.Store(true)
	c, err := core.New(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	req := rvGet(t, context.Background(), "GET", "http://example.test/a", nil)
	ok, err := c.Contains(context.Background(), req)
	if ok || !errors.Is(err, core.ErrClosed) {
		t.Errorf("Contains after Close = %v, %v; want core.ErrClosed", ok, err)
	}
	if n := st.localGets.Load(); n != 0 {
		t.Errorf("GetLocal called %d times after Close", n)
	}
}
