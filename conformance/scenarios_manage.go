package conformance

// Management: Delete, DeleteURL, DeleteExpired, DeleteOlderThan, Clear,
// Contains, ResetExpiration, Entries; and ErrNotSupported over a store that
// cannot list or clear.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Manage/Delete", testManageDelete},
		{"Manage/DeleteURL", testManageDeleteURL},
		{"Manage/DeleteExpired", testManageDeleteExpired},
		{"Manage/DeleteOlderThan", testManageDeleteOlderThan},
		{"Manage/Clear", testManageClear},
		{"Manage/Contains", testManageContains},
		{"Manage/ResetExpiration", testManageResetExpiration},
		{"Manage/Entries", testManageEntries},
		{"Manage/NotSupported", testManageNotSupported},
		{"Manage/StoreErrors", testManageStoreErrors},
	})
}

// h4Contains reports e.cache.Contains for a GET of u (with headers).
func h4Contains(t *testing.T, e *env, u string, hdr ...string) bool {
	t.Helper()
	ok, err := e.cache.Contains(h4Ctx(t), e.req(h4Ctx(t), http.MethodGet, u, "", hdr...))
	if err != nil {
		t.Fatalf("Contains(%s): %v", u, err)
	}
	return ok
}

func h4WantContains(t *testing.T, e *env, u string, want bool, hdr ...string) {
	t.Helper()
	if got := h4Contains(t, e, u, hdr...); got != want {
		t.Errorf("Contains(%s %v) = %v, want %v", u, hdr, got, want)
	}
}

func testManageDelete(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o, _ := h4FlexOrigin(e)
	a, b := h4Q(o, "/a", "cc", "max-age=60"), h4Q(o, "/b", "cc", "max-age=60")
	v := h4Q(o, "/v", "cc", "max-age=60", "vary", "Accept-Language")
	e.get(a)
	e.get(b)
	e.get(v, "Accept-Language: en")
	e.get(v, "Accept-Language: fr")
	if err := e.cache.Delete(h4Ctx(t), e.req(h4Ctx(t), http.MethodGet, a, "")); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	h4WantContains(t, e, a, false)
	h4WantContains(t, e, b, true)
	e.expect(e.get(a), 200, "v5", false)
	// Deleting through one variant's request removes every variant.
	if err := e.cache.Delete(h4Ctx(t), e.req(h4Ctx(t), http.MethodGet, v, "", "Accept-Language: en")); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	h4WantContains(t, e, v, false, "Accept-Language: en")
	h4WantContains(t, e, v, false, "Accept-Language: fr")
	e.expect(e.get(v, "Accept-Language: fr"), 200, "v6", false)
	// Deleting what is not there is not an error.
	if err := e.cache.Delete(h4Ctx(t), e.req(h4Ctx(t), http.MethodGet, o.URL+"/none", "")); err != nil {
		t.Errorf("Delete of a missing entry: %v, want nil", err)
	}
}

func testManageDeleteURL(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o, _ := h4FlexOrigin(e)
	v := h4Q(o, "/v", "cc", "max-age=60", "vary", "Accept-Language")
	other := h4Q(o, "/w", "cc", "max-age=60")
	e.get(v, "Accept-Language: en")
	e.get(v, "Accept-Language: fr")
	e.must(e.req(h4Ctx(t), http.MethodHead, v, "", "Accept-Language: de"))
	e.get(other)
	if err := e.cache.DeleteURL(h4Ctx(t), v); err != nil {
		t.Fatalf("DeleteURL: %v", err)
	}
	for _, l := range []string{"en", "fr", "de"} {
		h4WantContains(t, e, v, false, "Accept-Language: "+l)
	}
	if ok, err := e.cache.Contains(h4Ctx(t), e.req(h4Ctx(t), http.MethodHead, v, "", "Accept-Language: de")); err != nil || ok {
		t.Errorf("Contains(HEAD) after DeleteURL = %v, %v; want false, nil", ok, err)
	}
	h4WantContains(t, e, other, true)
	before := o.hits()
	e.get(v, "Accept-Language: en")
	e.get(v, "Accept-Language: fr")
	if got := o.hits() - before; got != 2 {
		t.Errorf("origin requests after DeleteURL = %d, want 2 (both variants gone)", got)
	}
}

func testManageDeleteExpired(t *testing.T, s *suite) {
	e := s.newEnv(t)
	h4NeedList(t, e)
	o, _ := h4FlexOrigin(e)
	short, long := h4Q(o, "/short", "cc", "max-age=10"), h4Q(o, "/long", "cc", "max-age=1000")
	never := h4Q(o, "/never", "cc", "immutable")
	e.get(short)
	e.get(long)
	e.get(never)
	n, err := e.cache.DeleteExpired(h4Ctx(t))
	if err != nil || n != 0 {
		t.Errorf("DeleteExpired with nothing expired = %d, %v; want 0, nil", n, err)
	}
	e.clock.Advance(60 * time.Second)
	h4WantContains(t, e, short, true) // stale, still stored
	n, err = e.cache.DeleteExpired(h4Ctx(t))
	if err != nil || n != 1 {
		t.Errorf("DeleteExpired = %d, %v; want 1, nil", n, err)
	}
	h4WantContains(t, e, short, false)
	h4WantContains(t, e, long, true)
	h4WantContains(t, e, never, true)
}

func testManageDeleteOlderThan(t *testing.T, s *suite) {
	e := s.newEnv(t)
	h4NeedList(t, e)
	o, _ := h4FlexOrigin(e)
	old, mid, young := h4Q(o, "/old", "cc", "max-age=100000"), h4Q(o, "/mid", "cc", "max-age=100000"), h4Q(o, "/young", "cc", "max-age=100000")
	e.get(old)
	e.clock.Advance(100 * time.Second)
	e.get(mid)
	e.clock.Advance(100 * time.Second)
	e.get(young)
	e.clock.Advance(10 * time.Second)
	// Created ages: old 210s, mid 110s, young 10s.
	n, err := e.cache.DeleteOlderThan(h4Ctx(t), 150*time.Second)
	if err != nil || n != 1 {
		t.Errorf("DeleteOlderThan(150s) = %d, %v; want 1, nil", n, err)
	}
	h4WantContains(t, e, old, false)
	h4WantContains(t, e, mid, true)
	n, err = e.cache.DeleteOlderThan(h4Ctx(t), 50*time.Second)
	if err != nil || n != 1 {
		t.Errorf("DeleteOlderThan(50s) = %d, %v; want 1, nil", n, err)
	}
	h4WantContains(t, e, mid, false)
	h4WantContains(t, e, young, true)
}

func testManageClear(t *testing.T, s *suite) {
	e := s.newEnv(t)
	if _, ok := e.store.(core.Clearer); !ok {
		t.Skipf("store %T does not implement core.Clearer", e.store)
	}
	o, _ := h4FlexOrigin(e)
	a, b := h4Q(o, "/a", "cc", "max-age=60"), h4Q(o, "/b", "cc", "max-age=60", "vary", "Accept")
	e.get(a)
	e.get(b, "Accept: text/plain")
	if err := e.cache.Clear(h4Ctx(t)); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	h4WantContains(t, e, a, false)
	h4WantContains(t, e, b, false, "Accept: text/plain")
	if ents := h4Entries(t, e); len(ents) != 0 {
		t.Errorf("Entries after Clear yielded %d, want 0", len(ents))
	}
	e.expect(e.get(a), 200, "v3", false)
}

func testManageContains(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o, _ := h4FlexOrigin(e)
	a := h4Q(o, "/a", "cc", "max-age=60")
	h4WantContains(t, e, a, false)
	e.get(a)
	h4WantContains(t, e, a, true)
	h4WantContains(t, e, h4Q(o, "/a", "cc", "max-age=61"), false)
	// Contains uses the key: a reordered query and an ignored parameter match.
	h4WantContains(t, e, o.URL+"/a?api_key=SECRET&cc=max-age%3D60", true)
	e.expectHits(o, 1)
	if st := e.cache.Stats(); st.Hits != 0 || st.Misses != 1 {
		t.Errorf("Stats after Contains: Hits %d Misses %d, want 0 and 1 (Contains is not a request)", st.Hits, st.Misses)
	}
}

func testManageResetExpiration(t *testing.T, s *suite) {
	e := s.newEnv(t)
	h4NeedList(t, e)
	o, _ := h4FlexOrigin(e)
	a, b := h4Q(o, "/a", "cc", "max-age=10"), h4Q(o, "/b", "cc", "max-age=10", "vary", "Accept")
	e.get(a)
	e.get(b, "Accept: x")
	tr := e.clock.Now()
	n, err := e.cache.ResetExpiration(h4Ctx(t), time.Hour)
	if err != nil || n != 2 {
		t.Errorf("ResetExpiration(1h) = %d, %v; want 2, nil", n, err)
	}
	e.clock.Advance(30 * time.Minute)
	r := e.get(a)
	e.expect(r, 200, "v1", true)
	if want := tr.Add(time.Hour); !r.Info.Expires.Equal(want) {
		t.Errorf("Info.Expires after ResetExpiration = %v, want %v", r.Info.Expires, want)
	}
	e.expect(e.get(b, "Accept: x"), 200, "v2", true)
	e.clock.Advance(31 * time.Minute)
	e.expect(e.get(a), 200, "v3", false)

	n, err = e.cache.ResetExpiration(h4Ctx(t), core.NeverExpire)
	if err != nil || n != 2 {
		t.Errorf("ResetExpiration(NeverExpire) = %d, %v; want 2, nil", n, err)
	}
	e.clock.Advance(1000 * time.Hour)
	r = e.get(a)
	e.expect(r, 200, "v3", true)
	if !r.Info.Expires.IsZero() {
		t.Errorf("Info.Expires after ResetExpiration(NeverExpire) = %v, want zero", r.Info.Expires)
	}
}

func testManageEntries(t *testing.T, s *suite) {
	e := s.newEnv(t, core.WithAllowableMethods("GET", "HEAD", "POST"))
	h4NeedList(t, e)
	o, _ := h4FlexOrigin(e)
	e.get(h4Q(o, "/a", "cc", "max-age=60"))
	e.get(h4Q(o, "/b", "cc", "max-age=60", "x", "1"))
	v := h4Q(o, "/v", "cc", "max-age=60", "vary", "Accept-Language")
	e.get(v, "Accept-Language: en")
	e.get(v, "Accept-Language: fr")
	e.must(e.req(h4Ctx(t), http.MethodPost, h4Q(o, "/p", "cc", "max-age=60"), "body"))
	e.get(h4Q(o, "/notstored")) // no lifetime: not an entry
	ents := h4Entries(t, e)
	if len(ents) != 5 {
		t.Errorf("Entries yielded %d, want 5", len(ents))
	}
	seen := map[string]bool{}
	paths := map[string]int{}
	for _, en := range ents {
		if en.Key == "" {
			t.Errorf("entry %s %s has an empty Key", en.Method, en.URL)
		}
		if seen[en.Key] {
			t.Errorf("key %q yielded twice", en.Key)
		}
		seen[en.Key] = true
		if en.Variants != nil {
			t.Errorf("Entries yielded a variant index (key %q), want response entries only", en.Key)
		}
		if en.Status != 200 {
			t.Errorf("entry %q Status = %d, want 200", en.Key, en.Status)
		}
		wantMethod := http.MethodGet
		if strings.Contains(en.URL, "/p") {
			wantMethod = http.MethodPost
		}
		if en.Method != wantMethod {
			t.Errorf("entry %q URL %q Method = %q, want %q", en.Key, en.URL, en.Method, wantMethod)
		}
		for _, p := range []string{"/a", "/b", "/v", "/p"} {
			if strings.Contains(en.URL, h4Host(o)+p) {
				paths[p]++
			}
		}
	}
	for p, want := range map[string]int{"/a": 1, "/b": 1, "/v": 2, "/p": 1} {
		if paths[p] != want {
			t.Errorf("entries for %s = %d, want %d", p, paths[p], want)
		}
	}
	// Breaking out of the loop early is allowed.
	for range e.cache.Entries(h4Ctx(t)) {
		break
	}
}

// h4NoListStore hides every optional interface of the store it wraps.
type h4NoListStore struct{ core.Store }

func testManageNotSupported(t *testing.T, s *suite) {
	var inner core.Store
	e := s.newEnvStore(t, func(st core.Store) core.Store { inner = st; return h4NoListStore{st} })
	t.Cleanup(func() {
		if c, ok := inner.(io.Closer); ok {
			_ = c.Close()
		}
	})
	o, _ := h4FlexOrigin(e)
	u := h4Q(o, "/a", "cc", "max-age=60")
	e.get(u)
	e.expect(e.get(u), 200, "v1", true) // the cache itself works
	ctx := h4Ctx(t)
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, core.ErrNotSupported) {
			t.Errorf("%s over a store without Lister/Clearer: error %v, want one wrapping core.ErrNotSupported", op, err)
		}
	}
	_, err := e.cache.DeleteExpired(ctx)
	check("DeleteExpired", err)
	_, err = e.cache.DeleteOlderThan(ctx, time.Second)
	check("DeleteOlderThan", err)
	_, err = e.cache.ResetExpiration(ctx, time.Hour)
	check("ResetExpiration", err)
	check("Clear", e.cache.Clear(ctx))
	var entErr error
	n := 0
	for _, err := range e.cache.Entries(ctx) {
		if n++; n > 100 {
			break
		}
		if err != nil {
			entErr = err
			break
		}
	}
	check("Entries", entErr)
	// What does not need listing still works.
	if ok, err := e.cache.Contains(ctx, e.req(ctx, http.MethodGet, u, "")); err != nil || !ok {
		t.Errorf("Contains = %v, %v; want true, nil", ok, err)
	}
	if err := e.cache.DeleteURL(ctx, u); err != nil {
		t.Errorf("DeleteURL: %v", err)
	}
	if err := e.cache.Delete(ctx, e.req(ctx, http.MethodGet, u, "")); err != nil {
		t.Errorf("Delete: %v", err)
	}
}

// h4FailingStore passes every call to the store it wraps until broken is
// set; from then on every call, listing and clearing included, fails with
// errH4Broken. It implements core.Lister and core.Clearer whatever the
// wrapped store does (over one that does not, they report
// core.ErrNotSupported while the store works).
type h4FailingStore struct {
	core.Store
	broken *atomic.Bool
}

func (s h4FailingStore) Get(ctx context.Context, key string) ([]byte, error) {
	if s.broken.Load() {
		return nil, errH4Broken
	}
	return s.Store.Get(ctx, key)
}

func (s h4FailingStore) Set(ctx context.Context, key string, value []byte, meta core.Meta) error {
	if s.broken.Load() {
		return errH4Broken
	}
	return s.Store.Set(ctx, key, value, meta)
}

func (s h4FailingStore) Delete(ctx context.Context, key string) error {
	if s.broken.Load() {
		return errH4Broken
	}
	return s.Store.Delete(ctx, key)
}

func (s h4FailingStore) List(ctx context.Context) iter.Seq2[core.Listed, error] {
	return func(yield func(core.Listed, error) bool) {
		l, ok := s.Store.(core.Lister)
		switch {
		case s.broken.Load():
			yield(core.Listed{}, errH4Broken)
		case !ok:
			yield(core.Listed{}, core.ErrNotSupported)
		default:
			for it, err := range l.List(ctx) {
				if !yield(it, err) {
					return
				}
			}
		}
	}
}

func (s h4FailingStore) Clear(ctx context.Context) error {
	if s.broken.Load() {
		return errH4Broken
	}
	if c, ok := s.Store.(core.Clearer); ok {
		return c.Clear(ctx)
	}
	return core.ErrNotSupported
}

func (s h4FailingStore) Unwrap() core.Store { return s.Store }

// testManageStoreErrors: while the store fails, every management call
// reports the store's error; none of them answers as if the store were
// empty (a Contains of false, a Delete that did nothing). With the circuit
// breaker off each call reaches the store; with it on, once it has opened,
// each fails at once with an error wrapping core.ErrUnavailable.
func testManageStoreErrors(t *testing.T, s *suite) {
	for _, breaker := range []bool{false, true} {
		t.Run(fmt.Sprintf("breaker=%v", breaker), func(t *testing.T) { h4ManageStoreErrors(t, s, breaker) })
	}
}

func h4ManageStoreErrors(t *testing.T, s *suite, breaker bool) {
	broken := new(atomic.Bool)
	bs := core.BreakerSettings{Disabled: !breaker, Failures: 1, Backoff: time.Hour}
	e := s.newEnvStore(t, func(st core.Store) core.Store { return h4FailingStore{Store: st, broken: broken} },
		core.WithBreaker(bs))
	o, _ := h4FlexOrigin(e)
	u := h4Q(o, "/a", "cc", "max-age=60", "vary", "Accept")
	e.get(u, "Accept: x")
	ctx := h4Ctx(t)
	if ok, err := e.cache.Contains(ctx, e.req(ctx, http.MethodGet, u, "", "Accept: x")); err != nil || !ok {
		t.Fatalf("Contains before the store fails = %v, %v; want true, nil", ok, err)
	}
	broken.Store(true)
	first := true
	check := func(op string, err error) {
		t.Helper()
		want, what := errH4Broken, "the store's error"
		if breaker && !first {
			want, what = core.ErrUnavailable, "core.ErrUnavailable (the breaker is open)"
		}
		first = false
		if !errors.Is(err, want) {
			t.Errorf("%s while the store fails: error %v, want one wrapping %s", op, err, what)
		}
	}
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		ok, err := e.cache.Contains(ctx, e.req(ctx, m, u, "", "Accept: x"))
		if ok {
			t.Errorf("Contains(%s) while the store fails = true", m)
		}
		check("Contains("+m+")", err)
	}
	check("Delete", e.cache.Delete(ctx, e.req(ctx, http.MethodGet, u, "", "Accept: x")))
	check("DeleteURL", e.cache.DeleteURL(ctx, u))
	check("Clear", e.cache.Clear(ctx))
	_, err := e.cache.DeleteExpired(ctx)
	check("DeleteExpired", err)
	_, err = e.cache.DeleteOlderThan(ctx, time.Second)
	check("DeleteOlderThan", err)
	_, err = e.cache.ResetExpiration(ctx, time.Hour)
	check("ResetExpiration", err)
	var entErr error
	for _, err := range e.cache.Entries(ctx) {
		entErr = err
		break
	}
	check("Entries", entErr)
	if st := e.cache.Stats().Breaker; breaker != (st.State == core.BreakerOpen && st.Opens == 1) {
		t.Errorf("Stats().Breaker = %+v with the breaker on=%v", st, breaker)
	}
	// Requests still fail open.
	e.expect(e.get(u, "Accept: x"), 200, "v2", false)
}
