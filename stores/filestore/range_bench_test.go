package filestore_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"strconv"
	"testing"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/filestore"
)

// noSeekStore hides the io.Seeker of the store's stream readers, so the core
// reads a range's stream through from the start and discards what comes
// before the range.
type noSeekStore struct{ noClose }

func (s noSeekStore) OpenStream(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	rc, n, err := s.Store.OpenStream(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	return struct{ io.ReadCloser }{rc}, n, nil
}

// benchPattern yields n position-dependent bytes.
type benchPattern struct{ off, n int64 }

func (p *benchPattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		x := p.off + int64(i)
		b[i] = byte(x ^ x>>8 ^ x>>16)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// BenchmarkStreamRange measures a Range request for the last 1 MiB of a
// streamed 1 GiB entry (HOARD_RANGE_BENCH_BYTES overrides the size),
// answered from the store: "seek" positions the file at the segment that
// holds the range, "read-through" (the same store with Seek hidden) reads
// and discards every byte before it.
func BenchmarkStreamRange(b *testing.B) {
	size := int64(1 << 30)
	if v := os.Getenv("HOARD_RANGE_BENCH_BYTES"); v != "" {
		n, err := core.ParseSize(v)
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	const part = 1 << 20
	st, err := filestore.New(b.TempDir(), &filestore.Options{MaxBytes: size + 1<<30, SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	origin := func(req *http.Request) (*http.Response, error) {
		return &http.Response{
			StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:        http.Header{"Cache-Control": {"max-age=3600"}, "Etag": {`"big"`}, "Content-Length": {strconv.FormatInt(size, 10)}},
			Body:          io.NopCloser(&benchPattern{n: size}),
			ContentLength: size, Request: req,
		}, nil
	}
	url := "http://example.test/big"
	fill, err := core.New(noClose{st}, core.WithMaxStreamSize(size))
	if err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	resp, err := fill.Do(req, origin)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	fill.Wait()
	fill.Close()

	for _, tc := range []struct {
		name  string
		store core.Store
	}{
		{"seek", noClose{st}},
		{"read-through", noSeekStore{noClose{st}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c, err := core.New(tc.store, core.WithMaxStreamSize(size))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			refuse := func(*http.Request) (*http.Response, error) {
				b.Fatal("the origin was asked: the entry is not served from the store")
				return nil, nil
			}
			b.SetBytes(part)
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Range", "bytes=-"+strconv.Itoa(part))
				resp, err := c.Do(req, refuse)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || n != part || resp.StatusCode != http.StatusPartialContent {
					b.Fatalf("status %d, %d bytes, %v", resp.StatusCode, n, err)
				}
			}
		})
	}
}

// noClose keeps the shared store open when a cache over it closes.
type noClose struct{ *filestore.Store }

// Close does nothing: the benchmark closes the store.
func (noClose) Close() error { return nil }
