package conformance

// Cache keys: URL normalisation (scheme and host case, default port, query
// order, fragment), body normalisation for methods other than GET and HEAD,
// and HEAD / GET.

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hoardhttp/hoard/core"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Keys/SchemeHostCase", testKeysSchemeHostCase},
		{"Keys/DefaultPort", testKeysDefaultPort},
		{"Keys/QueryOrder", testKeysQueryOrder},
		{"Keys/Fragment", testKeysFragment},
		{"Keys/JSONBodyKeyOrder", testKeysJSONBody},
		{"Keys/FormBodyFieldOrder", testKeysFormBody},
		{"Keys/DifferentBodies", testKeysDifferentBodies},
		{"Keys/HeadAndGet", testKeysHeadAndGet},
	})
}

// h4SameKey sends a then b through e.cache.Do with a fake origin and checks
// whether b was served from what a stored.
func h4SameKey(t *testing.T, e *env, method, a, b, ctype, bodyA, bodyB string, same bool) {
	t.Helper()
	var n atomic.Int64
	send := h4FakeSend(e.clock, &n)
	var hdr []string
	if ctype != "" {
		hdr = append(hdr, "Content-Type: "+ctype)
	}
	ra := h4Do(t, e, e.req(h4Ctx(t), method, a, bodyA, hdr...), send)
	rb := h4Do(t, e, e.req(h4Ctx(t), method, b, bodyB, hdr...), send)
	if ra.Info.FromCache {
		t.Errorf("%s %s: FromCache = true on the first request, want a miss", method, a)
	}
	if same {
		if !rb.Info.FromCache || rb.Body != ra.Body || n.Load() != 1 {
			t.Errorf("%s %s after %s: FromCache %v body %q, origin calls %d; want a hit with %q, 1 call",
				method, b, a, rb.Info.FromCache, rb.Body, n.Load(), ra.Body)
		}
		if ra.Info.Key == "" || rb.Info.Key != ra.Info.Key {
			t.Errorf("keys %q and %q, want the same non-empty key", ra.Info.Key, rb.Info.Key)
		}
	} else {
		if rb.Info.FromCache || n.Load() != 2 {
			t.Errorf("%s %s after %s: FromCache %v, origin calls %d; want a miss, 2 calls", method, b, a, rb.Info.FromCache, n.Load())
		}
		if ra.Info.Key != "" && rb.Info.Key == ra.Info.Key {
			t.Errorf("both requests have key %q, want different keys", ra.Info.Key)
		}
	}
}

func testKeysSchemeHostCase(t *testing.T, s *suite) {
	for _, c := range []struct{ name, a, b string }{
		{"Host", "http://EXAMPLE.com/x", "http://example.com/x"},
		{"Scheme", "HTTP://example.com/y", "http://example.com/y"},
		{"Both", "HTTPS://Example.COM/z?q=1", "https://example.com/z?q=1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h4SameKey(t, s.newEnv(t), http.MethodGet, c.a, c.b, "", "", "", true)
		})
	}
	t.Run("PathCaseMatters", func(t *testing.T) {
		h4SameKey(t, s.newEnv(t), http.MethodGet, "http://example.com/Path", "http://example.com/path", "", "", "", false)
	})
	t.Run("ThroughAdapter", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		e.get(h4Q(o, "/c", "cc", "max-age=60"))
		up := strings.Replace(h4Q(o, "/c", "cc", "max-age=60"), "http://", "HTTP://", 1)
		e.expect(e.get(up), 200, "v1", true)
	})
}

func testKeysDefaultPort(t *testing.T, s *suite) {
	for _, c := range []struct {
		name, a, b string
		same       bool
	}{
		{"HTTP80", "http://example.com:80/x", "http://example.com/x", true},
		{"HTTPS443", "https://example.com:443/x", "https://example.com/x", true},
		{"HTTP443NotDefault", "http://example.com:443/x", "http://example.com/x", false},
		{"OtherPort", "http://example.com:8080/x", "http://example.com/x", false},
		{"SchemeMatters", "https://example.com/x", "http://example.com/x", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h4SameKey(t, s.newEnv(t), http.MethodGet, c.a, c.b, "", "", "", c.same)
		})
	}
}

func testKeysQueryOrder(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o, _ := h4FlexOrigin(e)
	e.get(o.URL + "/q?a=1&b=2&cc=max-age%3D60")
	e.expect(e.get(o.URL+"/q?cc=max-age%3D60&b=2&a=1"), 200, "v1", true)
	e.expect(e.get(o.URL+"/q?b=2&a=1&cc=max-age%3D60"), 200, "v1", true)
	// Values matter.
	e.expect(e.get(o.URL+"/q?a=2&b=1&cc=max-age%3D60"), 200, "v2", false)
	t.Run("FakeOrigin", func(t *testing.T) {
		h4SameKey(t, s.newEnv(t), http.MethodGet, "http://example.com/q?z=1&a=2&m=3", "http://example.com/q?a=2&m=3&z=1", "", "", "", true)
	})
}

func testKeysFragment(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o, _ := h4FlexOrigin(e)
	e.get(h4Q(o, "/f", "cc", "max-age=60") + "#section-1")
	e.expect(e.get(h4Q(o, "/f", "cc", "max-age=60")), 200, "v1", true)
	e.expect(e.get(h4Q(o, "/f", "cc", "max-age=60")+"#other"), 200, "v1", true)
	t.Run("FakeOrigin", func(t *testing.T) {
		h4SameKey(t, s.newEnv(t), http.MethodGet, "http://example.com/f#a", "http://example.com/f", "", "", "", true)
	})
}

func testKeysJSONBody(t *testing.T, s *suite) {
	for _, c := range []struct {
		name, a, b string
		same       bool
	}{
		{"KeyOrder", `{"a":1,"b":2}`, `{"b":2,"a":1}`, true},
		{"Whitespace", `{"a": 1, "b": [1,2]}`, `{"b":[1,2],"a":1}`, true},
		{"DifferentValue", `{"a":1,"b":2}`, `{"a":1,"b":3}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := s.newEnv(t, core.WithAllowableMethods("GET", "HEAD", "POST"))
			h4SameKey(t, e, http.MethodPost, "http://example.com/j", "http://example.com/j", "application/json", c.a, c.b, c.same)
		})
	}
	t.Run("ThroughAdapter", func(t *testing.T) {
		e := s.newEnv(t, core.WithAllowableMethods("GET", "HEAD", "POST"))
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/j", "cc", "max-age=60")
		e.must(e.req(h4Ctx(t), http.MethodPost, u, `{"x":"1","y":[true,null]}`, "Content-Type: application/json"))
		r := e.must(e.req(h4Ctx(t), http.MethodPost, u, `{"y":[true,null],"x":"1"}`, "Content-Type: application/json"))
		e.expect(r, 200, "v1", true)
	})
}

func testKeysFormBody(t *testing.T, s *suite) {
	for _, c := range []struct {
		name, a, b string
		same       bool
	}{
		{"FieldOrder", "a=1&b=2&c=3", "c=3&a=1&b=2", true},
		{"DifferentValue", "a=1&b=2", "a=1&b=3", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := s.newEnv(t, core.WithAllowableMethods("GET", "HEAD", "POST"))
			h4SameKey(t, e, http.MethodPost, "http://example.com/f", "http://example.com/f", "application/x-www-form-urlencoded", c.a, c.b, c.same)
		})
	}
}

func testKeysDifferentBodies(t *testing.T, s *suite) {
	for _, c := range []struct{ name, ctype, a, b string }{
		{"Raw", "application/octet-stream", "hello", "world"},
		{"RawOrderMatters", "text/plain", "a=1&b=2", "b=2&a=1"},
		{"EmptyVsNonEmpty", "text/plain", "", "x"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := s.newEnv(t, core.WithAllowableMethods("GET", "HEAD", "POST", "PUT"))
			h4SameKey(t, e, http.MethodPut, "http://example.com/b", "http://example.com/b", c.ctype, c.a, c.b, false)
		})
	}
	t.Run("MethodMatters", func(t *testing.T) {
		e := s.newEnv(t, core.WithAllowableMethods("GET", "HEAD", "POST", "PUT"))
		var n atomic.Int64
		send := h4FakeSend(e.clock, &n)
		a := h4Do(t, e, e.req(h4Ctx(t), http.MethodPost, "http://example.com/m", "x"), send)
		b := h4Do(t, e, e.req(h4Ctx(t), http.MethodPut, "http://example.com/m", "x"), send)
		if b.Info.FromCache || a.Info.Key == b.Info.Key {
			t.Errorf("PUT after POST with the same body: FromCache %v, keys %q %q; want a miss, different keys", b.Info.FromCache, a.Info.Key, b.Info.Key)
		}
	})
}

func testKeysHeadAndGet(t *testing.T, s *suite) {
	t.Run("HeadServedFromGet", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/hg", "cc", "max-age=60")
		g := e.get(u)
		r := e.must(e.req(h4Ctx(t), http.MethodHead, u, ""))
		if !r.Info.FromCache || r.Status != 200 {
			t.Errorf("HEAD after GET: status %d FromCache %v, want 200 from the cache", r.Status, r.Info.FromCache)
		}
		if r.Body != "" {
			t.Errorf("HEAD body = %q, want empty", r.Body)
		}
		if r.Header.Get("Content-Type") != g.Header.Get("Content-Type") {
			t.Errorf("HEAD Content-Type = %q, want the GET's %q", r.Header.Get("Content-Type"), g.Header.Get("Content-Type"))
		}
		e.expectHits(o, 1)
	})
	t.Run("HeadContentLength", func(t *testing.T) {
		// A response to HEAD has no content, but its ContentLength is the
		// length the origin announced (RFC 9110 §8.6, §9.3.2), whether it
		// is passed through, stored on a miss, or served from the cache.
		const size = 1234
		e := s.newEnv(t)
		o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
			cc := "max-age=60"
			if strings.HasSuffix(r.URL.Path, "/uncached") {
				cc = "no-store"
			}
			w.Header().Set("Cache-Control", cc)
			w.Header().Set("Content-Length", fmt.Sprint(size))
			if r.Method != http.MethodHead {
				io.WriteString(w, strings.Repeat("x", size))
			}
		})
		for _, step := range []struct {
			name, method, path string
			fromCache          bool
		}{
			{"uncached HEAD", http.MethodHead, "/uncached", false},
			{"HEAD miss, stored", http.MethodHead, "/head", false},
			{"HEAD hit", http.MethodHead, "/head", true},
			{"GET miss, stored", http.MethodGet, "/get", false},
			{"HEAD answered from the stored GET", http.MethodHead, "/get", true},
		} {
			r := e.must(e.req(h4Ctx(t), step.method, o.URL+step.path, ""))
			if r.Status != 200 || r.ContentLength != size || r.Info.FromCache != step.fromCache {
				t.Errorf("%s: status %d, ContentLength %d, FromCache %v; want 200, %d, %v (Cache-Status %q)",
					step.name, r.Status, r.ContentLength, r.Info.FromCache, size, step.fromCache, r.Header.Get("Cache-Status"))
			}
		}
	})
	t.Run("HeadEntryDoesNotServeGet", func(t *testing.T) {
		e := s.newEnv(t)
		o, _ := h4FlexOrigin(e)
		u := h4Q(o, "/h", "cc", "max-age=60")
		h := e.must(e.req(h4Ctx(t), http.MethodHead, u, ""))
		if !h.Info.Stored {
			t.Errorf("HEAD response Stored = false, want true (HEAD is allowable by default)")
		}
		g := e.get(u)
		e.expect(g, 200, "v2", false)
		if h.Info.Key == "" || h.Info.Key == g.Info.Key {
			t.Errorf("HEAD key %q, GET key %q; want distinct non-empty keys", h.Info.Key, g.Info.Key)
		}
		e.expectHits(o, 2)
	})
}
