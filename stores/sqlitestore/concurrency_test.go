package sqlitestore_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/sqlitestore"
)

// TestManyGoroutines runs 32 goroutines × 250 mixed reads and writes on one
// file (and 32 × 100 on one in-memory database): zero errors, and every value
// read whole. The 32 goroutines on 64 keys contend from the first operation;
// more operations each repeat the same contention (and took minutes under
// -race).
func TestManyGoroutines(t *testing.T) {
	const (
		goroutines = 32
		keys       = 64
	)
	for _, mode := range []string{"file", "memory"} {
		t.Run(mode, func(t *testing.T) {
			ops := 250
			if mode == "memory" {
				ops = 100
			}
			opts := &sqlitestore.Options{MaxBytes: 1 << 20} // small: evictions too
			if mode == "memory" {
				opts.Path = sqlitestore.Memory
			}
			s := open(t, opts)
			ctx := t.Context()
			var (
				wg      sync.WaitGroup
				errs    atomic.Int64
				reports atomic.Int64
			)
			report := func(format string, args ...any) {
				errs.Add(1)
				if reports.Add(1) <= 10 {
					t.Errorf(format, args...)
				}
			}
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(g), 7))
					name := fmt.Sprintf("g%d", g)
					for i := range ops {
						key := fmt.Sprintf("k%02d", rng.IntN(keys))
						switch r := rng.IntN(100); {
						case r < 35:
							v := stamped(key, name, i, rng.IntN(4<<10))
							meta := core.Meta{URL: "https://example.com/" + key, Method: "GET", Status: 200}
							if r%2 == 0 {
								meta.Expires = time.Now().Add(time.Hour)
							}
							if err := s.Set(ctx, key, v, meta); err != nil {
								report("Set(%q): %v", key, err)
							}
						case r < 90:
							v, err := s.Get(ctx, key)
							switch {
							case errors.Is(err, core.ErrNotFound):
							case err != nil:
								report("Get(%q): %v", key, err)
							default:
								if err := checkStamped(key, v); err != nil {
									report("Get(%q): %v", key, err)
								}
							}
						case r < 97:
							if err := s.Delete(ctx, key); err != nil {
								report("Delete(%q): %v", key, err)
							}
						default:
							for _, err := range s.List(ctx) {
								if err != nil {
									report("List: %v", err)
									break
								}
							}
						}
					}
				}()
			}
			wg.Wait()
			if n := errs.Load(); n > 0 {
				t.Errorf("%d errors in %d operations", n, goroutines*ops)
			}
			if err := s.IntegrityCheck(ctx); err != nil {
				t.Error(err)
			}
		})
	}
}
