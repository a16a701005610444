package core_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/filestore"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestLyingContentLengthReservesNothing: a response whose Content-Length
// claims far more than it sends must not make the cache reserve the claimed
// size before the bytes arrive (the buffered path grew its buffer to the
// Content-Length: 20 responses of 4 bytes claiming 60 MiB each took the heap
// to 1.2 GB). The caller still gets the bytes and the truncation error, and
// nothing is stored.
func TestLyingContentLengthReservesNothing(t *testing.T) {
	const (
		n     = 8
		claim = 60 << 20
		sent  = "abcd"
	)
	c := rvNew(t, nil) // memstore: every body goes through the buffered path
	calls := 0
	send := func(r *http.Request) (*http.Response, error) {
		calls++
		return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:        http.Header{"Cache-Control": {"max-age=60"}, "Content-Length": {strconv.Itoa(claim)}},
			Body:          io.NopCloser(strings.NewReader(sent)),
			ContentLength: claim, Request: r}, nil
	}
	before := heapInUse()
	resps := make([]*http.Response, n)
	for i := range resps {
		req := rvGet(t, context.Background(), http.MethodGet, "http://example.test/lie/"+strconv.Itoa(i), nil)
		resp, err := c.Do(req, send)
		if err != nil {
			t.Fatal(err)
		}
		resps[i] = resp
	}
	after := heapInUse()
	if grew := int64(after) - int64(before); grew > 16<<20 {
		t.Errorf("the heap grew by %d MiB for %d responses of %d bytes claiming %d MiB each; want under 16 MiB",
			grew>>20, n, len(sent), claim>>20)
	}
	for i, resp := range resps {
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != sent || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("response %d: body %q, error %v; want %q and io.ErrUnexpectedEOF", i, got, err, sent)
		}
	}
	if s := c.Stats(); s.Stores != 0 {
		t.Errorf("Stats().Stores = %d, want 0: a truncated body was stored", s.Stores)
	}
	req := rvGet(t, context.Background(), http.MethodGet, "http://example.test/lie/0", nil)
	resp, err := c.Do(req, send)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if calls != n+1 {
		t.Errorf("origin calls = %d, want %d: the truncated response was served from the store", calls, n+1)
	}
}

// BenchmarkMissStoreBody is a miss whose response, with an honest
// Content-Length, is read into memory and stored (memstore), by body size:
// growing the buffer as bytes arrive must not cost extra copies.
func BenchmarkMissStoreBody(b *testing.B) {
	for _, size := range []int{1 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20} {
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			st, err := memstore.New(&memstore.Options{MaxBytes: 512 << 20})
			if err != nil {
				b.Fatal(err)
			}
			c, err := core.New(st)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { c.Close() })
			body := bytes.Repeat([]byte("x"), size)
			send := func(r *http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
					Header:        http.Header{"Cache-Control": {"max-age=3600"}, "Content-Length": {strconv.Itoa(size)}},
					Body:          io.NopCloser(bytes.NewReader(body)),
					ContentLength: int64(size), Request: r}, nil
			}
			req, _ := http.NewRequestWithContext(core.ForceRefresh(context.Background()), http.MethodGet, "http://example.test/item", nil)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				resp, err := c.Do(req, send)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// countingStreamer wraps a real streaming store and counts the bytes the
// cache writes into its streams.
type countingStreamer struct {
	*filestore.Store
	written atomic.Int64
}

func (s *countingStreamer) CreateStream(ctx context.Context, key string, meta core.Meta) (core.StreamWriter, error) {
	w, err := s.Store.CreateStream(ctx, key, meta)
	if err != nil {
		return nil, err
	}
	return &countingWriter{StreamWriter: w, n: &s.written}, nil
}

type countingWriter struct {
	core.StreamWriter
	n *atomic.Int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.StreamWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

// storeFiles lists the files under dir (values, streams and temporary
// files of a filestore).
func storeFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestDecompressionBombNotStored: a small gzip response that net/http's
// transport inflates below the cache (Content-Length unknown) far past
// WithMaxStreamSize reaches the caller whole, but the cache writes nothing
// beyond the limit, stores nothing, and discards what it wrote as soon as
// the limit is passed (not when the caller reaches EOF).
func TestDecompressionBombNotStored(t *testing.T) {
	const (
		limit    = 4 << 20
		inflated = 16 << 20 // 4× the limit: the cache must stop writing at a quarter of it
	)
	var zipped bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zipped, gzip.BestCompression)
	zw.Write(make([]byte, inflated))
	zw.Close()
	var origin atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin.Add(1)
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Content-Length", strconv.Itoa(zipped.Len()))
		w.Write(zipped.Bytes())
	}))
	defer srv.Close()

	dir := t.TempDir()
	fst, err := filestore.New(dir, &filestore.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	st := &countingStreamer{Store: fst}
	c, err := core.New(st, core.WithMaxStreamSize(limit))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := nethttpcache.NewClient(c, tr)

	for round := 1; round <= 2; round++ {
		resp, err := client.Get(srv.URL + "/bomb")
		if err != nil {
			t.Fatal(err)
		}
		if !resp.Uncompressed || resp.ContentLength != -1 {
			t.Fatalf("round %d: Uncompressed %v, ContentLength %d; want the transport to inflate the body", round, resp.Uncompressed, resp.ContentLength)
		}
		// Read past the limit, then look at the store before EOF.
		head := make([]byte, limit+1<<20)
		if _, err := io.ReadFull(resp.Body, head); err != nil {
			t.Fatalf("round %d: reading the first %d bytes: %v", round, len(head), err)
		}
		if files := storeFiles(t, dir); len(files) != 0 {
			t.Errorf("round %d: past the limit, before EOF, the store still holds %v; want what was written discarded", round, files)
		}
		rest, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if got := int64(len(head) + len(rest)); got != inflated {
			t.Errorf("round %d: the caller got %d bytes, want the whole inflated body of %d", round, got, inflated)
		}
		if !bytes.Equal(rest, make([]byte, len(rest))) || !bytes.Equal(head, make([]byte, len(head))) {
			t.Errorf("round %d: the body's bytes changed on the way through the cache", round)
		}
	}
	if n := st.written.Load(); n > 2*(limit+64) {
		t.Errorf("the cache wrote %d bytes into streams over two rounds; want at most the limit (%d) each", n, limit)
	}
	if s := c.Stats(); s.Stores != 0 {
		t.Errorf("Stats().Stores = %d, want 0", s.Stores)
	}
	if n := origin.Load(); n != 2 {
		t.Errorf("origin requests = %d, want 2: the oversized body was served from the store", n)
	}
	if files := storeFiles(t, dir); len(files) != 0 {
		t.Errorf("after both rounds the store holds %v; want nothing", files)
	}
}
