package sqlitestore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
	"github.com/hoardhttp/hoard/stores/sqlitestore"
)

var benchSizes = []struct {
	name string
	n    int
}{
	{"1KiB", 1 << 10},
	{"1MiB", 1 << 20},
}

// BenchmarkStore measures a hit (Get) and a store (Set) of 1 KiB and 1 MiB
// values, on a file and in memory, with memstore's figures in the same run
// for orientation.
func BenchmarkStore(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) core.Store
	}{
		{"sqlite-file", func(b *testing.B) core.Store {
			return open(b, &sqlitestore.Options{MaxBytes: 4 << 30})
		}},
		{"sqlite-memory", func(b *testing.B) core.Store {
			return open(b, &sqlitestore.Options{Path: sqlitestore.Memory, MaxBytes: 4 << 30})
		}},
		{"memstore", func(b *testing.B) core.Store {
			s, err := memstore.New(&memstore.Options{MaxBytes: 4 << 30})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
	}
	ctx := context.Background()
	meta := core.Meta{URL: "https://example.com/x", Method: "GET", Status: 200}
	for _, st := range stores {
		for _, sz := range benchSizes {
			value := payload("bench", sz.n)
			b.Run(st.name+"/Get/"+sz.name, func(b *testing.B) {
				s := st.open(b)
				const keys = 64
				for i := range keys {
					set(b, s, fmt.Sprintf("k%d", i), value, meta)
				}
				b.SetBytes(int64(sz.n))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					if _, err := s.Get(ctx, fmt.Sprintf("k%d", i%keys)); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(st.name+"/Set/"+sz.name, func(b *testing.B) {
				s := st.open(b)
				b.SetBytes(int64(sz.n))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					if err := s.Set(ctx, fmt.Sprintf("k%d", i%64), value, meta); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkGetParallel measures hits from many goroutines at once
// (b.RunParallel): ns/op is the time per hit across all of them, so hits
// per second = 1e9 / ns/op.
func BenchmarkGetParallel(b *testing.B) {
	value := payload("bench", 1<<10)
	meta := core.Meta{URL: "https://example.com/x", Method: "GET", Status: 200}
	stores := []struct {
		name string
		open func(b *testing.B) core.Store
	}{
		{"sqlite-file", func(b *testing.B) core.Store { return open(b, nil) }},
		{"sqlite-memory", func(b *testing.B) core.Store {
			return open(b, &sqlitestore.Options{Path: sqlitestore.Memory})
		}},
		{"memstore", func(b *testing.B) core.Store {
			s, err := memstore.New(nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
	}
	for _, st := range stores {
		b.Run(st.name+"/1KiB", func(b *testing.B) {
			s := st.open(b)
			const keys = 256
			for i := range keys {
				set(b, s, fmt.Sprintf("k%d", i), value, meta)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := s.Get(ctx, fmt.Sprintf("k%d", i%keys)); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hits/s")
		})
	}
}
