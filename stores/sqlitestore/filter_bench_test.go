package sqlitestore_test

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/sqlitestore"
)

// hideFilter hides the store's FilterLister, so the core filters listed
// items itself.
type hideFilter struct{ st *sqlitestore.Store }

func (h hideFilter) Get(ctx context.Context, key string) ([]byte, error) { return h.st.Get(ctx, key) }
func (h hideFilter) Set(ctx context.Context, key string, v []byte, m core.Meta) error {
	return h.st.Set(ctx, key, v, m)
}
func (h hideFilter) Delete(ctx context.Context, key string) error { return h.st.Delete(ctx, key) }
func (h hideFilter) List(ctx context.Context) iter.Seq2[core.Listed, error] {
	return h.st.List(ctx)
}

// BenchmarkFilter compares, over 5000 stored responses on 50 hosts, counting
// through Entries (every value read and decoded), Count (listing only),
// CountWhere on one host with the filter pushed down to SQL, and the same
// with the push-down hidden.
func BenchmarkFilter(b *testing.B) {
	ctx := context.Background()
	st, err := sqlitestore.New(ctx, &sqlitestore.Options{Path: filepath.Join(b.TempDir(), "bench.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	c, err := core.New(st)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	body := make([]byte, 2048)
	for i := range 5000 {
		e := &core.Entry{
			Key: fmt.Sprintf("k%05d", i), Method: "GET", URL: fmt.Sprintf("https://host%02d.example/item/%d", i%50, i),
			Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: body,
			RequestTime: now, ResponseTime: now, Created: now, Expires: now.Add(time.Hour), Deletion: now.Add(2 * time.Hour),
		}
		if err := c.Put(ctx, e, nil); err != nil {
			b.Fatal(err)
		}
	}
	hidden, err := core.New(hideFilter{st})
	if err != nil {
		b.Fatal(err)
	}
	one := core.Filter{Host: "host07.example"}
	for _, bc := range []struct {
		name  string
		count func() (int, error)
		want  int
	}{
		{"EntriesLoop", func() (int, error) {
			n := 0
			for _, err := range c.Entries(ctx) {
				if err != nil {
					return 0, err
				}
				n++
			}
			return n, nil
		}, 5000},
		{"Count", func() (int, error) { return c.Count(ctx) }, 5000},
		{"CountWhereHost/pushdown", func() (int, error) { return c.CountWhere(ctx, one) }, 100},
		{"CountWhereHost/core", func() (int, error) { return hidden.CountWhere(ctx, one) }, 100},
		{"EntriesWhereHost/pushdown", func() (int, error) {
			n := 0
			for _, err := range c.EntriesWhere(ctx, one) {
				if err != nil {
					return 0, err
				}
				n++
			}
			return n, nil
		}, 100},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				n, err := bc.count()
				if err != nil || n != bc.want {
					b.Fatalf("%d, %v; want %d", n, err, bc.want)
				}
			}
		})
	}
}
