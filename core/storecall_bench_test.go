package core

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// slowSetStore is a mapStore whose Set takes delay, like a network store.
type slowSetStore struct {
	*mapStore
	delay time.Duration
}

func (s slowSetStore) Set(ctx context.Context, k string, v []byte, m Meta) error {
	time.Sleep(s.delay)
	return s.mapStore.Set(ctx, k, v, m)
}

// asyncSetStore is the asynchronous-write design measured against the
// synchronous one: Set hands the write to a bounded queue drained by one
// goroutine and returns at once; a full queue drops the write (counted).
// It is not part of hoard (see BENCHMARKS.md, "Store outages").
type asyncSetStore struct {
	Store
	q       chan func()
	dropped atomic.Int64
}

func newAsyncSetStore(s Store, n int) *asyncSetStore {
	a := &asyncSetStore{Store: s, q: make(chan func(), n)}
	go func() {
		for f := range a.q {
			f()
		}
	}()
	return a
}

func (a *asyncSetStore) Set(_ context.Context, k string, v []byte, m Meta) error {
	select {
	case a.q <- func() { a.Store.Set(context.Background(), k, v, m) }:
	default:
		a.dropped.Add(1)
	}
	return nil
}

// BenchmarkMissSlowStore measures the miss path (lookup, origin, store)
// over a store whose Set takes 1ms, with the write made synchronously (as
// hoard does) and handed to a bounded asynchronous queue; the origin
// answers at once, so the figures are the cache's own cost.
func BenchmarkMissSlowStore(b *testing.B) {
	send := func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:        http.Header{"Cache-Control": {"max-age=60"}, "Content-Length": {"512"}},
			Body:          io.NopCloser(strings.NewReader(strings.Repeat("x", 512))),
			ContentLength: 512, Request: req}, nil
	}
	for _, mode := range []string{"sync", "async"} {
		b.Run(mode, func(b *testing.B) {
			var st Store = slowSetStore{newMapStore(), time.Millisecond}
			var async *asyncSetStore
			if mode == "async" {
				async = newAsyncSetStore(st, 1024)
				defer close(async.q)
				st = async
			}
			c, err := New(st)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req, _ := http.NewRequest(http.MethodGet, "http://example.com/item/"+strconv.Itoa(i), nil)
				resp, err := c.Do(req, send)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			b.StopTimer()
			if async != nil {
				b.ReportMetric(float64(async.dropped.Load())/float64(b.N), "dropped/op")
			}
		})
	}
}
