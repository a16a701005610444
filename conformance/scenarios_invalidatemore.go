package conformance

// RFC 9111 §4.4 in every configuration that forwards an unsafe request:
// allowable unsafe methods, bypassed requests, unknown methods, 3xx.

import (
	"net/http"
	"testing"

	"github.com/hoardhttp/hoard/core"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Invalidate/EveryForwardingPath", testInvalidateEveryPath},
		{"Invalidate/SafeMethodsDoNot", testInvalidateSafeMethods},
	})
}

func testInvalidateEveryPath(t *testing.T, s *suite) {
	cases := []struct {
		name   string
		opts   []core.Option
		method string
		status int
		// seed: the cache under test stores nothing (disabled, DoNotCache),
		// so the GET is stored through another cache over the same store.
		seed    bool
		disable bool // the unsafe request carries Disable(ctx)
	}{
		{"POST allowable (a miss that is stored)", []core.Option{core.WithAllowableMethods("GET", "HEAD", "POST")}, http.MethodPost, 200, false, false},
		{"PUT allowable", []core.Option{core.WithAllowableMethods("GET", "HEAD", "PUT")}, http.MethodPut, 204, false, false},
		{"POST with a body over WithMaxKeyedBodySize", []core.Option{core.WithAllowableMethods("GET", "HEAD", "POST"), core.WithMaxKeyedBodySize(2)}, http.MethodPost, 200, false, false},
		{"DELETE with Disable(ctx)", nil, http.MethodDelete, 204, false, true},
		{"PATCH with the cache disabled", []core.Option{core.WithDisabled()}, http.MethodPatch, 200, true, false},
		{"PUT under a DoNotCache URL rule", []core.Option{core.WithURLExpireAfter("*", core.DoNotCache)}, http.MethodPut, 200, true, false},
		{"an unknown method", nil, "REPORTX", 200, false, false},
		{"a lower-case method (another, unknown, method)", nil, "post", 200, false, false},
		{"a 300 is a non-error response", nil, http.MethodPost, 300, false, false},
		{"a 202", nil, http.MethodPost, 202, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, tc.opts...)
			o := e.semInvalidationOrigin(tc.status, nil)
			seed := e
			if tc.seed {
				seed = s.sameStore(t, e)
			}
			seed.expect(seed.get(o.URL+"/a"), 200, "/a-v1", false)
			seed.expect(seed.get(o.URL+"/a"), 200, "/a-v1", true)
			ctx := t.Context()
			if tc.disable {
				ctx = core.Disable(ctx)
			}
			res := e.must(e.req(ctx, tc.method, o.URL+"/a", "body"))
			if res.Status != tc.status {
				t.Fatalf("%s: status %d, want %d", tc.method, res.Status, tc.status)
			}
			if r := seed.get(o.URL + "/a"); r.Info.FromCache {
				t.Errorf("GET after %s %d: served from the cache, want invalidated", tc.method, tc.status)
			}
		})
	}
}

func testInvalidateSafeMethods(t *testing.T, s *suite) {
	// Safe methods (RFC 9110 §9.2.1) invalidate nothing.
	for _, method := range []string{http.MethodOptions, http.MethodHead} {
		t.Run(method, func(t *testing.T) {
			e := s.newEnv(t)
			o := e.semInvalidationOrigin(200, nil)
			e.get(o.URL + "/a")
			e.must(e.req(t.Context(), method, o.URL+"/a", ""))
			e.expect(e.get(o.URL+"/a"), 200, "/a-v1", true)
		})
	}
}

// sameStore returns an env whose cache has the default options over e's
// store and clock, through the same adapter.
func (s *suite) sameStore(t *testing.T, e *env) *env {
	t.Helper()
	c, err := core.New(e.store, core.WithClock(e.clock.Now), semanticsTimeout())
	if err != nil {
		t.Fatalf("core.New: %v", err)
	}
	t.Cleanup(c.Wait)
	return &env{t: t, clock: e.clock, store: e.store, cache: c, do: s.harness.Doer(c)}
}
