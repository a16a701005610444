package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
	"github.com/hoardhttp/hoard/stores/redisstore"
	"github.com/hoardhttp/hoard/stores/tiered"
)

// envURL names the variable that points the tests at a Redis server.
const envURL = "HOARD_TEST_REDIS_URL"

// testClient returns a client for the server in HOARD_TEST_REDIS_URL
// (skipping, or failing under HOARD_REQUIRE_SERVICES=1, when it is unset),
// closed when t ends.
func testClient(t testing.TB) *redis.Client {
	t.Helper()
	u := conformance.RequireService(t, envURL)
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("%s=%q: %v", envURL, u, err)
	}
	opts.ContextTimeoutEnabled = true
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// testPrefix returns a key prefix no other test run uses. The tests share
// the server (and database) with whatever else runs there, so they keep to
// their prefixes and delete only their own keys.
func testPrefix(t testing.TB) string {
	t.Helper()
	return testPrefixString()
}

// testPrefixString is testPrefix without a test.
func testPrefixString() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails
	return "hoardtest:" + hex.EncodeToString(b[:]) + ":"
}

// dropPrefix deletes every key under prefix, for cleanups.
func dropPrefix(client redis.UniversalClient, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := redisstore.New(ctx, client, &redisstore.Options{KeyPrefix: prefix, Lazy: true})
	if err != nil {
		return err
	}
	return st.Clear(ctx)
}

// newTestStore returns a store under a fresh prefix whose keys are deleted
// when t ends.
func newTestStore(t testing.TB, client redis.UniversalClient) *redisstore.Store {
	t.Helper()
	prefix := testPrefix(t)
	st, err := redisstore.New(t.Context(), client, &redisstore.Options{KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := dropPrefix(client, prefix); err != nil {
			t.Errorf("deleting the keys under %q: %v", prefix, err)
		}
	})
	return st
}

// harness gives the conformance suite stores under fresh prefixes, and
// deletes their keys on Close.
type harness struct {
	client   *redis.Client
	mu       sync.Mutex
	prefixes []string
	// tiered makes the stores tiered stores over publishing Redis stores.
	tiered bool
}

func newHarness(_ context.Context, t *testing.T) (conformance.StoreHarness, error) {
	u := conformance.RequireService(t, envURL)
	opts, err := redis.ParseURL(u)
	if err != nil {
		return nil, err
	}
	opts.ContextTimeoutEnabled = true
	return &harness{client: redis.NewClient(opts)}, nil
}

func (h *harness) MakeStore(ctx context.Context) (core.Store, error) {
	prefix := testPrefixString()
	h.mu.Lock()
	h.prefixes = append(h.prefixes, prefix)
	h.mu.Unlock()
	st, err := redisstore.New(ctx, h.client, &redisstore.Options{KeyPrefix: prefix, Publish: h.tiered})
	if err != nil || !h.tiered {
		return st, err
	}
	l1, err := memstore.New(nil)
	if err != nil {
		return nil, err
	}
	return tiered.New(l1, st, nil)
}

func (h *harness) Capabilities() conformance.Capabilities {
	return conformance.Capabilities{NativeTTL: true, List: true, Clear: true, MaxValueSize: 16 << 20}
}

func (h *harness) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.prefixes {
		_ = dropPrefix(h.client, p)
	}
	h.client.Close()
}

func TestConformance(t *testing.T) {
	conformance.RunStoreTests(t, newHarness)
}

// rawKeys lists the keys under prefix straight from Redis.
func rawKeys(t *testing.T, client redis.UniversalClient, prefix string) []string {
	t.Helper()
	keys, err := scanKeys(t.Context(), client, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// scanKeys lists the keys under prefix on one node (or, through a Cluster
// client, the node SCAN is routed to) with SCAN MATCH.
func scanKeys(ctx context.Context, client redis.Cmdable, prefix string) ([]string, error) {
	var keys []string
	iter := client.Scan(ctx, 0, strings.NewReplacer("*", `\*`, "?", `\?`, "[", `\[`, "]", `\]`, `\`, `\\`).Replace(prefix)+"*", 100).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	return keys, iter.Err()
}

func TestTTLIsNative(t *testing.T) {
	client := testClient(t)
	st := newTestStore(t, client)
	ctx := t.Context()
	tests := []struct {
		name    string
		expires time.Time
		// wantTTL: the key's PTTL is in (0, wantTTL]; 0 means no TTL (-1).
		wantTTL time.Duration
	}{
		{"an hour", time.Now().Add(time.Hour), time.Hour},
		{"a fraction of a second", time.Now().Add(1500 * time.Millisecond), 1501 * time.Millisecond},
		{"no expiry", time.Time{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "ttl/" + tc.name
			if err := st.Set(ctx, key, []byte("v"), core.Meta{Expires: tc.expires}); err != nil {
				t.Fatal(err)
			}
			got, err := client.PTTL(ctx, st.KeyPrefix()+key).Result()
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.wantTTL == 0 && got != -time.Nanosecond && got != -1:
				// go-redis reports "no TTL" as -1 (a Duration of -1ns).
				t.Errorf("PTTL = %v, want none", got)
			case tc.wantTTL > 0 && (got <= 0 || got > tc.wantTTL):
				t.Errorf("PTTL = %v, want in (0, %v]", got, tc.wantTTL)
			}
		})
	}
	t.Run("overwrite without expiry drops the TTL", func(t *testing.T) {
		key := "ttl/overwritten"
		if err := st.Set(ctx, key, []byte("v1"), core.Meta{Expires: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := st.Set(ctx, key, []byte("v2"), core.Meta{}); err != nil {
			t.Fatal(err)
		}
		if got, err := client.PTTL(ctx, st.KeyPrefix()+key).Result(); err != nil || got > 0 {
			t.Errorf("PTTL after an overwrite without Expires = %v, %v; want no TTL", got, err)
		}
	})
}

// TestGetChecksExpiresItself: an entry whose Meta.Expires has passed is a
// miss even while Redis still holds it (a server whose clock is behind).
func TestGetChecksExpiresItself(t *testing.T) {
	client := testClient(t)
	st := newTestStore(t, client)
	ctx := t.Context()
	if err := st.Set(ctx, "k", []byte("v"), core.Meta{Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	raw, err := client.Get(ctx, st.KeyPrefix()+"k").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	// The same value with an Expires in the past, written behind the
	// store's back with no TTL.
	past := redisstore.EncodeForTest([]byte("v"), core.Meta{Expires: time.Now().Add(-time.Second)})
	if err := client.Set(ctx, st.KeyPrefix()+"k", past, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "k"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get of an entry past its Expires = %v, want ErrNotFound", err)
	}
	if len(raw) <= len("v") {
		t.Errorf("stored value is %d bytes: no header?", len(raw))
	}
}

// TestForeignValueIsMiss: a value under the prefix that the store did not
// write is a miss (so the core overwrites it), and List skips it.
func TestForeignValueIsMiss(t *testing.T) {
	client := testClient(t)
	st := newTestStore(t, client)
	ctx := t.Context()
	for i, v := range []string{"", "x", "plain text", "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"} {
		key := "foreign/" + string(rune('a'+i))
		if err := client.Set(ctx, st.KeyPrefix()+key, v, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if got, err := st.Get(ctx, key); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("Get of foreign value %q = %q, %v; want ErrNotFound", v, got, err)
		}
	}
	if err := client.HSet(ctx, st.KeyPrefix()+"foreign/hash", "f", "v").Err(); err != nil {
		t.Fatal(err)
	}
	if err := st.Set(ctx, "mine", []byte("v"), core.Meta{URL: "u", Method: "GET", Status: 200}); err != nil {
		t.Fatal(err)
	}
	var listed []string
	for it, err := range st.List(ctx) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		listed = append(listed, it.Key)
	}
	if len(listed) != 1 || listed[0] != "mine" {
		t.Errorf("List = %q, want only %q", listed, "mine")
	}
	if err := st.Clear(ctx); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	if keys := rawKeys(t, client, st.KeyPrefix()); len(keys) != 0 {
		t.Errorf("keys left under the prefix after Clear: %q", keys)
	}
}

// TestPrefixIsolation: List and Clear see only their prefix, even when it
// holds SCAN pattern characters, and never a key outside it.
func TestPrefixIsolation(t *testing.T) {
	client := testClient(t)
	base := testPrefix(t)
	t.Cleanup(func() { _ = dropPrefix(client, base) })
	ctx := t.Context()
	prefixes := []string{base + "a*", base + "ab", base + "a?", base + "a[b]", base + `a\`}
	stores := make([]*redisstore.Store, len(prefixes))
	for i, p := range prefixes {
		st, err := redisstore.New(t.Context(), client, &redisstore.Options{KeyPrefix: p, ScanCount: 2})
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = st
		for _, k := range []string{"1", "2", "3"} {
			if err := st.Set(ctx, k, []byte(p+k), core.Meta{Method: "GET"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, st := range stores {
		t.Run(prefixes[i], func(t *testing.T) {
			n := 0
			for it, err := range st.List(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				n++
				got, err := st.Get(ctx, it.Key)
				if err != nil || string(got) != prefixes[i]+it.Key {
					t.Errorf("listed %q holds %q, %v; not this store's", it.Key, got, err)
				}
			}
			if n != 3 {
				t.Errorf("List yields %d keys, want 3", n)
			}
		})
	}
	// Clearing "a*" (the pattern "a\*" once escaped) leaves every neighbour.
	if err := stores[0].Clear(ctx); err != nil {
		t.Fatal(err)
	}
	for i, st := range stores[1:] {
		if got, err := st.Get(ctx, "1"); err != nil {
			t.Errorf("store %q lost its key to Clear of %q: %v (%q)", prefixes[i+1], prefixes[0], err, got)
		}
	}
	if _, err := stores[0].Get(ctx, "1"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get after Clear = %v, want ErrNotFound", err)
	}
}

// countHook counts the commands a client sends (a pipeline counts each of
// its commands, plus one round trip).
type countHook struct {
	mu    sync.Mutex
	cmds  []string
	trips atomic.Int64
}

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.trips.Add(1)
		h.mu.Lock()
		h.cmds = append(h.cmds, cmd.Name())
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.trips.Add(1)
		h.mu.Lock()
		for _, c := range cmds {
			h.cmds = append(h.cmds, c.Name())
		}
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

func (h *countHook) reset() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.cmds
	h.cmds = nil
	h.trips.Store(0)
	return out
}

// TestHitIsOneGET: a fresh hit through the cache costs one round trip, a
// GET, and a miss that is stored one GET and one SET.
func TestHitIsOneGET(t *testing.T) {
	client := testClient(t)
	hook := &countHook{}
	client.AddHook(hook)
	st := newTestStore(t, client)
	cache, err := core.New(st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close() })
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		io.WriteString(w, "hello")
	}))
	t.Cleanup(origin.Close)
	hc := nethttpcache.NewClient(cache, nil)
	get := func() core.Info {
		resp, err := hc.Get(origin.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if b, _ := io.ReadAll(resp.Body); string(b) != "hello" {
			t.Fatalf("body %q", b)
		}
		return core.InfoOf(resp)
	}
	// Open the connection first: its handshake (HELLO, CLIENT SETINFO)
	// is not part of a request.
	if err := client.Ping(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	hook.reset()
	if info := get(); info.FromCache || !info.Stored {
		t.Fatalf("first request: %+v, want a stored miss", info)
	}
	if cmds := hook.reset(); strings.Join(cmds, " ") != "get set" {
		t.Errorf("a stored miss sent %q, want [get set]", cmds)
	}
	for range 3 {
		if info := get(); !info.FromCache {
			t.Fatalf("request not served from the cache: %+v", info)
		}
		trips := hook.trips.Load()
		if cmds := hook.reset(); len(cmds) != 1 || cmds[0] != "get" || trips != 1 {
			t.Errorf("a hit sent %q in %d round trips, want one GET", cmds, trips)
		}
	}
}

func TestNew(t *testing.T) {
	client := testClient(t)
	tests := []struct {
		name       string
		client     redis.UniversalClient
		opts       *redisstore.Options
		wantPrefix string
		wantScan   int
		wantErr    string
	}{
		{"nil options", client, nil, "hoard:", 1000, ""},
		{"empty options", client, &redisstore.Options{}, "hoard:", 1000, ""},
		{"prefix and scan count", client, &redisstore.Options{KeyPrefix: "app:", ScanCount: 10}, "app:", 10, ""},
		{"negative scan count", client, &redisstore.Options{ScanCount: -1}, "", 0, "ScanCount"},
		{"nil client", nil, nil, "", 0, "nil client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := redisstore.New(t.Context(), tc.client, tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "redisstore: ") {
					t.Fatalf("New = %v, want an error mentioning %q", err, tc.wantErr)
				}
				if !errors.Is(err, core.ErrInvalidConfig) {
					t.Errorf("New = %v, want an error wrapping core.ErrInvalidConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.KeyPrefix() != tc.wantPrefix || st.ScanCount() != tc.wantScan {
				t.Errorf("prefix %q scan %d, want %q %d", st.KeyPrefix(), st.ScanCount(), tc.wantPrefix, tc.wantScan)
			}
		})
	}
}

// TestClosed: after Close every method fails with ErrClosed, and a client
// given to New stays open.
func TestClosed(t *testing.T) {
	client := testClient(t)
	st := newTestStore(t, client)
	ctx := t.Context()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	ops := map[string]error{}
	_, ops["Get"] = st.Get(ctx, "k")
	ops["Set"] = st.Set(ctx, "k", []byte("v"), core.Meta{})
	ops["Delete"] = st.Delete(ctx, "k")
	ops["Clear"] = st.Clear(ctx)
	for _, err := range st.List(ctx) {
		ops["List"] = err
	}
	for op, err := range ops {
		if !errors.Is(err, redisstore.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", op, err)
		}
	}
	if err := client.Ping(ctx).Err(); err != nil {
		t.Errorf("the caller's client was closed with the store: %v", err)
	}
}
