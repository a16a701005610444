package conformance

// requests-cache's BaseCacheTest (reference section 8, items 1, 2, 7, 8, 9,
// 10, 11, 12, 14, 15), adapted to hoard: RFC cache-control is on by default
// and per-request options travel in the context. This file also holds the
// helpers (prefixed h4) shared by the settings, options, precedence, keys,
// status, management and fail-open scenarios.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Base/AllMethods", testBaseAllMethods},
		{"Base/ResponseFormats", testBaseResponseFormats},
		{"Base/CacheControlExpiration", testBaseCacheControlExpiration},
		{"Base/ConditionalRequest", testBaseConditionalRequest},
		{"Base/ConditionalResponseHeaders", testBaseConditionalResponseHeaders},
		{"Base/RevalidationRefreshesExpiry", testBaseRevalidationRefreshesExpiry},
		{"Base/DecodeGzip", testBaseDecodeGzip},
		{"Base/JSONRootTypes", testBaseJSONRootTypes},
		{"Base/DeleteExpired", testBaseDeleteExpired},
		{"Base/FilterSecrets", testBaseFilterSecrets},
	})
}

// ---------------------------------------------------------------- helpers

// h4Members splits every Cache-Status field line into its members.
func h4Members(h http.Header) []string {
	var out []string
	for _, line := range h.Values("Cache-Status") {
		for _, m := range strings.Split(line, ",") {
			if m = strings.TrimSpace(m); m != "" {
				out = append(out, m)
			}
		}
	}
	return out
}

// h4Ours returns hoard's Cache-Status member, which must be the last one and
// appear once; it reports a test error otherwise.
func h4Ours(t *testing.T, h http.Header) string {
	t.Helper()
	ms := h4Members(h)
	if len(ms) == 0 {
		t.Errorf("no Cache-Status field, want one ending with a %q member", core.CacheStatusName)
		return ""
	}
	n := 0
	for _, m := range ms {
		if name, _, _ := strings.Cut(m, ";"); strings.TrimSpace(name) == core.CacheStatusName {
			n++
		}
	}
	if n != 1 {
		t.Errorf("Cache-Status %q has %d %q members, want exactly 1", h.Values("Cache-Status"), n, core.CacheStatusName)
	}
	return ms[len(ms)-1]
}

// h4Status checks hoard's Cache-Status member exactly.
func h4Status(t *testing.T, res *result, want string) {
	t.Helper()
	if got := h4Ours(t, res.Header); got != want {
		t.Errorf("Cache-Status = %q, want %q", got, want)
	}
}

// h4Hits checks the origin's request count with a message naming the step.
func h4Hits(t *testing.T, o *origin, want int, step string) {
	t.Helper()
	if got := o.hits(); got != want {
		t.Errorf("%s: origin hits = %d, want %d", step, got, want)
	}
}

// h4NoLeak checks that a request the origin received carries no cache
// control header and no X-* header the test did not set itself (allowed).
func h4NoLeak(t *testing.T, r *http.Request, allowed ...string) {
	t.Helper()
	if r == nil {
		t.Errorf("origin received no request")
		return
	}
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[http.CanonicalHeaderKey(a)] = true
	}
	for k, v := range r.Header {
		ck := http.CanonicalHeaderKey(k)
		if ok[ck] {
			continue
		}
		if ck == "Cache-Control" || ck == "Pragma" || strings.HasPrefix(ck, "X-") {
			t.Errorf("origin saw header %s: %q, want none (per-request options must not reach the origin)", ck, v)
		}
	}
}

// h4Ctx is a shortcut for the test's context.
func h4Ctx(t *testing.T) context.Context { return t.Context() }

// h4Host is the origin URL without its scheme ("127.0.0.1:PORT").
func h4Host(o *origin) string { return strings.TrimPrefix(o.URL, "http://") }

// h4Do sends req straight through e.cache.Do with send, reading the whole body.
func h4Do(t *testing.T, e *env, req *http.Request, send func(*http.Request) (*http.Response, error)) *result {
	t.Helper()
	resp, err := e.cache.Do(req, send)
	if err != nil {
		t.Fatalf("Do %s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return &result{Status: resp.StatusCode, Header: resp.Header, Body: string(b), Info: core.InfoOf(resp)}
}

// h4FakeSend answers every request with 200, max-age=60 and body "v<n>",
// counting calls in n; it needs no network.
func h4FakeSend(clock *Clock, n *atomic.Int64) func(*http.Request) (*http.Response, error) {
	return func(r *http.Request) (*http.Response, error) {
		k := n.Add(1)
		body := fmt.Sprintf("v%d", k)
		h := http.Header{}
		h.Set("Date", clock.Now().UTC().Format(http.TimeFormat))
		h.Set("Cache-Control", "max-age=60")
		h.Set("Content-Type", "text/plain")
		h.Set("Content-Length", fmt.Sprint(len(body)))
		return &http.Response{
			StatusCode: http.StatusOK, Status: "200 OK",
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: h, Body: io.NopCloser(strings.NewReader(body)),
			ContentLength: int64(len(body)), Request: r,
		}, nil
	}
}

// h4CanList reports whether the store the cache was given can list (and so
// supports Entries, DeleteExpired, DeleteOlderThan and ResetExpiration).
func h4CanList(e *env) bool {
	_, ok := e.store.(core.Lister)
	return ok
}

// h4NeedList skips a management scenario over a store that cannot list; the
// ErrNotSupported path is checked by Manage/NotSupported.
func h4NeedList(t *testing.T, e *env) {
	t.Helper()
	if !h4CanList(e) {
		t.Skipf("store %T does not implement core.Lister", e.store)
	}
}

// h4Entries collects e.cache.Entries, failing the test on an error. Over a
// store that cannot list it returns nil.
func h4Entries(t *testing.T, e *env) []*core.Entry {
	t.Helper()
	if !h4CanList(e) {
		t.Logf("store %T cannot list; entries not inspected", e.store)
		return nil
	}
	var out []*core.Entry
	n := 0
	for en, err := range e.cache.Entries(h4Ctx(t)) {
		if err != nil {
			t.Fatalf("Entries: %v", err)
		}
		out = append(out, en)
		if n++; n > 10000 {
			t.Fatalf("Entries yielded more than 10000 entries")
		}
	}
	return out
}

// h4RawValues returns the raw stored bytes of every key the store lists (or,
// for a store that cannot list, of the given keys).
func h4RawValues(t *testing.T, e *env, keys ...string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	ctx := h4Ctx(t)
	if l, ok := unwrapStore(e.store).(core.Lister); ok {
		n := 0
		for it, err := range l.List(ctx) {
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			keys = append(keys, it.Key)
			if n++; n > 10000 {
				break
			}
		}
	}
	for _, k := range keys {
		if k == "" {
			continue
		}
		if b, err := e.store.Get(ctx, k); err == nil {
			out[k] = b
		}
	}
	return out
}

// h4Gzip compresses s.
func h4Gzip(s string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return buf.Bytes()
}

// h4SameHeaders compares two header sets, ignoring the fields a cache
// legitimately changes between a miss and a hit (Cache-Status, Age).
func h4SameHeaders(t *testing.T, miss, hit http.Header) {
	t.Helper()
	skip := map[string]bool{"Cache-Status": true, "Age": true}
	for k, v := range miss {
		if skip[k] {
			continue
		}
		if got := hit.Values(k); strings.Join(got, "\x00") != strings.Join(v, "\x00") {
			t.Errorf("hit header %s = %q, want %q (as on the miss)", k, got, v)
		}
	}
	for k, v := range hit {
		if skip[k] {
			continue
		}
		if _, ok := miss[k]; !ok {
			t.Errorf("hit has header %s: %q that the miss did not have", k, v)
		}
	}
}

// --------------------------------------------------------------- scenarios

// testBaseAllMethods: BaseCacheTest item 1. Every method × query, form and
// JSON payloads: first a miss, second a hit, different payloads different keys.
func testBaseAllMethods(t *testing.T, s *suite) {
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	e := s.newEnv(t, core.WithAllowableMethods(append(methods, http.MethodHead)...))
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "%s-%d", r.Method, n)
	})
	type payload struct{ kind, query, ctype, body string }
	payloads := func(i int) []payload {
		return []payload{
			{"query", fmt.Sprintf("?p=%d&q=x", i), "", ""},
			{"form", "", "application/x-www-form-urlencoded", fmt.Sprintf("p=%d&q=x", i)},
			{"json", "", "application/json", fmt.Sprintf(`{"p":%d,"q":"x"}`, i)},
		}
	}
	for _, m := range methods {
		for k := range 3 {
			kind := payloads(0)[k].kind
			if m == http.MethodGet && kind != "query" {
				continue // GET bodies are not part of the key
			}
			t.Run(m+"_"+kind, func(t *testing.T) {
				path := "/all/" + m + "/" + kind
				keys := map[string]int{}
				for i := 1; i <= 3; i++ {
					p := payloads(i)[k]
					var hdr []string
					if p.ctype != "" {
						hdr = append(hdr, "Content-Type: "+p.ctype)
					}
					before := o.hitsFor(path)
					first := e.must(e.req(h4Ctx(t), m, o.URL+path+p.query, p.body, hdr...))
					if first.Info.FromCache {
						t.Errorf("payload %d: first request FromCache = true, want a miss (Cache-Status %q)", i, first.Header.Get("Cache-Status"))
					}
					second := e.must(e.req(h4Ctx(t), m, o.URL+path+p.query, p.body, hdr...))
					if !second.Info.FromCache || second.Body != first.Body {
						t.Errorf("payload %d: second request FromCache = %v body %q, want a hit with %q (Cache-Status %q)",
							i, second.Info.FromCache, second.Body, first.Body, second.Header.Get("Cache-Status"))
					}
					if got := o.hitsFor(path) - before; got != 1 {
						t.Errorf("payload %d: origin requests = %d, want 1", i, got)
					}
					if first.Info.Key == "" {
						t.Errorf("payload %d: Info.Key is empty, want the store key", i)
					} else if j, dup := keys[first.Info.Key]; dup {
						t.Errorf("payload %d has the same key as payload %d (%q), want different keys", i, j, first.Info.Key)
					}
					keys[first.Info.Key] = i
				}
			})
		}
	}
}

// testBaseResponseFormats: BaseCacheTest item 2. The hit returns exactly the
// bytes and headers the miss returned, whatever the format.
func testBaseResponseFormats(t *testing.T, s *suite) {
	png := []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 0x0d, 'I', 'H', 'D', 'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0xff, 0xfe}
	const text = "hello, gzip world — ünïcödé\n"
	cases := []struct {
		name, ctype, enc string
		body             []byte
		hdr              []string
	}{
		{"JSON", "application/json", "", []byte(`{"slideshow":{"title":"Sample","slides":[1,2,3]}}`), nil},
		{"HTML", "text/html; charset=utf-8", "", []byte("<!DOCTYPE html><html><body><h1>Herman</h1></body></html>"), nil},
		{"XML", "application/xml", "", []byte(`<?xml version="1.0"?><slideshow title="x"><slide/></slideshow>`), nil},
		{"UTF8", "text/plain; charset=utf-8", "", []byte("∮ E⋅da = Q,  n → ∞, ∑ f(i) = ∏ g(i)"), nil},
		{"PNG", "image/png", "", png, nil},
		{"Empty", "text/plain", "", []byte{}, nil},
		{"GzipTransparent", "text/plain", "gzip", h4Gzip(text), nil},
		{"GzipExplicit", "text/plain", "gzip", h4Gzip(text), []string{"Accept-Encoding: gzip"}},
	}
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		for _, c := range cases {
			if r.URL.Path == "/fmt/"+c.name {
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("Content-Type", c.ctype)
				w.Header().Set("ETag", fmt.Sprintf(`"%s-%d"`, c.name, n))
				if c.enc != "" {
					w.Header().Set("Content-Encoding", c.enc)
				}
				_, _ = w.Write(c.body)
				return
			}
		}
		http.NotFound(w, r)
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url := o.URL + "/fmt/" + c.name
			miss := e.must(e.req(h4Ctx(t), http.MethodGet, url, "", c.hdr...))
			hit := e.must(e.req(h4Ctx(t), http.MethodGet, url, "", c.hdr...))
			if miss.Status != 200 || miss.Info.FromCache {
				t.Fatalf("miss: status %d FromCache %v, want 200 from the origin", miss.Status, miss.Info.FromCache)
			}
			if !hit.Info.FromCache {
				t.Errorf("second request FromCache = false, want a hit (Cache-Status %q)", hit.Header.Get("Cache-Status"))
			}
			if hit.Status != miss.Status {
				t.Errorf("hit status = %d, want %d", hit.Status, miss.Status)
			}
			if hit.Body != miss.Body {
				t.Errorf("hit body = %q, want exactly the miss's %q", hit.Body, miss.Body)
			}
			h4SameHeaders(t, miss.Header, hit.Header)
			// The content, decoded when it is still encoded, is the origin's.
			got := []byte(hit.Body)
			if c.enc == "gzip" {
				if hit.Header.Get("Content-Encoding") == "gzip" {
					zr, err := gzip.NewReader(bytes.NewReader(got))
					if err != nil {
						t.Fatalf("hit says Content-Encoding: gzip but the body is not gzip: %v", err)
					}
					if got, err = io.ReadAll(zr); err != nil {
						t.Fatalf("decoding gzip body of the hit: %v", err)
					}
				}
				if string(got) != text {
					t.Errorf("decoded hit body = %q, want %q", got, text)
				}
			} else if !bytes.Equal(got, c.body) {
				t.Errorf("hit body = %q, want the origin's %q", got, c.body)
			}
			if o.hitsFor("/fmt/"+c.name) != 1 {
				t.Errorf("origin requests for %s = %d, want 1", c.name, o.hitsFor("/fmt/"+c.name))
			}
		})
	}
}

// testBaseDecodeGzip: BaseCacheTest item 11. A gzip response served from the
// cache is readable: with the client's transparent decompression the body of
// the hit is the decoded text and no Content-Encoding remains.
func testBaseDecodeGzip(t *testing.T, s *suite) {
	const text = `{"gzipped":true,"items":[1,2,3]}`
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(h4Gzip(text))
	})
	miss := e.get(o.URL + "/gz")
	hit := e.get(o.URL + "/gz")
	e.expect(hit, 200, miss.Body, true)
	for name, r := range map[string]*result{"miss": miss, "hit": hit} {
		body := []byte(r.Body)
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("%s: Content-Encoding gzip but body not gzip: %v", name, err)
			}
			body, _ = io.ReadAll(zr)
		}
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Errorf("%s: decoded body %q is not JSON: %v", name, body, err)
		} else if v["gzipped"] != true {
			t.Errorf("%s: decoded JSON = %v, want gzipped=true", name, v)
		}
	}
	e.expectHits(o, 1)
}

// testBaseJSONRootTypes: BaseCacheTest item 12. JSON bodies of every root
// type and JSON content-type variant round trip through the cache.
func testBaseJSONRootTypes(t *testing.T, s *suite) {
	bodies := []string{`"string"`, `47`, `47.1`, `true`, `""`, `[]`, `{}`, `null`, `{"a":[1,{"b":null}]}`}
	ctypes := []string{"application/json", "application/json; charset=utf-8", "application/vnd.api+json", "text/json", "application/problem+json"}
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		var bi, ci int
		fmt.Sscanf(r.URL.Query().Get("b"), "%d", &bi)
		fmt.Sscanf(r.URL.Query().Get("c"), "%d", &ci)
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Type", ctypes[ci])
		_, _ = io.WriteString(w, bodies[bi])
	})
	for bi, b := range bodies {
		for ci, ct := range ctypes {
			t.Run(fmt.Sprintf("%s_%s", b, ct), func(t *testing.T) {
				url := fmt.Sprintf("%s/json?b=%d&c=%d", o.URL, bi, ci)
				before := o.hits()
				miss := e.get(url)
				hit := e.get(url)
				e.expect(miss, 200, b, false)
				e.expect(hit, 200, b, true)
				if got := hit.Header.Get("Content-Type"); got != ct {
					t.Errorf("hit Content-Type = %q, want %q", got, ct)
				}
				var want, got any
				if err := json.Unmarshal([]byte(b), &want); err != nil {
					t.Fatalf("bad test JSON %q: %v", b, err)
				}
				if err := json.Unmarshal([]byte(hit.Body), &got); err != nil {
					t.Errorf("hit body %q does not decode: %v", hit.Body, err)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("decoded hit = %v, want %v", got, want)
				}
				if o.hits()-before != 1 {
					t.Errorf("origin requests = %d, want 1", o.hits()-before)
				}
			})
		}
	}
}

// testBaseCacheControlExpiration: BaseCacheTest item 7, adapted. Response
// max-age=60 × request headers × cache-control on/off. Request directives
// bound the age accepted but never set the lifetime; request no-store
// prevents storing; WithCacheControl(false) with no expire-after gives
// NeverExpire.
func testBaseCacheControlExpiration(t *testing.T, s *suite) {
	type want struct {
		stored bool
		ttl    time.Duration // -1: never expires (zero Info.Expires)
	}
	reqHeaders := []struct {
		name string
		hdr  []string
	}{
		{"NoHeaders", nil},
		{"MaxAge360", []string{"Cache-Control: max-age=360"}},
		{"NoStore", []string{"Cache-Control: no-store"}},
		{"ExpiresAndMaxAge", []string{"Expires: " + time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), "Cache-Control: max-age=360"}},
	}
	for _, cc := range []bool{true, false} {
		wants := []want{{true, 60 * time.Second}, {true, 60 * time.Second}, {false, 0}, {true, 60 * time.Second}}
		if !cc {
			wants = []want{{true, -1}, {true, -1}, {false, 0}, {true, -1}}
		}
		for i, rh := range reqHeaders {
			t.Run(fmt.Sprintf("CacheControl%v_%s", cc, rh.name), func(t *testing.T) {
				e := s.newEnv(t, core.WithCacheControl(cc))
				o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
					w.Header().Set("Cache-Control", "max-age=60")
					fmt.Fprintf(w, "v%d", n)
				})
				t0 := e.clock.Now()
				res := e.get(o.URL+"/cache/60", rh.hdr...)
				w := wants[i]
				if res.Info.Stored != w.stored {
					t.Fatalf("Info.Stored = %v, want %v (Cache-Status %q)", res.Info.Stored, w.stored, res.Header.Get("Cache-Status"))
				}
				if !w.stored {
					if ok, err := e.cache.Contains(h4Ctx(t), e.req(h4Ctx(t), http.MethodGet, o.URL+"/cache/60", "")); err != nil || ok {
						t.Errorf("Contains = %v, %v; want false, nil", ok, err)
					}
					return
				}
				if w.ttl < 0 {
					if !res.Info.Expires.IsZero() {
						t.Errorf("Info.Expires = %v, want zero (never expires)", res.Info.Expires)
					}
				} else if want := t0.Add(w.ttl); !res.Info.Expires.Equal(want) {
					t.Errorf("Info.Expires = %v, want %v (%v after the request)", res.Info.Expires, want, w.ttl)
				}
				// A plain request later: within the lifetime a hit.
				e.clock.Advance(30 * time.Second)
				e.expect(e.get(o.URL+"/cache/60"), 200, "v1", true)
				e.clock.Advance(40 * time.Second)
				if w.ttl < 0 {
					e.expect(e.get(o.URL+"/cache/60"), 200, "v1", true)
				} else {
					e.expect(e.get(o.URL+"/cache/60"), 200, "v2", false)
				}
			})
		}
	}
}

// h4ValidatorOrigin answers conditional requests with 304 when the validator
// matches, else a full response built by full.
func h4ValidatorOrigin(e *env, etag, lastMod string, full func(w http.ResponseWriter, n int)) *origin {
	return e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		inm, ims := r.Header.Get("If-None-Match"), r.Header.Get("If-Modified-Since")
		if (etag != "" && inm == etag) || (lastMod != "" && inm == "" && ims == lastMod) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		if lastMod != "" {
			w.Header().Set("Last-Modified", lastMod)
		}
		full(w, n)
	})
}

// testBaseConditionalRequest: BaseCacheTest item 8. An expired stored
// response with no validator, an ETag, a Last-Modified or both; the origin
// answers conditional requests with 304, so the result comes from the cache
// exactly when there was a validator.
func testBaseConditionalRequest(t *testing.T, s *suite) {
	lm := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	for _, c := range []struct {
		name, etag, lastMod string
	}{
		{"NoValidator", "", ""},
		{"ETag", `"v1"`, ""},
		{"LastModified", "", lm},
		{"Both", `"v1"`, lm},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := s.newEnv(t)
			o := h4ValidatorOrigin(e, c.etag, c.lastMod, func(w http.ResponseWriter, n int) {
				w.Header().Set("Cache-Control", "max-age=1")
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/c"), 200, "v1", false)
			e.clock.Advance(10 * time.Second)
			res := e.get(o.URL + "/c")
			h4Hits(t, o, 2, "after expiry")
			last := o.lastRequest()
			if c.etag != "" && last.Header.Get("If-None-Match") != c.etag {
				t.Errorf("If-None-Match sent = %q, want %q", last.Header.Get("If-None-Match"), c.etag)
			}
			if c.etag == "" && c.lastMod != "" && last.Header.Get("If-Modified-Since") != c.lastMod {
				t.Errorf("If-Modified-Since sent = %q, want %q", last.Header.Get("If-Modified-Since"), c.lastMod)
			}
			if c.etag == "" && c.lastMod == "" {
				if last.Header.Get("If-None-Match") != "" || last.Header.Get("If-Modified-Since") != "" {
					t.Errorf("conditional headers sent without a validator: %v", last.Header)
				}
				e.expect(res, 200, "v2", false)
				return
			}
			e.expect(res, 200, "v1", true)
			if !res.Info.Revalidated {
				t.Errorf("Revalidated = false, want true (Cache-Status %q)", res.Header.Get("Cache-Status"))
			}
		})
	}
}

// testBaseConditionalResponseHeaders: BaseCacheTest item 9. Responses that
// must be revalidated at once (max-age=0, max-age=0 with must-revalidate,
// no-cache, Expires: 0), each with an ETag or a Last-Modified: a 304 serves
// the stored response.
func testBaseConditionalResponseHeaders(t *testing.T, s *suite) {
	lm := time.Now().Add(-48 * time.Hour).UTC().Format(http.TimeFormat)
	for _, h := range []struct{ name, key, value string }{
		{"MaxAge0", "Cache-Control", "max-age=0"},
		{"MaxAge0MustRevalidate", "Cache-Control", "max-age=0, must-revalidate"},
		{"NoCache", "Cache-Control", "no-cache"},
		{"Expires0", "Expires", "0"},
	} {
		for _, v := range []struct{ name, etag, lastMod string }{
			{"ETag", `"abc"`, ""},
			{"LastModified", "", lm},
		} {
			t.Run(h.name+"_"+v.name, func(t *testing.T) {
				e := s.newEnv(t)
				o := h4ValidatorOrigin(e, v.etag, v.lastMod, func(w http.ResponseWriter, n int) {
					w.Header().Set(h.key, h.value)
					fmt.Fprintf(w, "v%d", n)
				})
				first := e.get(o.URL + "/r")
				e.expect(first, 200, "v1", false)
				if !first.Info.Stored {
					t.Errorf("first response not stored (Cache-Status %q), want stored: it has a validator", first.Header.Get("Cache-Status"))
				}
				res := e.get(o.URL + "/r")
				h4Hits(t, o, 2, "second request")
				e.expect(res, 200, "v1", true)
				if !res.Info.Revalidated {
					t.Errorf("Revalidated = false, want true (Cache-Status %q)", res.Header.Get("Cache-Status"))
				}
				last := o.lastRequest()
				if v.etag != "" && last.Header.Get("If-None-Match") != v.etag {
					t.Errorf("If-None-Match = %q, want %q", last.Header.Get("If-None-Match"), v.etag)
				}
				if v.lastMod != "" && last.Header.Get("If-Modified-Since") != v.lastMod {
					t.Errorf("If-Modified-Since = %q, want %q", last.Header.Get("If-Modified-Since"), v.lastMod)
				}
			})
		}
	}
}

// testBaseRevalidationRefreshesExpiry: BaseCacheTest item 10. A 304 carrying
// max-age=60 makes the stale entry fresh again: the next request stays off
// the network.
func testBaseRevalidationRefreshesExpiry(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Header.Get("If-None-Match") == `"e1"` {
			w.Header().Set("Cache-Control", "max-age=60")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"e1"`)
		w.Header().Set("Cache-Control", "max-age=1")
		fmt.Fprintf(w, "v%d", n)
	})
	e.expect(e.get(o.URL+"/x"), 200, "v1", false)
	e.clock.Advance(10 * time.Second)
	t1 := e.clock.Now()
	res := e.get(o.URL + "/x")
	e.expect(res, 200, "v1", true)
	if !res.Info.Revalidated {
		t.Errorf("Revalidated = false, want true (Cache-Status %q)", res.Header.Get("Cache-Status"))
	}
	if want := t1.Add(60 * time.Second); !res.Info.Expires.Equal(want) {
		t.Errorf("Info.Expires after the 304 = %v, want %v", res.Info.Expires, want)
	}
	e.clock.Advance(30 * time.Second)
	res = e.get(o.URL + "/x")
	e.expect(res, 200, "v1", true)
	if res.Info.Revalidated {
		t.Errorf("third request Revalidated = true, want a plain fresh hit")
	}
	e.expectHits(o, 2)
}

// testBaseDeleteExpired: BaseCacheTest item 14. Only responses that are
// still fresh survive DeleteExpired.
func testBaseDeleteExpired(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Path {
		case "/short":
			w.Header().Set("Cache-Control", "max-age=10")
		case "/short-etag":
			w.Header().Set("Cache-Control", "max-age=10")
			w.Header().Set("ETag", `"s"`)
		case "/long":
			w.Header().Set("Cache-Control", "max-age=1000")
		}
		fmt.Fprintf(w, "%s-%d", r.URL.Path, n)
	})
	h4NeedList(t, e)
	for _, p := range []string{"/short", "/short-etag", "/long"} {
		e.get(o.URL + p)
	}
	e.clock.Advance(60 * time.Second)
	n, err := e.cache.DeleteExpired(h4Ctx(t))
	if err != nil {
		t.Fatalf("DeleteExpired: %v", err)
	}
	if n != 2 {
		t.Errorf("DeleteExpired removed %d, want 2", n)
	}
	for _, c := range []struct {
		path string
		want bool
	}{{"/short", false}, {"/short-etag", false}, {"/long", true}} {
		ok, err := e.cache.Contains(h4Ctx(t), e.req(h4Ctx(t), http.MethodGet, o.URL+c.path, ""))
		if err != nil || ok != c.want {
			t.Errorf("Contains(%s) = %v, %v; want %v, nil", c.path, ok, err, c.want)
		}
	}
	e.expect(e.get(o.URL+"/long"), 200, "/long-3", true)
	// The expired-with-validator entry was removed: no conditional request.
	e.get(o.URL + "/short-etag")
	if inm := o.lastRequest().Header.Get("If-None-Match"); inm != "" {
		t.Errorf("request after DeleteExpired sent If-None-Match %q, want none (entry deleted)", inm)
	}
}

// testBaseFilterSecrets: BaseCacheTest item 15. Default ignored parameters in
// a header, a query parameter and a JSON / form body key: the second call is
// a hit and nothing stored contains the secret.
func testBaseFilterSecrets(t *testing.T, s *suite) {
	cases := []struct {
		name         string
		method, path string
		ctype        string
		a, b         string // query or body of the two calls
		hdrA, hdrB   []string
	}{
		{"AuthorizationHeader", http.MethodGet, "/h", "", "", "", []string{"Authorization: Bearer SECRET-ONE"}, []string{"Authorization: Bearer SECRET-TWO"}},
		{"XAPIKeyHeader", http.MethodGet, "/xh", "", "", "", []string{"X-API-Key: SECRET-ONE"}, []string{"x-api-key: SECRET-TWO"}},
		{"QueryParam", http.MethodGet, "/q", "", "?q=1&api_key=SECRET-ONE", "?api_key=SECRET-TWO&q=1", nil, nil},
		{"JSONBody", http.MethodPost, "/j", "application/json", `{"api_key":"SECRET-ONE","q":1}`, `{"q":1,"api_key":"SECRET-TWO"}`, nil, nil},
		{"FormBody", http.MethodPost, "/f", "application/x-www-form-urlencoded", "api_key=SECRET-ONE&q=1", "q=1&api_key=SECRET-TWO", nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := s.newEnv(t, core.WithAllowableMethods("GET", "HEAD", "POST"))
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", "max-age=60")
				fmt.Fprintf(w, "v%d", n)
			})
			mk := func(q string, hdr []string) *http.Request {
				if c.method == http.MethodGet {
					return e.req(h4Ctx(t), c.method, o.URL+c.path+q, "", hdr...)
				}
				return e.req(h4Ctx(t), c.method, o.URL+c.path, q, append(hdr, "Content-Type: "+c.ctype)...)
			}
			first := e.must(mk(c.a, c.hdrA))
			e.expect(first, 200, "v1", false)
			second := e.must(mk(c.b, c.hdrB))
			e.expect(second, 200, "v1", true)
			e.expectHits(o, 1)
			for k, raw := range h4RawValues(t, e, first.Info.Key) {
				if bytes.Contains(raw, []byte("SECRET")) || strings.Contains(k, "SECRET") {
					t.Errorf("stored value under %q contains the secret: %q", k, raw)
				}
			}
			for _, en := range h4Entries(t, e) {
				if strings.Contains(en.URL, "SECRET") || strings.Contains(en.Key, "SECRET") || strings.Contains(fmt.Sprint(en.VaryHeader), "SECRET") {
					t.Errorf("entry %q (URL %q, VaryHeader %v) contains the secret", en.Key, en.URL, en.VaryHeader)
				}
			}
		})
	}
}
