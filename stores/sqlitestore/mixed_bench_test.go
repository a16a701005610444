package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/sqlitestore"
)

// The statements of Get and Set, as sqlitestore issues them (New prepares
// getSQL on the readers and setSQL on the writer; Set runs setSQL, the
// stream update and evict's size query in one BEGIN IMMEDIATE transaction).
const (
	getSQL = `SELECT expires, sum, value FROM entries WHERE key = ? AND (expires = 0 OR expires > ?)`
	setSQL = `INSERT INTO entries (key, expires, url, method, status, size, created, accessed, sum, value)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET expires = excluded.expires, url = excluded.url,
				method = excluded.method, status = excluded.status, size = excluded.size,
				created = excluded.created, accessed = excluded.accessed, sum = excluded.sum,
				value = excluded.value`
	streamExpiresSQL = `UPDATE streams SET expires = ? WHERE key = ? AND state = 1`
	statsSQL         = `SELECT bytes FROM stats WHERE id = 1`
)

// mixedGoroutines is the number of goroutines of BenchmarkMixed (issue 13).
const mixedGoroutines = 32

// BenchmarkMixed runs 32 goroutines doing 80% hits (Get of an existing 1 KiB
// key) and 20% stores (Set of a new key) on a file, through the Store
// (store) and as the same statements straight through database/sql with the
// same driver, DSNs (pragmas, WAL) and pool sizes (bare-driver). Any error
// fails the benchmark. Compare the two with -count, side by side.
func BenchmarkMixed(b *testing.B) {
	const keys = 256
	value := payload("mixed", 1<<10)
	meta := core.Meta{URL: "https://example.com/x", Method: "GET", Status: 200}
	ctx := context.Background()
	// populate makes a file with keys values, written by a Store.
	populate := func(b *testing.B) (*sqlitestore.Store, string) {
		path := dbPath(b)
		s := open(b, &sqlitestore.Options{Path: path, MaxBytes: 4 << 30})
		for i := range keys {
			set(b, s, fmt.Sprintf("k%d", i), value, meta)
		}
		return s, path
	}
	run := func(b *testing.B, get func(key string) error, store func(key string) error) {
		var seq, errs atomic.Int64
		var firstErr atomic.Value
		b.SetParallelism(max(1, mixedGoroutines/runtime.GOMAXPROCS(0)))
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				n := seq.Add(1)
				var err error
				if n%5 == 0 {
					err = store(fmt.Sprintf("new%d", n))
				} else {
					err = get(fmt.Sprintf("k%d", n%keys))
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
		b.StopTimer()
		if n := errs.Load(); n != 0 {
			b.Fatalf("%d errors, first: %v", n, firstErr.Load())
		}
	}
	b.Run("store", func(b *testing.B) {
		s, _ := populate(b)
		run(b, func(key string) error {
			_, err := s.Get(ctx, key)
			return err
		}, func(key string) error {
			return s.Set(ctx, key, value, meta)
		})
	})
	b.Run("bare-driver", func(b *testing.B) {
		s, path := populate(b)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		wdsn, rdsn, err := sqlitestore.DriverDSNs(path)
		if err != nil {
			b.Fatal(err)
		}
		w, err := sql.Open("sqlite", wdsn)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { w.Close() })
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		r, err := sql.Open("sqlite", rdsn)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { r.Close() })
		readers := max(4, runtime.GOMAXPROCS(0))
		r.SetMaxOpenConns(readers)
		r.SetMaxIdleConns(readers)
		getStmt, err := r.PrepareContext(ctx, getSQL)
		if err != nil {
			b.Fatal(err)
		}
		setStmt, err := w.PrepareContext(ctx, setSQL)
		if err != nil {
			b.Fatal(err)
		}
		run(b, func(key string) error {
			var exp, sum int64
			var v []byte
			return getStmt.QueryRowContext(ctx, []byte(key), time.Now().UnixNano()).Scan(&exp, &sum, &v)
		}, func(key string) error {
			kb := []byte(key)
			now := time.Now().UnixNano()
			tx, err := w.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			if _, err := tx.StmtContext(ctx, setStmt).ExecContext(ctx,
				kb, int64(0), meta.URL, meta.Method, meta.Status, int64(len(value)), now, now, int64(0), value); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, streamExpiresSQL, int64(0), kb); err != nil {
				return err
			}
			var n int64
			if err := tx.QueryRowContext(ctx, statsSQL).Scan(&n); err != nil {
				return err
			}
			return tx.Commit()
		})
	})
}
