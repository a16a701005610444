package conformance

// The request as it goes on the wire. Field names are case-insensitive (RFC
// 9110 §5.1): net/http sends a header whose map key is not canonical exactly
// as given, so every rule of the cache that reads a header must see every
// spelling of its name. And net/http sends Request.Host, when set, instead of
// URL.Host (RFC 9110 §7.2): the effective host is part of the key, of the
// stored URL and of the invalidation targets (RFC 9111 §4, §4.4).
//
// The scenarios build requests with header keys exactly as written
// (rawReq); each adapter's harness must hand them to its library in a way
// that keeps them as they are, and translate Request.Host into the
// library's own way of setting the Host.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Wire/SharedLowercaseAuthorization", testWireSharedAuthorization},
		{"Wire/LowercaseVaryHeader", testWireLowercaseVary},
		{"Wire/LowercaseRequestNoCache", testWireLowercaseNoCache},
		{"Wire/LowercaseMatchedHeader", testWireLowercaseMatched},
		{"Wire/LowercaseIgnoredVaryHeader", testWireLowercaseIgnored},
		{"Wire/LowercaseCallerConditional", testWireLowercaseConditional},
		{"Wire/HostSelectsEntry", testWireHost},
		{"Wire/HostInvalidates", testWireHostInvalidates},
	})
}

// rawReq is req with the header names kept exactly as written ("name:
// value" pairs), as a caller does with req.Header["name"] = ....
func (e *env) rawReq(ctx context.Context, method, url, body string, hdr ...string) *http.Request {
	e.t.Helper()
	r := e.req(ctx, method, url, body)
	for _, h := range hdr {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			e.t.Fatalf("bad header %q", h)
		}
		k = strings.TrimSpace(k)
		r.Header[k] = append(r.Header[k], strings.TrimSpace(v))
	}
	return r
}

// rawGet sends a GET with header names as written.
func (e *env) rawGet(url string, hdr ...string) *result {
	e.t.Helper()
	return e.must(e.rawReq(e.t.Context(), http.MethodGet, url, "", hdr...))
}

// hostGet sends a GET to url with Request.Host set to host.
func (e *env) hostGet(url, host string) *result {
	e.t.Helper()
	r := e.req(e.t.Context(), http.MethodGet, url, "")
	r.Host = host
	return e.must(r)
}

func testWireSharedAuthorization(t *testing.T, s *suite) {
	// RFC 9111 §3.5: a shared cache stores a response to a request with
	// Authorization only when the response allows it, however the name is
	// spelled.
	for _, name := range []string{"authorization", "AUTHORIZATION", "aUtHoRiZaTiOn"} {
		t.Run(name, func(t *testing.T) {
			e := s.newEnv(t, core.WithShared())
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", "max-age=60")
				fmt.Fprintf(w, "[%s]-v%d", r.Header.Get("Authorization"), n)
			})
			res := e.rawGet(o.URL+"/a", name+": Bearer alice")
			e.expect(res, 200, "[Bearer alice]-v1", false)
			if res.Info.Stored {
				t.Errorf("response to a request with %q stored by a shared cache (Cache-Status %q), want not stored", name, res.Header.Get("Cache-Status"))
			}
			anon := e.get(o.URL + "/a")
			e.expect(anon, 200, "[]-v2", false)
			e.expectHits(o, 2)
		})
	}
}

func testWireLowercaseVary(t *testing.T, s *suite) {
	// §4.1: the selecting header is found whatever its spelling, in the
	// request that stores and in the request that is served.
	newEnv := func(t *testing.T) (*env, *origin) {
		e := s.newEnv(t)
		o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Vary", "Accept-Language")
			fmt.Fprintf(w, "[%s]-v%d", r.Header.Get("Accept-Language"), n)
		})
		return e, o
	}
	t.Run("PresentThenAbsent", func(t *testing.T) {
		e, o := newEnv(t)
		e.expect(e.rawGet(o.URL+"/a", "accept-language: fr"), 200, "[fr]-v1", false)
		e.expect(e.get(o.URL+"/a"), 200, "[]-v2", false)
		e.expect(e.rawGet(o.URL+"/a", "accept-language: fr"), 200, "[fr]-v1", true)
		e.expect(e.get(o.URL+"/a", "Accept-Language: fr"), 200, "[fr]-v1", true)
		e.expect(e.get(o.URL+"/a"), 200, "[]-v2", true)
		e.expectHits(o, 2)
	})
	t.Run("AbsentThenPresent", func(t *testing.T) {
		e, o := newEnv(t)
		e.expect(e.get(o.URL+"/a"), 200, "[]-v1", false)
		e.expect(e.rawGet(o.URL+"/a", "accept-language: fr"), 200, "[fr]-v2", false)
		e.expect(e.rawGet(o.URL+"/a", "ACCEPT-LANGUAGE: fr"), 200, "[fr]-v2", true)
		e.expect(e.rawGet(o.URL+"/a", "accept-language: de"), 200, "[de]-v3", false)
		e.expectHits(o, 3)
	})
	t.Run("SpellingsMerged", func(t *testing.T) {
		// Two spellings of one name are one field (RFC 9110 §5.3): their
		// values combine, in the order net/http writes them (sorted by
		// spelling: "Accept-Language" before "accept-language").
		e, o := newEnv(t)
		e.expect(e.get(o.URL+"/a", "Accept-Language: en, fr"), 200, "[en, fr]-v1", false)
		e.expect(e.rawGet(o.URL+"/a", "Accept-Language: en", "accept-language: fr"), 200, "[en, fr]-v1", true)
		e.expectHits(o, 1)
	})
}

func testWireLowercaseNoCache(t *testing.T, s *suite) {
	// §5.2.1.4 and §5.4: request no-cache and Pragma: no-cache make the
	// cache validate the stored response, however the field is spelled.
	for _, hdr := range []string{"cache-control: no-cache", "CACHE-CONTROL: no-cache", "pragma: no-cache", "cache-control: max-age=0"} {
		t.Run(hdr, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", "max-age=60")
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.expect(e.rawGet(o.URL+"/a", hdr), 200, "v2", false)
			e.expectHits(o, 2)
		})
	}
	t.Run("only-if-cached", func(t *testing.T) {
		e := s.newEnv(t)
		o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=60")
			fmt.Fprintf(w, "v%d", n)
		})
		res := e.rawGet(o.URL+"/a", "cache-control: only-if-cached")
		if res.Status != http.StatusGatewayTimeout {
			t.Errorf("lower-case only-if-cached with nothing stored: status %d, want 504", res.Status)
		}
		e.expectHits(o, 0)
	})
}

func testWireLowercaseMatched(t *testing.T, s *suite) {
	handler := func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "[%s]-v%d", r.Header.Get("X-Tenant"), n)
	}
	t.Run("WithMatchHeaders", func(t *testing.T) {
		e := s.newEnv(t, core.WithMatchHeaders("X-Tenant"))
		o := e.newOrigin(handler)
		e.expect(e.rawGet(o.URL+"/a", "x-tenant: a"), 200, "[a]-v1", false)
		e.expect(e.rawGet(o.URL+"/a", "x-tenant: b"), 200, "[b]-v2", false)
		e.expect(e.get(o.URL+"/a"), 200, "[]-v3", false)
		e.expect(e.rawGet(o.URL+"/a", "x-tenant: a"), 200, "[a]-v1", true)
		e.expect(e.get(o.URL+"/a", "X-Tenant: b"), 200, "[b]-v2", true)
		e.expectHits(o, 3)
	})
	t.Run("WithMatchAllHeaders", func(t *testing.T) {
		e := s.newEnv(t, core.WithMatchAllHeaders())
		o := e.newOrigin(handler)
		e.expect(e.rawGet(o.URL+"/a", "x-tenant: a"), 200, "[a]-v1", false)
		e.expect(e.get(o.URL+"/a", "X-Tenant: a"), 200, "[a]-v1", true)
		e.expect(e.rawGet(o.URL+"/a", "X-TENANT: b"), 200, "[b]-v2", false)
		e.expectHits(o, 2)
	})
}

func testWireLowercaseIgnored(t *testing.T, s *suite) {
	// A response that varies on an ignored header the request carries is
	// never stored (one caller's credentials would select it for another).
	e := s.newEnv(t)
	o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "X-API-Key")
		fmt.Fprintf(w, "[%s]-v%d", r.Header.Get("X-Api-Key"), n)
	})
	res := e.rawGet(o.URL+"/a", "x-api-key: k1")
	e.expect(res, 200, "[k1]-v1", false)
	if res.Info.Stored {
		t.Errorf("response varying on an ignored header the request carries (as x-api-key) stored, want not stored")
	}
	e.expect(e.get(o.URL+"/a"), 200, "[]-v2", false)
	e.expect(e.rawGet(o.URL+"/a", "x-api-key: k1"), 200, "[k1]-v3", false)
	e.expectHits(o, 3)
}

func testWireLowercaseConditional(t *testing.T, s *suite) {
	// RFC 9111 §4.3.2: the caller's own conditional request is evaluated
	// against a fresh stored response, and forwarded as it is otherwise, so
	// that a 304 reaches the caller who asked for one.
	newEnv := func(t *testing.T) (*env, *origin, string) {
		e := s.newEnv(t)
		lm := semHTTPTime(e.clock.Now().Add(-time.Hour))
		o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("ETag", `"e1"`)
			w.Header().Set("Last-Modified", lm)
			if strings.Contains(r.Header.Get("If-None-Match"), `"e1"`) {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			fmt.Fprintf(w, "v%d", n)
		})
		return e, o, lm
	}
	t.Run("FreshIfNoneMatch", func(t *testing.T) {
		e, o, _ := newEnv(t)
		e.expect(e.get(o.URL+"/a"), 200, "v1", false)
		e.expect(e.rawGet(o.URL+"/a", `if-none-match: "e1"`), 304, "", true)
		e.expectHits(o, 1)
	})
	t.Run("FreshIfModifiedSince", func(t *testing.T) {
		e, o, lm := newEnv(t)
		e.expect(e.get(o.URL+"/a"), 200, "v1", false)
		e.expect(e.rawGet(o.URL+"/a", "if-modified-since: "+lm), 304, "", true)
		e.expectHits(o, 1)
	})
	t.Run("StaleForwarded", func(t *testing.T) {
		e, o, _ := newEnv(t)
		e.expect(e.get(o.URL+"/a"), 200, "v1", false)
		e.clock.Advance(2 * time.Minute)
		res := e.rawGet(o.URL+"/a", `if-none-match: "e1"`)
		if res.Status != http.StatusNotModified {
			t.Errorf("caller's own lower-case if-none-match on a stale entry: status %d, want the origin's 304", res.Status)
		}
		e.expectHits(o, 2)
	})
}

// hostOrigin answers a GET with the Host it received, cacheable for a
// minute, and an unsafe request with a 201 carrying hdr ("Name: value").
func hostOrigin(e *env, hdr ...string) *origin {
	return e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			for _, h := range hdr {
				k, v, _ := strings.Cut(h, ":")
				w.Header().Set(k, strings.TrimSpace(v))
			}
			w.WriteHeader(http.StatusCreated)
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "%s%s-v%d", r.Host, r.URL.Path, n)
	})
}

func testWireHost(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o := hostOrigin(e)
	a := e.hostGet(o.URL+"/a", "tenant-a.example")
	e.expect(a, 200, "tenant-a.example/a-v1", false)
	b := e.hostGet(o.URL+"/a", "tenant-b.example")
	e.expect(b, 200, "tenant-b.example/a-v2", false)
	if a.Info.Key == "" || a.Info.Key == b.Info.Key {
		t.Errorf("keys for Host tenant-a and tenant-b: %q and %q, want different non-empty keys", a.Info.Key, b.Info.Key)
	}
	e.expect(e.hostGet(o.URL+"/a", "tenant-a.example"), 200, "tenant-a.example/a-v1", true)
	// The Host is normalised like URL.Host: case and the default port.
	e.expect(e.hostGet(o.URL+"/a", "TENANT-B.example:80"), 200, "tenant-b.example/a-v2", true)
	// Without Host the URL's host is the one on the wire.
	e.expect(e.get(o.URL+"/a"), 200, h4Host(o)+"/a-v3", false)
	e.expect(e.hostGet(o.URL+"/a", h4Host(o)), 200, h4Host(o)+"/a-v3", true)
	e.expectHits(o, 3)
}

func testWireHostInvalidates(t *testing.T, s *suite) {
	// §4.4: the target URI of the unsafe request, and a same-origin Location
	// resolved against it, name the effective host's entries; another
	// host's entries are not touched, even when Content-Location names them.
	e := s.newEnv(t)
	const ha, hb = "tenant-a.example", "tenant-b.example"
	o := hostOrigin(e, "Location: /b", "Content-Location: http://"+ha+"/b")
	for _, p := range []string{"/a", "/b"} {
		for _, h := range []string{ha, hb} {
			want := fmt.Sprintf("%s%s-v%d", h, p, o.hits()+1)
			e.expect(e.hostGet(o.URL+p, h), 200, want, false)
		}
	}
	e.expectHits(o, 4)
	post := e.req(e.t.Context(), http.MethodPost, o.URL+"/a", "x")
	post.Host = hb
	if res := e.must(post); res.Status != http.StatusCreated {
		t.Fatalf("POST: status %d, want 201", res.Status)
	}
	e.expectHits(o, 5)
	e.expect(e.hostGet(o.URL+"/a", ha), 200, ha+"/a-v1", true)
	e.expect(e.hostGet(o.URL+"/b", ha), 200, ha+"/b-v3", true)
	e.expect(e.hostGet(o.URL+"/a", hb), 200, hb+"/a-v6", false)
	e.expect(e.hostGet(o.URL+"/b", hb), 200, hb+"/b-v7", false)
	e.expectHits(o, 7)
}
