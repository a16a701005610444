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
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// countingCodec is BinaryCodec counting its decodes.
type countingCodec struct {
	core.BinaryCodec
	decodes *atomic.Int64
}

func (c countingCodec) Decode(data []byte, e *core.Entry) error {
	c.decodes.Add(1)
	return c.BinaryCodec.Decode(data, e)
}

// slotOrigin answers with a response that varies on Accept (so hits read a
// variant index and a variant, with its VaryHeader) and has a trailer, its
// body naming the version and the Accept value.
func slotOrigin(version string, sent *atomic.Int64) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		sent.Add(1)
		body := version + ":" + req.Header.Get("Accept")
		resp := rvResp(req, http.StatusOK, http.Header{
			"Cache-Control": {"max-age=3600"},
			"Vary":          {"Accept"},
			"Etag":          {`"` + version + `"`},
			"X-Multi":       {"one", "two"},
		}, body)
		resp.Trailer = http.Header{"X-Checksum": {"abc"}}
		return resp, nil
	}
}

// snapshot is what a test compares between hits: the fields the stored
// response gives, without the per-hit Age.
type snapshot struct {
	header, trailer http.Header
	body            string
}

func takeSnapshot(t *testing.T, resp *http.Response) snapshot {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	h := resp.Header.Clone()
	delete(h, "Age")
	return snapshot{header: h, trailer: resp.Trailer.Clone(), body: string(b)}
}

// mutate changes everything a receiver may change in a response: its header
// and trailer maps and their value slices.
func mutate(resp *http.Response) {
	for k, vs := range resp.Header {
		for i := range vs {
			vs[i] = "changed"
		}
		resp.Header[k] = append(vs, "appended")
	}
	resp.Header["X-Added"] = []string{"added"}
	delete(resp.Header, "Etag")
	for _, vs := range resp.Trailer {
		for i := range vs {
			vs[i] = "changed"
		}
	}
	if resp.Trailer != nil {
		resp.Trailer["X-Added"] = []string{"added"}
	}
}

// TestSlotHitsAreOwned: memstore is a core.SlotGetter, so its values are
// decoded once and later hits are copies of the decoded entry. Whatever a
// receiver does to the header and trailer of a hit does not reach the next
// hit, which is the response the first hit was; the entry is decoded once
// per stored value (the variant index and the variant).
func TestSlotHitsAreOwned(t *testing.T) {
	st, err := memstore.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	var decodes, sent atomic.Int64
	c := rvNew(t, st, core.WithCodec(countingCodec{decodes: &decodes}))
	send := slotOrigin("v1", &sent)
	get := func() *http.Request {
		return rvGet(t, context.Background(), http.MethodGet, "http://example.test/slot", http.Header{"Accept": {"text/plain"}})
	}
	resp, body := rvDo(t, c, get(), send)
	if body != "v1:text/plain" || sent.Load() != 1 {
		t.Fatalf("miss: body %q, %d sent", body, sent.Load())
	}
	first, err := c.Do(get(), send)
	if err != nil {
		t.Fatal(err)
	}
	if !core.InfoOf(first).FromCache {
		t.Fatalf("second request not a hit: %v", first.Header)
	}
	want := takeSnapshot(t, first)
	mutate(first)
	decodesAfterFirstHit := decodes.Load()
	for i := range 20 {
		resp, err = c.Do(get(), send)
		if err != nil {
			t.Fatal(err)
		}
		got := takeSnapshot(t, resp)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("hit %d after the previous one was changed:\n got %+v\nwant %+v", i, got, want)
		}
		mutate(resp)
	}
	if sent.Load() != 1 {
		t.Errorf("origin requests = %d, want 1", sent.Load())
	}
	if d := decodes.Load() - decodesAfterFirstHit; d != 0 {
		t.Errorf("20 more hits decoded %d times, want 0 (the values were decoded already)", d)
	}
	if want.trailer.Get("X-Checksum") != "abc" || want.header.Get("Vary") != "Accept" {
		t.Errorf("hit lost stored fields: %+v", want)
	}
}

// TestSlotNewValueNewSlot: a value written again (here a new response after
// the old one was deleted) is decoded again: a hit never serves the decoded
// form of a value the key no longer holds.
func TestSlotNewValueNewSlot(t *testing.T) {
	var sent atomic.Int64
	c := rvNew(t, nil)
	get := func() *http.Request {
		return rvGet(t, context.Background(), http.MethodGet, "http://example.test/slot", http.Header{"Accept": {"a"}})
	}
	rvDo(t, c, get(), slotOrigin("v1", &sent))
	if _, body := rvDo(t, c, get(), slotOrigin("v1", &sent)); body != "v1:a" {
		t.Fatalf("hit = %q", body)
	}
	if err := c.Delete(context.Background(), get()); err != nil {
		t.Fatal(err)
	}
	if _, body := rvDo(t, c, get(), slotOrigin("v2", &sent)); body != "v2:a" {
		t.Fatalf("miss after Delete = %q", body)
	}
	for range 3 {
		resp, body := rvDo(t, c, get(), slotOrigin("v3", &sent))
		if body != "v2:a" || resp.Header.Get("Etag") != `"v2"` {
			t.Fatalf("hit after the rewrite = %q, %v; want v2's", body, resp.Header)
		}
	}
	if sent.Load() != 2 {
		t.Errorf("origin requests = %d, want 2", sent.Load())
	}
}

// TestSlotSharedStore: two Caches with different codecs over one memstore
// each read values with their own codec: the decoded form one keeps in a
// slot is never used by the other.
func TestSlotSharedStore(t *testing.T) {
	st, err := memstore.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	var d1, d2, sent atomic.Int64
	c1, err := core.New(st, core.WithCodec(countingCodec{decodes: &d1}))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := core.New(st, core.WithCodec(countingCodec{decodes: &d2}))
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close() // closes st; c2 is left to the GC
	get := func() *http.Request {
		return rvGet(t, context.Background(), http.MethodGet, "http://example.test/shared", http.Header{"Accept": {"x"}})
	}
	send := slotOrigin("v1", &sent)
	rvDo(t, c1, get(), send)
	for range 3 {
		if _, body := rvDo(t, c1, get(), send); body != "v1:x" {
			t.Fatalf("c1 hit = %q", body)
		}
		if _, body := rvDo(t, c2, get(), send); body != "v1:x" {
			t.Fatalf("c2 hit = %q", body)
		}
	}
	if d2.Load() == 0 {
		t.Error("c2 never decoded: it used c1's decoded form")
	}
	if sent.Load() != 1 {
		t.Errorf("origin requests = %d, want 1", sent.Load())
	}
}

// getCountingStore embeds a memstore and overrides Get: the promoted
// GetSlot must not bypass it.
type getCountingStore struct {
	*memstore.Store
	gets atomic.Int64
}

func (s *getCountingStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, key)
}

// TestSlotEmbeddingStoreUsesItsGet: a store embedding memstore (and so
// promoting its GetSlot and SlotStore) is read through its own Get.
func TestSlotEmbeddingStoreUsesItsGet(t *testing.T) {
	m, err := memstore.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	st := &getCountingStore{Store: m}
	var sent atomic.Int64
	c := rvNew(t, st)
	get := func() *http.Request {
		return rvGet(t, context.Background(), http.MethodGet, "http://example.test/e", http.Header{"Accept": {"a"}})
	}
	rvDo(t, c, get(), slotOrigin("v1", &sent))
	before := st.gets.Load()
	rvDo(t, c, get(), slotOrigin("v1", &sent))
	if st.gets.Load() == before {
		t.Error("a hit did not call the embedding store's Get")
	}
}

// TestSlotConcurrentHits: concurrent hits on one stored value, each
// receiver changing what it got, under -race: the decoded entry they are
// all copied from is never written (the race detector would report it),
// and every hit is the stored response.
func TestSlotConcurrentHits(t *testing.T) {
	var sent atomic.Int64
	c := rvNew(t, nil)
	get := func() *http.Request {
		return rvGet(t, context.Background(), http.MethodGet, "http://example.test/par", http.Header{"Accept": {"p"}})
	}
	send := slotOrigin("v1", &sent)
	rvDo(t, c, get(), send)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				resp, err := c.Do(get(), send)
				if err != nil {
					errs <- err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "v1:p" || resp.Header.Get("Etag") != `"v1"` || strings.Join(resp.Header["X-Multi"], ",") != "one,two" ||
					resp.Trailer.Get("X-Checksum") != "abc" {
					errs <- "hit: " + string(b) + " " + resp.Header.Get("Etag")
					return
				}
				mutate(resp)
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

// TestSlotPrimedAsDecoded: the hit that follows a 304 over memstore is
// served from the decoded form the Cache wrote into the slot (BinaryCodec,
// SlotSetter); a second Cache over the same store, which decodes the stored
// bytes, serves the same response: header, trailer, body and Info. The
// receiver of the refreshed response may change it without reaching either.
func TestSlotPrimedAsDecoded(t *testing.T) {
	st, err := memstore.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	// The real time (memstore drops entries past their deletion time by
	// the real clock), with a monotonic reading, in a zone that is not the
	// local one: the decoded form has neither.
	clock := time.Now().In(time.FixedZone("Y", -7200))
	now := func() time.Time { return clock }
	primed, err := core.New(st, core.WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	defer primed.Close()
	decoding, err := core.New(st, core.WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	send := func(r *http.Request) (*http.Response, error) {
		h := http.Header{"Etag": {`"v"`}, "Cache-Control": {"max-age=0"}, "Vary": {"Accept"}, "X-Multi": {"1", "2"}, "X-Empty": {}}
		if r.Header.Get("If-None-Match") == `"v"` {
			h = http.Header{"Etag": {`"v"`}, "Cache-Control": {"max-age=60"}, "X-From-304": {"yes"}}
			return rvResp(r, http.StatusNotModified, h, ""), nil
		}
		resp := rvResp(r, http.StatusOK, h, "body")
		resp.Trailer = http.Header{"X-Sum": {"s"}}
		return resp, nil
	}
	get := func() *http.Request {
		return rvGet(t, context.Background(), http.MethodGet, "http://example.test/p", http.Header{"Accept": {"a"}})
	}
	rvDo(t, primed, get(), send)
	clock = clock.Add(time.Second)
	resp, err := primed.Do(get(), send)
	if err != nil {
		t.Fatal(err)
	}
	if !core.InfoOf(resp).Revalidated {
		t.Fatalf("second request: %+v, want revalidated", core.InfoOf(resp))
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	mutate(resp)
	clock = clock.Add(time.Second)
	// primed's hit reads the form it wrote (decoding's read then puts its own in the slot).
	a, err := primed.Do(get(), send)
	if err != nil {
		t.Fatal(err)
	}
	b, err := decoding.Do(get(), send)
	if err != nil {
		t.Fatal(err)
	}
	ia, ib := core.InfoOf(a), core.InfoOf(b)
	sa, sb := takeSnapshot(t, a), takeSnapshot(t, b)
	if !reflect.DeepEqual(sa, sb) {
		t.Errorf("hit after the 304:\n primed %+v\ndecoded %+v", sa, sb)
	}
	if !ia.FromCache || ia.Revalidated || ia != ib || a.Header.Get("Age") != b.Header.Get("Age") {
		t.Errorf("Info: primed %+v (Age %s), decoded %+v (Age %s)", ia, a.Header.Get("Age"), ib, b.Header.Get("Age"))
	}
	if sa.header.Get("X-From-304") != "yes" || sa.body != "body" || sa.trailer.Get("X-Sum") != "s" {
		t.Errorf("hit after the 304: %+v; want the merged header, the body and the trailer", sa)
	}
}
