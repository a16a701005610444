package filestore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/filestore"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// BenchmarkStore measures a hit (Get) and a store (Set) of 1 KiB and 1 MiB
// values, for the filesystem store and, for orientation, for memstore in the
// same run. A filestore Set syncs its file to disk, so its figure is mostly
// the disk's fsync latency.
func BenchmarkStore(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) core.Store
	}{
		{"filestore", func(b *testing.B) core.Store {
			s, err := filestore.New(b.TempDir(), &filestore.Options{SweepInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s
		}},
		{"memstore", func(b *testing.B) core.Store {
			s, err := memstore.New(&memstore.Options{MaxBytes: 256 << 20})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s
		}},
	}
	sizes := []struct {
		name string
		n    int
	}{
		{"1KiB", 1 << 10},
		{"1MiB", 1 << 20},
	}
	ctx := context.Background()
	meta := core.Meta{URL: "https://example.com/resource", Method: "GET", Status: 200}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			for _, size := range sizes {
				b.Run("Get/"+size.name, func(b *testing.B) {
					s := st.open(b)
					value := make([]byte, size.n)
					const keys = 16
					for i := range keys {
						if err := s.Set(ctx, fmt.Sprintf("GET https://example.com/%d", i), value, meta); err != nil {
							b.Fatal(err)
						}
					}
					names := make([]string, keys)
					for i := range names {
						names[i] = fmt.Sprintf("GET https://example.com/%d", i)
					}
					b.SetBytes(int64(size.n))
					b.ReportAllocs()
					for i := 0; b.Loop(); i++ {
						if _, err := s.Get(ctx, names[i%keys]); err != nil {
							b.Fatal(err)
						}
					}
				})
				b.Run("Set/"+size.name, func(b *testing.B) {
					s := st.open(b)
					value := make([]byte, size.n)
					const keys = 16
					names := make([]string, keys)
					for i := range names {
						names[i] = fmt.Sprintf("GET https://example.com/%d", i)
					}
					b.SetBytes(int64(size.n))
					b.ReportAllocs()
					for i := 0; b.Loop(); i++ {
						if err := s.Set(ctx, names[i%keys], value, meta); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}
