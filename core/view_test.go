package core_test

import (
	"context"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hoardhttp/hoard/codecs"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// lendingStore is a core.ViewGetter over a memstore that lends every value
// in one buffer of its own and overwrites the buffer as soon as the loan
// ends, as a database reusing its row buffer would: anything the Cache kept
// of a loan would then read garbage.
type lendingStore struct {
	*memstore.Store
	mu      sync.Mutex
	buf     []byte
	views   atomic.Int64
	garble  atomic.Bool // lend a value with its bytes flipped (a codec must reject it)
	noValue atomic.Bool // break the contract: succeed without calling fn
}

func newLendingStore(t *testing.T) *lendingStore {
	t.Helper()
	m, err := memstore.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &lendingStore{Store: m}
}

func (s *lendingStore) GetView(ctx context.Context, key string, fn func([]byte) error) error {
	v, err := s.Store.Get(ctx, key)
	if err != nil {
		return err
	}
	s.views.Add(1)
	if s.noValue.Load() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf[:0], v...)
	if s.garble.Load() {
		for i := range s.buf {
			s.buf[i] ^= 0xff
		}
	}
	err = fn(s.buf)
	for i := range s.buf {
		s.buf[i] = '#'
	}
	return err
}

func (s *lendingStore) ViewStore() core.Store { return s }

var _ core.ViewGetter = (*lendingStore)(nil)

// TestViewHits: hits read through GetView (a variant index, then the
// variant) serve the stored response intact after the store reused the
// buffer it lent, with the codec's body aliasing the loan (BinaryCodec) or
// not (a compressing codec decodes into a buffer of its own).
func TestViewHits(t *testing.T) {
	gzip, err := codecs.NewGzip(core.BinaryCodec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		codec core.Codec
	}{
		{"binary", core.BinaryCodec{}},
		{"gzip", gzip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newLendingStore(t)
			c := rvNew(t, st, core.WithCodec(tc.codec))
			var sent atomic.Int64
			get := func(accept string) *http.Request {
				return rvGet(t, context.Background(), http.MethodGet, "http://example.test/view", http.Header{"Accept": {accept}})
			}
			first := map[string]snapshot{} // each variant's first hit
			for _, a := range []string{"a", "b"} {
				rvDo(t, c, get(a), slotOrigin("v1", &sent))
				first[a] = takeSnapshot(t, mustDo(t, c, get(a), slotOrigin("v1", &sent)))
				if first[a].body != "v1:"+a || first[a].trailer.Get("X-Checksum") != "abc" {
					t.Fatalf("Accept %s: first hit %+v", a, first[a])
				}
			}
			for range 3 {
				for _, a := range []string{"a", "b"} {
					resp := mustDo(t, c, get(a), slotOrigin("v1", &sent))
					if !core.InfoOf(resp).FromCache {
						t.Fatalf("Accept %s: not a hit", a)
					}
					if got := takeSnapshot(t, resp); !reflect.DeepEqual(got, first[a]) {
						t.Fatalf("Accept %s: hit %+v, want %+v", a, got, first[a])
					}
					mutate(resp)
				}
			}
			if sent.Load() != 2 {
				t.Errorf("origin requests = %d, want 2", sent.Load())
			}
			if st.views.Load() < 16 { // each of 8 hits reads the index and the variant
				t.Errorf("GetView calls = %d, want at least 16", st.views.Load())
			}
		})
	}
}

// TestViewConcurrentHits: concurrent hits through one lending store under
// -race, each serving the stored body while the store overwrites its
// buffer between loans.
func TestViewConcurrentHits(t *testing.T) {
	st := newLendingStore(t)
	c := rvNew(t, st)
	var sent atomic.Int64
	body := strings.Repeat("0123456789", 1000)
	send := func(req *http.Request) (*http.Response, error) {
		sent.Add(1)
		return rvResp(req, http.StatusOK, http.Header{"Cache-Control": {"max-age=3600"}}, body), nil
	}
	get := func() *http.Request {
		return rvGet(t, context.Background(), http.MethodGet, "http://example.test/big", nil)
	}
	rvDo(t, c, get(), send)
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				resp, err := c.Do(get(), send)
				if err != nil {
					errs <- err.Error()
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != body {
					errs <- "a hit served a body that is not the stored one"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if sent.Load() != 1 {
		t.Errorf("origin requests = %d, want 1", sent.Load())
	}
}

// TestViewFailures: a lent value the codec rejects is a corrupt entry
// (deleted, counted, a miss); a GetView that succeeds without lending a
// value fails open as a store error; a store embedding a ViewGetter and
// overriding Get is read through its Get.
func TestViewFailures(t *testing.T) {
	ok := func(sent *atomic.Int64) func(*http.Request) (*http.Response, error) {
		return func(req *http.Request) (*http.Response, error) {
			sent.Add(1)
			return rvResp(req, http.StatusOK, http.Header{"Cache-Control": {"max-age=3600"}}, "fresh"), nil
		}
	}
	get := func(t *testing.T) *http.Request {
		return rvGet(t, context.Background(), http.MethodGet, "http://example.test/f", nil)
	}
	for _, tc := range []struct {
		name                      string
		fault                     func(*lendingStore) *atomic.Bool // the flag that breaks the store
		wantCorrupt, wantStoreErr int64
	}{
		// A lent value the codec rejects: a corrupt entry.
		{"corrupt", func(s *lendingStore) *atomic.Bool { return &s.garble }, 1, 0},
		// A GetView that succeeds without lending: a store error.
		{"no value", func(s *lendingStore) *atomic.Bool { return &s.noValue }, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newLendingStore(t)
			c := rvNew(t, st)
			var sent atomic.Int64
			rvDo(t, c, get(t), ok(&sent))
			tc.fault(st).Store(true)
			resp, body := rvDo(t, c, get(t), ok(&sent))
			if core.InfoOf(resp).FromCache || body != "fresh" || sent.Load() != 2 {
				t.Errorf("from cache %v, body %q, origin requests %d; want a miss", core.InfoOf(resp).FromCache, body, sent.Load())
			}
			if s := c.Stats(); s.CorruptErrors != tc.wantCorrupt || s.StoreErrors != tc.wantStoreErr {
				t.Errorf("CorruptErrors %d, StoreErrors %d; want %d, %d", s.CorruptErrors, s.StoreErrors, tc.wantCorrupt, tc.wantStoreErr)
			}
		})
	}
	t.Run("embedded", func(t *testing.T) {
		st := &getOverridingStore{lendingStore: newLendingStore(t)}
		c := rvNew(t, st)
		var sent atomic.Int64
		rvDo(t, c, get(t), ok(&sent))
		resp, _ := rvDo(t, c, get(t), ok(&sent))
		if !core.InfoOf(resp).FromCache {
			t.Fatal("not a hit")
		}
		if st.gets.Load() == 0 || st.views.Load() != 0 {
			t.Errorf("Get calls %d, GetView calls %d; want the embedding store's Get only", st.gets.Load(), st.views.Load())
		}
	})
}

// getOverridingStore embeds a lendingStore and overrides Get: the promoted
// GetView must not bypass it.
type getOverridingStore struct {
	*lendingStore
	gets atomic.Int64
}

func (s *getOverridingStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.gets.Add(1)
	return s.lendingStore.Get(ctx, key)
}

func mustDo(t *testing.T, c *core.Cache, req *http.Request, send func(*http.Request) (*http.Response, error)) *http.Response {
	t.Helper()
	resp, err := c.Do(req, send)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	return resp
}
