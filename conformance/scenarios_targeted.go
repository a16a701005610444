package conformance

// RFC 9213: targeted cache-control fields, with
// core.WithTargetedCacheControl.

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Targeted/ReplacesCacheControl", testTargetedReplaces},
		{"Targeted/OffByDefault", testTargetedOff},
	})
}

func testTargetedReplaces(t *testing.T, s *suite) {
	// §2.2: the first field of the target list that is present, non-empty
	// and valid replaces Cache-Control and Expires; an invalid one is
	// ignored as if absent (§2.1).
	list := core.WithTargetedCacheControl("Example-Cache-Control", "CDN-Cache-Control")
	cases := []struct {
		name   string
		opts   []core.Option
		hdr    map[string]string
		stored bool
		fresh  time.Duration // still fresh at (0: not fresh at 1 s)
	}{
		{"longer lifetime than Cache-Control", nil,
			map[string]string{"Cache-Control": "max-age=60", "CDN-Cache-Control": "max-age=600"}, true, 599 * time.Second},
		{"shorter lifetime than Cache-Control", nil,
			map[string]string{"Cache-Control": "max-age=600", "CDN-Cache-Control": "max-age=60"}, true, 59 * time.Second},
		{"stores what Cache-Control forbids", nil,
			map[string]string{"Cache-Control": "no-store", "CDN-Cache-Control": "max-age=600"}, true, 599 * time.Second},
		{"forbids what Cache-Control allows", nil,
			map[string]string{"Cache-Control": "max-age=600", "CDN-Cache-Control": "no-store"}, false, 0},
		{"Expires is ignored", nil,
			map[string]string{"Expires": "EXPIRES+1h", "CDN-Cache-Control": "must-revalidate"}, false, 0},
		{"a field that does not parse is ignored", nil,
			map[string]string{"Cache-Control": "max-age=60", "CDN-Cache-Control": "Max-Age=600"}, true, 59 * time.Second},
		{"an empty field is ignored", nil,
			map[string]string{"Cache-Control": "max-age=60", "CDN-Cache-Control": ""}, true, 59 * time.Second},
		{"the first of the list wins", nil,
			map[string]string{"Cache-Control": "max-age=10", "Example-Cache-Control": "max-age=100", "CDN-Cache-Control": "max-age=1000"}, true, 99 * time.Second},
		{"an invalid first gives way to the next", nil,
			map[string]string{"Cache-Control": "max-age=10", "Example-Cache-Control": "max-age=1.5.5", "CDN-Cache-Control": "max-age=1000"}, true, 999 * time.Second},
		{"a field not on the list changes nothing", nil,
			map[string]string{"Cache-Control": "max-age=10", "Other-Cache-Control": "max-age=1000"}, true, 9 * time.Second},
		{"shared mode: s-maxage in the targeted field", []core.Option{core.WithShared()},
			map[string]string{"Cache-Control": "max-age=10", "CDN-Cache-Control": "max-age=20, s-maxage=200"}, true, 199 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, append([]core.Option{list}, tc.opts...)...)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				for k, v := range tc.hdr {
					if v == "EXPIRES+1h" {
						v = semHTTPTime(e.clock.Now().Add(time.Hour))
					}
					w.Header()[http.CanonicalHeaderKey(k)] = []string{v}
				}
				fmt.Fprintf(w, "v%d", n)
			})
			res := e.get(o.URL + "/a")
			if res.Info.Stored != tc.stored {
				t.Fatalf("stored = %v, want %v (Cache-Status %q)", res.Info.Stored, tc.stored, res.Header.Get("Cache-Status"))
			}
			for k := range tc.hdr {
				if _, ok := res.Header[http.CanonicalHeaderKey(k)]; !ok {
					t.Errorf("the response lost %s: targeted fields are passed on", k)
				}
			}
			if tc.fresh == 0 {
				e.clock.Advance(time.Second)
				e.expect(e.get(o.URL+"/a"), 200, "v2", false)
				return
			}
			e.clock.Advance(tc.fresh)
			hit := e.get(o.URL + "/a")
			e.expect(hit, 200, "v1", true)
			if _, ok := hit.Header["Cdn-Cache-Control"]; !ok && tc.hdr["CDN-Cache-Control"] != "" {
				t.Errorf("the stored response lost CDN-Cache-Control")
			}
			e.clock.Advance(2 * time.Second)
			e.expect(e.get(o.URL+"/a"), 200, "v2", false)
		})
	}
}

func testTargetedOff(t *testing.T, s *suite) {
	// Without WithTargetedCacheControl, in private and shared mode, a
	// targeted field is passed through and changes nothing (§2.2: fields not
	// on the target list "MUST NOT change that cache's behaviour").
	for _, mode := range []struct {
		name string
		opts []core.Option
	}{{"private", nil}, {"shared", []core.Option{core.WithShared()}}} {
		t.Run(mode.name, func(t *testing.T) {
			e := s.newEnv(t, mode.opts...)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", "no-store")
				w.Header().Set("CDN-Cache-Control", "max-age=600")
				fmt.Fprintf(w, "v%d", n)
			})
			res := e.get(o.URL + "/a")
			if res.Info.Stored {
				t.Errorf("stored a no-store response for its CDN-Cache-Control")
			}
			if res.Header.Get("CDN-Cache-Control") != "max-age=600" {
				t.Errorf("CDN-Cache-Control not passed through: %v", res.Header)
			}
			e.expect(e.get(o.URL+"/a"), 200, "v2", false)
		})
	}
}
