package conformance

// RFC 5861: stale-while-revalidate and stale-if-error.

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"StaleWhileRevalidate/ServedStaleThenRefreshed", testSWRServedStale},
		{"StaleWhileRevalidate/OneRefreshFor20Concurrent", testSWROneRefresh},
		{"StaleWhileRevalidate/CancelledCallerContext", testSWRCancelledCaller},
		{"StaleWhileRevalidate/MustRevalidateForbids", testSWRMustRevalidate},
		{"StaleIfError/Matrix", testStaleIfErrorMatrix},
		{"StaleIfError/Statuses", testStaleIfErrorStatuses},
	})
}

// semSWRCases are the two ways to get a 100 s stale-while-revalidate window
// on a max-age=10 response.
var semSWRCases = []struct {
	name string
	cc   string
	opts []core.Option
}{
	{"response directive", "max-age=10, stale-while-revalidate=100", nil},
	{"WithStaleWhileRevalidate", "max-age=10", []core.Option{core.WithStaleWhileRevalidate(100 * time.Second)}},
}

func testSWRServedStale(t *testing.T, s *suite) {
	for _, tc := range semSWRCases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, tc.opts...)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", tc.cc)
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.clock.Advance(20 * time.Second)
			res := e.get(o.URL + "/a")
			e.expect(res, 200, "v1", true)
			e.semExpectInfo(res, true, true, false)
			e.semExpectCS(res, "hit", "detail=stale-while-revalidate")
			e.semExpectAge(res, 20)
			e.cache.Wait()
			e.expectHits(o, 2)
			if bg := e.cache.Stats().Background; bg != 1 {
				t.Errorf("Stats().Background = %d, want 1", bg)
			}
			res = e.get(o.URL + "/a")
			e.expect(res, 200, "v2", true)
			e.semExpectInfo(res, true, false, false)
			e.expectHits(o, 2)
			// Beyond max-age + the window the request waits for the origin.
			e.clock.Advance(200 * time.Second)
			res = e.get(o.URL + "/a")
			e.expect(res, 200, "v3", false)
			if res.Info.Stale {
				t.Errorf("Info.Stale = true beyond the stale-while-revalidate window, want false")
			}
			e.cache.Wait()
			e.expectHits(o, 3)
		})
	}
}

func testSWROneRefresh(t *testing.T, s *suite) {
	for _, tc := range semSWRCases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, tc.opts...)
			release := make(chan struct{})
			var once sync.Once
			releaseAll := func() { once.Do(func() { close(release) }) }
			t.Cleanup(releaseAll)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				if n > 1 {
					// Hold the refresh until every caller has its answer.
					select {
					case <-release:
					case <-time.After(5 * time.Second):
					}
				}
				w.Header().Set("Cache-Control", tc.cc)
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.clock.Advance(20 * time.Second)

			const n = 20
			results := make([]*result, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i], errs[i] = e.send(e.req(t.Context(), http.MethodGet, o.URL+"/a", ""))
				}()
			}
			wg.Wait()
			releaseAll()
			e.cache.Wait()
			for i := range n {
				if errs[i] != nil {
					t.Errorf("request %d: %v", i, errs[i])
					continue
				}
				if r := results[i]; r.Body != "v1" || !r.Info.Stale || !r.Info.FromCache {
					t.Errorf("request %d: got body %q Stale %v FromCache %v, want the stale %q at once", i, r.Body, r.Info.Stale, r.Info.FromCache, "v1")
				}
			}
			e.expectHits(o, 2)
			if bg := e.cache.Stats().Background; bg != 1 {
				t.Errorf("Stats().Background = %d, want 1 refresh for %d stale requests", bg, n)
			}
			res := e.get(o.URL + "/a")
			e.expect(res, 200, "v2", true)
			e.semExpectInfo(res, true, false, false)
			e.expectHits(o, 2)
		})
	}
}

func testSWRCancelledCaller(t *testing.T, s *suite) {
	// Peer bug 5 (bartventer): the refresh ran on the caller's context, so
	// the usual defer cancel() killed it and the entry stayed stale forever.
	for _, tc := range semSWRCases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, tc.opts...)
			cancelled := make(chan struct{})
			var once sync.Once
			t.Cleanup(func() { once.Do(func() { close(cancelled) }) })
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 2 {
					select {
					case <-cancelled:
					case <-time.After(5 * time.Second):
					}
				}
				w.Header().Set("Cache-Control", tc.cc)
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.clock.Advance(20 * time.Second)
			ctx, cancel := context.WithCancel(t.Context())
			res := e.getCtx(ctx, o.URL+"/a")
			cancel()
			once.Do(func() { close(cancelled) })
			e.expect(res, 200, "v1", true)
			e.semExpectInfo(res, true, true, false)
			e.cache.Wait()
			e.expectHits(o, 2)
			res = e.get(o.URL + "/a")
			e.expect(res, 200, "v2", true)
			e.semExpectInfo(res, true, false, false)
			e.cache.Wait()
			e.expectHits(o, 2)
		})
	}
}

func testSWRMustRevalidate(t *testing.T, s *suite) {
	cases := []struct {
		name string
		cc   string
		opts []core.Option
	}{
		{"response directive", "max-age=10, stale-while-revalidate=100, must-revalidate", nil},
		{"WithStaleWhileRevalidate", "max-age=10, must-revalidate", []core.Option{core.WithStaleWhileRevalidate(100 * time.Second)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, tc.opts...)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Cache-Control", tc.cc)
				fmt.Fprintf(w, "v%d", n)
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.clock.Advance(20 * time.Second)
			res := e.get(o.URL + "/a")
			e.expect(res, 200, "v2", false)
			if res.Info.Stale {
				t.Errorf("Info.Stale = true, want false: must-revalidate forbids stale-while-revalidate")
			}
			e.cache.Wait()
			e.expectHits(o, 2)
		})
	}
}

func testStaleIfErrorMatrix(t *testing.T, s *suite) {
	// Peer bug 4: the decision is made on the stored response, the request
	// and the settings, never on the error response (whose own
	// stale-if-error=3600 must be ignored), and must-revalidate wins.
	for _, src := range []string{"response", "request", "option", "none"} {
		for _, failure := range []string{"503", "transport"} {
			for _, mustReval := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/must-revalidate=%v", src, failure, mustReval)
				t.Run(name, func(t *testing.T) {
					var opts []core.Option
					if src == "option" {
						opts = append(opts, core.WithStaleIfError(time.Minute))
					}
					e := s.newEnv(t, opts...)
					cc := "max-age=10"
					if src == "response" {
						cc += ", stale-if-error=60"
					}
					if mustReval {
						cc += ", must-revalidate"
					}
					o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
						if n > 1 {
							w.Header().Set("Cache-Control", "stale-if-error=3600")
							w.WriteHeader(http.StatusServiceUnavailable)
							fmt.Fprint(w, "down")
							return
						}
						w.Header().Set("Cache-Control", cc)
						fmt.Fprintf(w, "v%d", n)
					})
					var hdr []string
					if src == "request" {
						hdr = append(hdr, "Cache-Control: stale-if-error=60")
					}
					e.expect(e.get(o.URL+"/a"), 200, "v1", false)
					if failure == "transport" {
						o.Down()
					}
					wantStale := src != "none" && !mustReval

					check := func(step string, wantStale bool) {
						t.Helper()
						res, err := e.send(e.req(t.Context(), http.MethodGet, o.URL+"/a", "", hdr...))
						switch {
						case wantStale:
							if err != nil {
								t.Errorf("%s: error %v, want the stale response", step, err)
								return
							}
							e.expect(res, 200, "v1", true)
							e.semExpectInfo(res, true, true, false)
							e.semExpectCS(res, "fwd=stale", "detail=stale-if-error")
							e.semExpectAge(res, 20)
							if failure == "503" {
								e.semExpectCS(res, "fwd-status=503")
							}
						case failure == "transport":
							if err == nil {
								t.Errorf("%s: got %d %q (Cache-Status %q), want the transport error", step, res.Status, res.Body, res.Header.Get("Cache-Status"))
							}
						default:
							if err != nil {
								t.Errorf("%s: error %v, want the origin's 503", step, err)
								return
							}
							e.expect(res, 503, "down", false)
							if res.Info.Stale {
								t.Errorf("%s: Info.Stale = true, want false", step)
							}
						}
					}
					e.clock.Advance(20 * time.Second) // 10 s stale: inside a 60 s window
					check("inside the window", wantStale)
					e.clock.Advance(80 * time.Second) // 90 s stale: beyond it
					check("beyond the window", false)
				})
			}
		}
	}
}

// testStaleIfErrorStatuses: RFC 5861 §4 — "an error is any situation that
// would result in a 500, 502, 503 or 504 HTTP response status code being
// returned". Within a stale-if-error window those statuses are answered with
// the stale stored response; any other status, 5xx included (501 Not
// Implemented, 505 HTTP Version Not Supported, ...), is the origin's answer
// and reaches the caller.
func testStaleIfErrorStatuses(t *testing.T, s *suite) {
	for _, tc := range []struct {
		status int
		stale  bool
	}{
		{500, true}, {502, true}, {503, true}, {504, true},
		{501, false}, {505, false}, {507, false}, {511, false}, {599, false},
		{404, false}, {429, false},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			e := s.newEnv(t)
			o := e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
				if n > 1 {
					w.WriteHeader(tc.status)
					fmt.Fprint(w, "error")
					return
				}
				w.Header().Set("Cache-Control", "max-age=10, stale-if-error=60")
				fmt.Fprint(w, "v1")
			})
			e.expect(e.get(o.URL+"/a"), 200, "v1", false)
			e.clock.Advance(20 * time.Second) // 10 s stale: inside the window
			res := e.get(o.URL + "/a")
			e.expectHits(o, 2)
			if tc.stale {
				e.expect(res, 200, "v1", true)
				e.semExpectCS(res, "fwd=stale", "detail=stale-if-error", fmt.Sprintf("fwd-status=%d", tc.status))
				return
			}
			e.expect(res, tc.status, "error", false)
			if res.Info.Stale {
				t.Errorf("Info.Stale = true for a %d, want false (Cache-Status %q)", tc.status, res.Header.Get("Cache-Status"))
			}
		})
	}
}
