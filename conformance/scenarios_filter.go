package conformance

// Management by filter: EntriesWhere, Count and CountWhere, DeleteWhere and
// DeleteURLs agree with Entries over every store; and the Info fields Age
// and IsExpired.

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

func init() {
	scenarioGroups = append(scenarioGroups, []scenario{
		{"Manage/Filter", testManageFilter},
		{"Manage/DeleteWhere", testManageDeleteWhere},
		{"Manage/DeleteURLs", testManageDeleteURLs},
		{"Manage/CountNotSupported", testManageCountNotSupported},
		{"Info/AgeAndExpiry", testInfoAgeExpiry},
	})
}

// filterWorld is a cache holding responses of two origins with several
// methods, statuses, variants, ages and lifetimes.
type filterWorld struct {
	e      *env
	o1, o2 *origin
	// url names every stored response: "1/a" (origin 1, path /a), "1/v/en",
	// "1/v/fr" (variants), "1/p" (POST), ...; bodies holds each one's body.
	url    map[string]string
	bodies map[string]string
}

// filterOrigin answers with the status of ?st=, the Cache-Control of ?cc=
// and the Vary of ?vary=, and a body naming the request.
func filterOrigin(e *env) *origin {
	return e.newOrigin(func(w http.ResponseWriter, r *http.Request, n int) {
		q := r.URL.Query()
		if cc := q.Get("cc"); cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		if v := q.Get("vary"); v != "" {
			w.Header().Set("Vary", v)
		}
		st := http.StatusOK
		if s := q.Get("st"); s != "" {
			st, _ = strconv.Atoi(s)
		}
		w.WriteHeader(st)
		fmt.Fprintf(w, "%s %s #%d %s", r.Method, r.URL.Path, n, r.Header.Get("Accept-Language"))
	})
}

func newFilterWorld(t *testing.T, s *suite) *filterWorld {
	e := s.newEnv(t, core.WithAllowableMethods("GET", "HEAD", "POST"), core.WithAllowableCodes(200, 301, 404))
	h4NeedList(t, e)
	w := &filterWorld{e: e, o1: filterOrigin(e), o2: filterOrigin(e), url: map[string]string{}, bodies: map[string]string{}}
	get := func(name string, o *origin, path string, kv []string, hdr ...string) {
		u := h4Q(o, path, kv...)
		r := e.get(u, hdr...)
		if !r.Info.Stored {
			t.Fatalf("%s (%s) was not stored: Cache-Status %q", name, u, r.Header.Get("Cache-Status"))
		}
		w.url[name], w.bodies[name] = u, r.Body
	}
	// Origin 2 first, 100 s before the rest.
	get("2/a", w.o2, "/a", []string{"cc", "max-age=1000"})
	get("2/c", w.o2, "/c", []string{"cc", "max-age=1000", "st", "301"})
	e.clock.Advance(100 * time.Second)
	get("1/a", w.o1, "/a", []string{"cc", "max-age=1000"})
	get("1/b/x", w.o1, "/b/x", []string{"cc", "max-age=1000", "st", "404"})
	get("1/b/y", w.o1, "/b/y", []string{"cc", "max-age=10, stale-if-error=100000"})
	get("1/v/en", w.o1, "/v", []string{"cc", "max-age=1000", "vary", "Accept-Language"}, "Accept-Language: en")
	get("1/v/fr", w.o1, "/v", []string{"cc", "max-age=1000", "vary", "Accept-Language"}, "Accept-Language: fr")
	pu := h4Q(w.o1, "/p", "cc", "max-age=1000")
	r := e.must(e.req(h4Ctx(t), http.MethodPost, pu, "payload"))
	if !r.Info.Stored {
		t.Fatalf("POST %s was not stored: Cache-Status %q", pu, r.Header.Get("Cache-Status"))
	}
	w.url["1/p"], w.bodies["1/p"] = pu, r.Body
	e.clock.Advance(30 * time.Second) // 1/b/y is now expired; 2/* are 130 s old, 1/* 30 s
	return w
}

// names maps entries back to the names of the world.
func (w *filterWorld) names(t *testing.T, ents []*core.Entry) []string {
	t.Helper()
	var out []string
	for _, en := range ents {
		name := ""
		for n, u := range w.url {
			if en.URL == u && (n == "1/p") == (en.Method == http.MethodPost) &&
				(!strings.HasPrefix(n, "1/v/") || en.VaryHeader.Get("Accept-Language") == strings.TrimPrefix(n, "1/v/")) {
				name = n
			}
		}
		if name == "" {
			t.Errorf("entry %s %s (key %q) is none of the responses stored", en.Method, en.URL, en.Key)
			continue
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func (w *filterWorld) where(t *testing.T, f core.Filter) []*core.Entry {
	t.Helper()
	var out []*core.Entry
	for en, err := range w.e.cache.EntriesWhere(h4Ctx(t), f) {
		if err != nil {
			t.Fatalf("EntriesWhere(%+v): %v", f, err)
		}
		if en.Key == "" || en.Variants != nil {
			t.Errorf("EntriesWhere(%+v) yielded key %q (index %v), want responses with their keys", f, en.Key, en.Variants != nil)
		}
		out = append(out, en)
	}
	return out
}

func testManageFilter(t *testing.T, s *suite) {
	w := newFilterWorld(t, s)
	h1, h2 := h4Host(w.o1), h4Host(w.o2)
	all := []string{"1/a", "1/b/x", "1/b/y", "1/p", "1/v/en", "1/v/fr", "2/a", "2/c"}
	for _, tc := range []struct {
		name string
		f    core.Filter
		want []string
	}{
		{"zero", core.Filter{}, all},
		{"URL prefix", core.Filter{URL: h1 + "/b"}, []string{"1/b/x", "1/b/y"}},
		{"URL with scheme", core.Filter{URL: "https://" + h1 + "/b/"}, []string{"1/b/x", "1/b/y"}},
		{"URL glob ?", core.Filter{URL: h1 + "/b/?"}, []string{"1/b/x", "1/b/y"}},
		{"URL glob *", core.Filter{URL: "*/a?cc="}, []string{"1/a", "2/a"}},
		{"URL none", core.Filter{URL: h1 + "/zzz"}, nil},
		{"host with port", core.Filter{Host: h2}, []string{"2/a", "2/c"}},
		{"host without port", core.Filter{Host: "127.0.0.1"}, all},
		{"host other", core.Filter{Host: "example.com"}, nil},
		{"method", core.Filter{Method: "post"}, []string{"1/p"}},
		{"status", core.Filter{Status: []int{404}}, []string{"1/b/x"}},
		{"statuses", core.Filter{Status: []int{301, 404}}, []string{"1/b/x", "2/c"}},
		{"expired", core.Filter{Expiry: core.OnlyExpired}, []string{"1/b/y"}},
		{"fresh", core.Filter{Expiry: core.OnlyFresh}, []string{"1/a", "1/b/x", "1/p", "1/v/en", "1/v/fr", "2/a", "2/c"}},
		{"older than", core.Filter{OlderThan: 60 * time.Second}, []string{"2/a", "2/c"}},
		{"URLs variants", core.Filter{URLs: []string{w.url["1/v/en"]}}, []string{"1/v/en", "1/v/fr"}},
		{"URLs normalised", core.Filter{URLs: []string{strings.Replace(w.url["1/a"], "http://", "HTTP://", 1), w.url["1/p"]}}, []string{"1/a", "1/p"}},
		{"combined", core.Filter{Host: h1, Status: []int{200}, Expiry: core.OnlyFresh}, []string{"1/a", "1/p", "1/v/en", "1/v/fr"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := w.names(t, w.where(t, tc.f))
			if !slices.Equal(got, tc.want) {
				t.Errorf("EntriesWhere(%+v) = %v, want %v", tc.f, got, tc.want)
			}
			n, err := w.e.cache.CountWhere(h4Ctx(t), tc.f)
			if err != nil || n != len(tc.want) {
				t.Errorf("CountWhere(%+v) = %d, %v; want %d, nil (as many as EntriesWhere)", tc.f, n, err, len(tc.want))
			}
		})
	}
	if n, err := w.e.cache.Count(h4Ctx(t)); err != nil || n != len(all) {
		t.Errorf("Count = %d, %v; want %d, nil", n, err, len(all))
	}
	if got := w.names(t, h4Entries(t, w.e)); !slices.Equal(got, all) {
		t.Errorf("Entries = %v, want %v", got, all)
	}
	// Sizes and ages, as the entries say them.
	for _, en := range w.where(t, core.Filter{URLs: []string{w.url["2/a"]}}) {
		if en.BodyLen() != int64(len(w.bodies["2/a"])) {
			t.Errorf("BodyLen = %d, want %d", en.BodyLen(), len(w.bodies["2/a"]))
		}
		if age := en.Age(w.e.clock.Now()); age < 130*time.Second || age > 132*time.Second {
			t.Errorf("Age = %v, want about 130s", age)
		}
	}
	// A URL that does not parse is an error, not an empty result.
	bad := core.Filter{URLs: []string{"http://[::1"}}
	if _, err := w.e.cache.CountWhere(h4Ctx(t), bad); err == nil {
		t.Error("CountWhere with a URL that does not parse: nil error")
	}
	for _, err := range w.e.cache.EntriesWhere(h4Ctx(t), bad) {
		if err == nil {
			t.Error("EntriesWhere with a URL that does not parse yielded an entry")
		}
		break
	}
}

func testManageDeleteWhere(t *testing.T, s *suite) {
	w := newFilterWorld(t, s)
	r, err := w.e.cache.DeleteWhere(h4Ctx(t), core.Filter{Host: h4Host(w.o2)})
	want := core.Removed{Entries: 2, Bytes: int64(len(w.bodies["2/a"]) + len(w.bodies["2/c"]))}
	if err != nil || r != want {
		t.Errorf("DeleteWhere(host 2) = %+v, %v; want %+v, nil", r, err, want)
	}
	h4WantContains(t, w.e, w.url["2/a"], false)
	h4WantContains(t, w.e, w.url["1/a"], true)
	r, err = w.e.cache.DeleteWhere(h4Ctx(t), core.Filter{Expiry: core.OnlyExpired})
	if err != nil || r.Entries != 1 || r.Bytes != int64(len(w.bodies["1/b/y"])) {
		t.Errorf("DeleteWhere(expired) = %+v, %v; want 1 entry of %d bytes", r, err, len(w.bodies["1/b/y"]))
	}
	// One variant goes, the other stays reachable.
	r, err = w.e.cache.DeleteWhere(h4Ctx(t), core.Filter{URL: h4Host(w.o1) + "/v"})
	if err != nil || r.Entries != 2 {
		t.Errorf("DeleteWhere(/v) = %+v, %v; want 2 entries", r, err)
	}
	h4WantContains(t, w.e, w.url["1/v/en"], false, "Accept-Language: en")
	if got := w.names(t, h4Entries(t, w.e)); !slices.Equal(got, []string{"1/a", "1/b/x", "1/p"}) {
		t.Errorf("Entries after the deletions = %v, want [1/a 1/b/x 1/p]", got)
	}
	if n, err := w.e.cache.Count(h4Ctx(t)); err != nil || n != 3 {
		t.Errorf("Count after the deletions = %d, %v; want 3, nil", n, err)
	}
	// The deleted responses are fetched again.
	before := w.o2.hits()
	w.e.get(w.url["2/a"])
	if w.o2.hits() != before+1 {
		t.Errorf("a GET after DeleteWhere did not reach the origin")
	}
}

func testManageDeleteURLs(t *testing.T, s *suite) {
	w := newFilterWorld(t, s)
	r, err := w.e.cache.DeleteURLs(h4Ctx(t), w.url["1/v/en"], strings.Replace(w.url["1/p"], "http://", "HTTP://", 1))
	want := core.Removed{Entries: 3, Bytes: int64(len(w.bodies["1/v/en"]) + len(w.bodies["1/v/fr"]) + len(w.bodies["1/p"]))}
	if err != nil || r != want {
		t.Errorf("DeleteURLs(/v, /p) = %+v, %v; want %+v, nil", r, err, want)
	}
	h4WantContains(t, w.e, w.url["1/v/en"], false, "Accept-Language: en")
	h4WantContains(t, w.e, w.url["1/v/fr"], false, "Accept-Language: fr")
	want2 := []string{"1/a", "1/b/x", "1/b/y", "2/a", "2/c"}
	if got := w.names(t, h4Entries(t, w.e)); !slices.Equal(got, want2) {
		t.Errorf("Entries after DeleteURLs = %v, want %v", got, want2)
	}
	// Deleting what is not stored removes nothing and is no error.
	if r, err := w.e.cache.DeleteURLs(h4Ctx(t), w.url["1/v/en"], w.o1.URL+"/none"); err != nil || r != (core.Removed{}) {
		t.Errorf("DeleteURLs of nothing stored = %+v, %v; want zero, nil", r, err)
	}
	if _, err := w.e.cache.DeleteURLs(h4Ctx(t), "http://[::1"); err == nil {
		t.Error("DeleteURLs with a URL that does not parse: nil error")
	}
	if n, err := w.e.cache.Count(h4Ctx(t)); err != nil || n != len(want2) {
		t.Errorf("Count after DeleteURLs = %d, %v; want %d", n, err, len(want2))
	}
}

func testManageCountNotSupported(t *testing.T, s *suite) {
	e := s.newEnvStore(t, func(st core.Store) core.Store { return h4NoListStore{st} })
	o, _ := h4FlexOrigin(e)
	u := h4Q(o, "/a", "cc", "max-age=60")
	e.get(u)
	if _, err := e.cache.Count(h4Ctx(t)); !errors.Is(err, core.ErrNotSupported) {
		t.Errorf("Count over a store without Lister: %v, want an error wrapping core.ErrNotSupported", err)
	}
	if _, err := e.cache.DeleteWhere(h4Ctx(t), core.Filter{}); !errors.Is(err, core.ErrNotSupported) {
		t.Errorf("DeleteWhere over a store without Lister: %v, want an error wrapping core.ErrNotSupported", err)
	}
	// DeleteURLs still deletes what it can find by key.
	if r, err := e.cache.DeleteURLs(h4Ctx(t), u); err != nil || r != (core.Removed{}) {
		t.Errorf("DeleteURLs over a store without Lister = %+v, %v; want zero (nothing listed), nil", r, err)
	}
	h4WantContains(t, e, u, false)
}

// testInfoAgeExpiry: Info.Age is the Age field of a stored response served,
// and IsExpired says whether it was past its lifetime then (RFC 9111
// §4.2.3, §4.2).
func testInfoAgeExpiry(t *testing.T, s *suite) {
	e := s.newEnv(t)
	o, _ := h4FlexOrigin(e)
	u := h4Q(o, "/a", "cc", "max-age=60, stale-if-error=600", "etag", "1")
	r := e.get(u)
	if r.Info.Age != 0 || r.Info.IsExpired() {
		t.Errorf("stored response: Age %v IsExpired %v, want 0 and false", r.Info.Age, r.Info.IsExpired())
	}
	e.clock.Advance(40 * time.Second)
	r = e.get(u)
	if !r.Info.FromCache || r.Info.Age != 40*time.Second || r.Info.IsExpired() {
		t.Errorf("hit at 40s: FromCache %v Age %v IsExpired %v, want true, 40s, false", r.Info.FromCache, r.Info.Age, r.Info.IsExpired())
	}
	if got := r.Header.Get("Age"); got != "40" {
		t.Errorf("Age field = %q, want 40", got)
	}
	e.clock.Advance(60 * time.Second)
	r = e.getCtx(core.OnlyIfCached(h4Ctx(t)), u, "Cache-Control: max-stale")
	if !r.Info.FromCache || !r.Info.IsExpired() || r.Info.Age != 100*time.Second {
		t.Errorf("stale hit at 100s: FromCache %v IsExpired %v Age %v; want true, true, 100s (Cache-Status %q)",
			r.Info.FromCache, r.Info.IsExpired(), r.Info.Age, r.Header.Get("Cache-Status"))
	}
	// The synthetic 504 came from nothing stored.
	r = e.getCtx(core.OnlyIfCached(h4Ctx(t)), o.URL+"/never")
	if r.Status != http.StatusGatewayTimeout || r.Info.FromCache || !r.Info.Synthetic || r.Info.IsExpired() {
		t.Errorf("only-if-cached miss: %d FromCache %v Synthetic %v IsExpired %v; want 504, false, true, false",
			r.Status, r.Info.FromCache, r.Info.Synthetic, r.Info.IsExpired())
	}
}
