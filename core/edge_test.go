package core_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

// TestBufferedBodyLimits covers bodies read into memory (a store that cannot
// stream): larger than WithMaxBodySize, declared larger, or truncated. The
// caller always gets every byte (or the error), and nothing is stored.
func TestBufferedBodyLimits(t *testing.T) {
	const limit = 1000
	body := strings.Repeat("x", 3000)
	tests := []struct {
		name     string
		body     io.Reader
		cl       int64
		wantErr  bool
		wantBody string
	}{
		{name: "longer than the limit, length unknown", body: strings.NewReader(body), cl: -1, wantBody: body},
		{name: "declared longer than the limit", body: strings.NewReader(body), cl: int64(len(body)), wantBody: body},
		{name: "shorter than its Content-Length", body: strings.NewReader("abc"), cl: 10, wantErr: true},
		{name: "read error", body: io.MultiReader(strings.NewReader("ab"), errorReader{}), cl: -1, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := rvNew(t, nil, core.WithMaxBodySize(limit))
			calls := 0
			send := func(r *http.Request) (*http.Response, error) {
				calls++
				return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
					Header: http.Header{"Cache-Control": {"max-age=60"}}, Body: io.NopCloser(tc.body),
					ContentLength: tc.cl, Request: r}, nil
			}
			req := rvGet(t, context.Background(), http.MethodGet, "http://example.test/b", nil)
			resp, err := c.Do(req, send)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tc.wantErr != (err != nil) {
				t.Fatalf("read error = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && string(got) != tc.wantBody {
				t.Errorf("body: got %d bytes, want %d", len(got), len(tc.wantBody))
			}
			if info := core.InfoOf(resp); info.Stored {
				t.Errorf("Stored = true, want false (Cache-Status %q)", resp.Header.Get("Cache-Status"))
			}
			if ok, _ := c.Contains(context.Background(), req); ok {
				t.Error("the response was stored")
			}
		})
	}
}

type errorReader struct{}

func (errorReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestConnectionListedHeadersNotStored checks RFC 9111 §3.1: fields named in
// Connection, and hop-by-hop fields, are not stored.
func TestConnectionListedHeadersNotStored(t *testing.T) {
	c := rvNew(t, nil)
	send := func(r *http.Request) (*http.Response, error) {
		return rvResp(r, 200, http.Header{
			"Cache-Control": {"max-age=60"}, "Connection": {"X-Hop, close"}, "X-Hop": {"1"},
			"Keep-Alive": {"timeout=5"}, "X-Kept": {"yes"},
		}, "ok"), nil
	}
	req := rvGet(t, context.Background(), http.MethodGet, "http://example.test/h", nil)
	rvDo(t, c, req, send)
	resp, _ := rvDo(t, c, req, send)
	if !core.InfoOf(resp).FromCache {
		t.Fatal("second request not served from the cache")
	}
	for _, f := range []string{"X-Hop", "Connection", "Keep-Alive"} {
		if v := resp.Header.Get(f); v != "" {
			t.Errorf("hit carries %s: %q, want nothing", f, v)
		}
	}
	if resp.Header.Get("X-Kept") != "yes" {
		t.Error("end-to-end field X-Kept lost")
	}
}

// TestNotModifiedForAnotherRepresentation checks RFC 9111 §4.3.4: a 304
// whose strong ETag differs from the stored one cannot freshen it; the cache
// fetches the response again without validators.
func TestNotModifiedForAnotherRepresentation(t *testing.T) {
	now := time.Now()
	c := rvNew(t, nil, core.WithClock(func() time.Time { return now }))
	var calls []string
	send := func(r *http.Request) (*http.Response, error) {
		calls = append(calls, r.Header.Get("If-None-Match"))
		switch len(calls) {
		case 1:
			return rvResp(r, 200, http.Header{"Cache-Control": {"max-age=10"}, "Etag": {`"a"`}}, "A"), nil
		case 2:
			return rvResp(r, 304, http.Header{"Etag": {`"b"`}}, ""), nil
		}
		return rvResp(r, 200, http.Header{"Cache-Control": {"max-age=10"}, "Etag": {`"b"`}}, "B"), nil
	}
	req := rvGet(t, context.Background(), http.MethodGet, "http://example.test/r", nil)
	rvDo(t, c, req, send)
	now = now.Add(time.Minute)
	resp, body := rvDo(t, c, req, send)
	if resp.StatusCode != 200 || body != "B" {
		t.Errorf("got %d %q, want 200 \"B\"", resp.StatusCode, body)
	}
	if want := []string{"", `"a"`, ""}; strings.Join(calls, "|") != strings.Join(want, "|") {
		t.Errorf("If-None-Match sent: %q, want %q", calls, want)
	}
}

// TestCollapsedWaiterWithOtherVariant checks that a request waiting for an
// identical miss is not handed the leader's response when the response
// varies on a header the two requests send differently.
func TestCollapsedWaiterWithOtherVariant(t *testing.T) {
	c := rvNew(t, nil)
	release := make(chan struct{})
	var calls atomic.Int64
	send := func(r *http.Request) (*http.Response, error) {
		if calls.Add(1) == 1 {
			select {
			case <-release:
			case <-time.After(5 * time.Second):
			}
		}
		return rvResp(r, 200, http.Header{"Cache-Control": {"max-age=60"}, "Vary": {"Accept-Language"}},
			"lang="+r.Header.Get("Accept-Language")), nil
	}
	var wg sync.WaitGroup
	bodies := make([]string, 2)
	for i, lang := range []string{"en", "fr"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := rvGet(t, context.Background(), http.MethodGet, "http://example.test/v", http.Header{"Accept-Language": {lang}})
			resp, err := c.Do(req, send)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			bodies[i] = string(b)
		}()
		if i == 0 {
			for deadline := time.Now().Add(5 * time.Second); calls.Load() == 0 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
		}
	}
	for deadline := time.Now().Add(5 * time.Second); c.Stats().Collapsed == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if bodies[0] != "lang=en" || bodies[1] != "lang=fr" {
		t.Errorf("bodies = %q, want [lang=en lang=fr]", bodies)
	}
	if calls.Load() != 2 {
		t.Errorf("origin calls = %d, want 2 (one per variant)", calls.Load())
	}
}

// TestOptionValidation checks that New rejects invalid settings with an
// error naming the option.
func TestOptionValidation(t *testing.T) {
	tests := []struct {
		name string
		opt  core.Option
	}{
		{"WithExpireAfter negative", core.WithExpireAfter(-5 * time.Second)},
		{"WithURLExpireAfter negative", core.WithURLExpireAfter("*", -3)},
		{"WithAllowableCodes out of range", core.WithAllowableCodes(42)},
		{"WithAllowableMethods empty", core.WithAllowableMethods("")},
		{"WithMatchHeaders empty", core.WithMatchHeaders("")},
		{"WithStaleIfError negative", core.WithStaleIfError(-time.Second)},
		{"WithStaleWhileRevalidate negative", core.WithStaleWhileRevalidate(-time.Second)},
		{"WithStoreTimeout negative", core.WithStoreTimeout(-time.Second)},
		{"WithHeuristicCap negative", core.WithHeuristicCap(-time.Second)},
		{"WithStaleRetention negative", core.WithStaleRetention(-time.Second)},
		{"WithMaxBodySize zero", core.WithMaxBodySize(0)},
		{"WithMaxKeyedBodySize zero", core.WithMaxKeyedBodySize(0)},
		{"WithMaxStreamSize zero", core.WithMaxStreamSize(0)},
		{"WithStreamThreshold negative", core.WithStreamThreshold(-1)},
		{"WithBackgroundTimeout zero", core.WithBackgroundTimeout(0)},
		{"WithCollapseWait negative", core.WithCollapseWait(-time.Second)},
		{"WithClock nil", core.WithClock(nil)},
		{"WithCodec nil", core.WithCodec(nil)},
	}
	st := newStreamStore(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name, _, _ := strings.Cut(tc.name, " ")
			_, err := core.New(st, tc.opt)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("New: got %v, want an error naming %s", err, name)
			}
		})
	}
	if _, err := core.New(nil); err == nil {
		t.Error("New(nil): got no error")
	}
}

// TestStoreErrorIsWrapped checks the *core.Error shape: op, key and the
// backend error, matchable with errors.Is.
func TestStoreErrorIsWrapped(t *testing.T) {
	backend := errors.New("disk on fire")
	err := error(&core.Error{Op: "get", Key: "h1:k", Err: backend})
	if !errors.Is(err, backend) {
		t.Error("errors.Is does not reach the backend error")
	}
	if got := err.Error(); !strings.Contains(got, "get") || !strings.Contains(got, "h1:k") || !strings.Contains(got, "disk on fire") {
		t.Errorf("Error() = %q, want op, key and cause", got)
	}
}

// TestLookupStates checks the public Lookup hook's states and their names.
func TestLookupStates(t *testing.T) {
	now := time.Now()
	c := rvNew(t, nil, core.WithClock(func() time.Time { return now }))
	send := func(r *http.Request) (*http.Response, error) {
		return rvResp(r, 200, http.Header{"Cache-Control": {"max-age=10"}, "Etag": {`"e"`}}, "v"), nil
	}
	req := rvGet(t, context.Background(), http.MethodGet, "http://example.test/s", nil)
	check := func(want core.State) {
		t.Helper()
		lr, err := c.Lookup(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if lr.Response != nil {
			lr.Response.Body.Close()
		}
		if lr.State != want || lr.State.String() != want.String() {
			t.Errorf("state = %v, want %v", lr.State, want)
		}
	}
	check(core.Miss)
	rvDo(t, c, req, send)
	check(core.Hit)
	now = now.Add(time.Minute)
	check(core.Revalidate)
	post := rvGet(t, context.Background(), http.MethodPost, "http://example.test/s", nil)
	lr, err := c.Lookup(context.Background(), post)
	if err != nil || lr.State != core.Bypass || lr.State.String() != "bypass" {
		t.Errorf("POST: state %v, err %v; want bypass", lr.State, err)
	}
}

// TestFreshnessBeforeResponseTime checks RFC 9111 §4.2 for a lookup whose
// clock reads earlier than the stored response's response_time (another
// goroutine stored it after this lookup read the clock, or the clock
// stepped back): the response is fresh when its freshness lifetime exceeds
// its current age, and the resident time in that age is never negative
// (§4.2.3), so a response with no lifetime left (max-age=0, or an Age that
// uses it up) is never fresh, and min-fresh counts from the response time.
func TestFreshnessBeforeResponseTime(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header // of the stored response, besides an ETag
		reqCC  string
		want   core.State
	}{
		{"max-age=0", http.Header{"Cache-Control": {"max-age=0"}}, "", core.Revalidate},
		{"lifetime used up by Age", http.Header{"Cache-Control": {"max-age=5"}, "Age": {"5"}}, "", core.Revalidate},
		{"lifetime left", http.Header{"Cache-Control": {"max-age=60"}}, "", core.Hit},
		{"min-fresh beyond the lifetime left", http.Header{"Cache-Control": {"max-age=60"}}, "min-fresh=61", core.Revalidate},
		{"min-fresh of the lifetime left", http.Header{"Cache-Control": {"max-age=60"}}, "min-fresh=60", core.Hit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			c := rvNew(t, nil, core.WithClock(func() time.Time { return now }))
			send := func(r *http.Request) (*http.Response, error) {
				h := tc.header.Clone()
				h["Etag"] = []string{`"e"`}
				return rvResp(r, http.StatusOK, h, "v"), nil
			}
			rvDo(t, c, rvGet(t, context.Background(), http.MethodGet, "http://example.test/f", nil), send)
			now = now.Add(-10 * time.Second) // before the response time
			var h http.Header
			if tc.reqCC != "" {
				h = http.Header{"Cache-Control": {tc.reqCC}}
			}
			lr, err := c.Lookup(context.Background(), rvGet(t, context.Background(), http.MethodGet, "http://example.test/f", h))
			if err != nil {
				t.Fatal(err)
			}
			if lr.Response != nil {
				lr.Response.Body.Close()
			}
			if lr.State != tc.want {
				t.Errorf("state = %v, want %v", lr.State, tc.want)
			}
		})
	}
}

// TestStorableNeedsFreshnessInformation checks RFC 9111 §3: a response whose
// status is not heuristically cacheable is stored only with explicit
// freshness (or public/private), or a lifetime the user configured.
func TestStorableNeedsFreshnessInformation(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		opts   []core.Option
		stored bool
	}{
		{name: "302 with only a validator", header: http.Header{"Etag": {`"x"`}}},
		{name: "302 with max-age", header: http.Header{"Cache-Control": {"max-age=60"}}, stored: true},
		{name: "302 marked private (private cache)", header: http.Header{"Cache-Control": {"private"}, "Etag": {`"x"`}}, stored: true},
		{name: "302 with a configured lifetime", header: http.Header{"Etag": {`"x"`}}, opts: []core.Option{core.WithExpireAfter(time.Minute)}, stored: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := rvNew(t, nil, append([]core.Option{core.WithAllowableCodes(200, 302)}, tc.opts...)...)
			send := func(r *http.Request) (*http.Response, error) {
				h := tc.header.Clone()
				h.Set("Location", "/elsewhere")
				return rvResp(r, 302, h, "moved"), nil
			}
			req := rvGet(t, context.Background(), http.MethodGet, "http://example.test/old", nil)
			resp, _ := rvDo(t, c, req, send)
			if got := core.InfoOf(resp).Stored; got != tc.stored {
				t.Errorf("Stored = %v, want %v (Cache-Status %q)", got, tc.stored, resp.Header.Get("Cache-Status"))
			}
		})
	}
}
