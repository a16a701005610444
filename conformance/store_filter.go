package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

func init() {
	storeCases = append(storeCases, storeCase{"ListFilter", testStoreListFilter})
}

// testStoreListFilter checks the core.FilterLister contract: for each
// filter, ListFilter yields every item List yields that the filter selects
// (ListFilter.Selects), each once, and nothing List does not yield.
func testStoreListFilter(t *testing.T, st core.Store, caps Capabilities) {
	fl, ok := st.(core.FilterLister)
	if !ok {
		t.Skipf("%T does not implement core.FilterLister", st)
	}
	if !caps.List {
		t.Fatalf("%T implements core.FilterLister but the harness does not declare List", st)
	}
	urls := []string{
		"https://a.example/x", "https://a.example/x/y", "https://a.example:8443/x", "http://a.example/x",
		"https://b.example/x", "https://a.examplez/x", "https://a.example/x%25_?q=1", "https://a.example/X",
	}
	for i, u := range urls {
		for j, m := range []string{"GET", "POST"} {
			meta := core.Meta{URL: u, Method: m, Status: []int{200, 404, 0}[(i+j)%3], Size: 1, Created: time.Now()}
			storeSet(t, st, fmt.Sprintf("lf/%d/%s", i, m), []byte("x"), meta)
		}
	}
	storeSet(t, st, "lf/expired", []byte("x"), core.Meta{URL: urls[0], Method: "GET", Status: 200, Expires: time.Now().Add(-time.Second)})
	listed := storeListAll(t, st)
	for _, f := range []core.ListFilter{
		{},
		{URLPrefixes: []string{"https://a.example/x"}},
		{URLPrefixes: []string{"https://a.example/x%25_"}},
		{URLPrefixes: []string{"http://a.example", "https://a.example"}},
		{URLPrefixes: []string{"https://a.example/X"}},
		{URLPrefixes: []string{"https://nothing.example/"}},
		{Method: "POST"},
		{Statuses: []int{404}},
		{Statuses: []int{200, 404}, Method: "GET"},
		{URLPrefixes: []string{"https://a.example/x"}, Statuses: []int{200}, Method: "GET"},
	} {
		t.Run(fmt.Sprintf("%+v", f), func(t *testing.T) {
			seen := map[string]int{}
			for it, err := range fl.ListFilter(t.Context(), f) {
				if err != nil {
					t.Fatalf("ListFilter: %v", err)
				}
				seen[it.Key]++
				want, ok := listed[it.Key]
				switch {
				case it.Key == "lf/expired":
					// May or may not be listed, as with List.
				case !ok:
					t.Errorf("ListFilter yields %q, which List does not", it.Key)
				default:
					storeCheckListedMeta(t, it.Key, it.Meta, want)
				}
			}
			for key, meta := range listed {
				if key == "lf/expired" {
					continue
				}
				if f.Selects(meta) && seen[key] != 1 {
					t.Errorf("ListFilter yields %q (Meta %+v) %d times, want once", key, meta, seen[key])
				}
				if seen[key] > 1 {
					t.Errorf("ListFilter yields %q %d times", key, seen[key])
				}
			}
		})
	}
	// Stopping early is allowed.
	for range fl.ListFilter(t.Context(), core.ListFilter{Method: "GET"}) {
		break
	}
}
