package core_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/filestore"
)

// flipByte flips the bits of one byte of the file at path, off bytes from
// its start (or from its end when off is negative).
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 0xff
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestStoreChecksumFailureIsCorrupt: a store that checks its own data
// (filestore's CRC-32C) reports a value or stream that fails the check with
// an error wrapping core.ErrCorrupt, and the cache treats it as corrupt: a
// miss, counted in Stats().CorruptErrors, the key deleted, the bad bytes
// never served as a good body: filestore checks a stream's checksum at its
// end, so a damaged stream ends with that error instead of io.EOF.
func TestStoreChecksumFailureIsCorrupt(t *testing.T) {
	small := "a small body kept in the value file"
	big := strings.Repeat("0123456789abcdef", 8<<10) // 128 KiB, streamed
	tests := []struct {
		name    string
		body    string
		file    string // suffix of the file to damage: "" value, ".s" stream
		off     int64
		midRead bool // the damage shows only when the stream is read to its end
	}{
		{name: "value payload", body: small, file: "", off: -1},
		{name: "value header", body: small, file: "", off: 20},
		{name: "stream header", body: big, file: ".s", off: 20},
		{name: "stream payload", body: big, file: ".s", off: -100, midRead: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := filestore.New(dir, &filestore.Options{SweepInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			c := rvNew(t, st, core.WithStreamThreshold(64<<10))
			var calls atomic.Int64
			send := func(r *http.Request) (*http.Response, error) {
				calls.Add(1)
				return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
					Header:        http.Header{"Cache-Control": {"max-age=3600"}, "Content-Length": {strconv.Itoa(len(tc.body))}},
					Body:          io.NopCloser(strings.NewReader(tc.body)),
					ContentLength: int64(len(tc.body)), Request: r}, nil
			}
			get := func() (string, error, core.Info) {
				req := rvGet(t, context.Background(), http.MethodGet, "http://example.test/x", nil)
				resp, err := c.Do(req, send)
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				return string(b), err, core.InfoOf(resp)
			}
			if b, err, _ := get(); b != tc.body || err != nil {
				t.Fatalf("first fetch: %d bytes, %v", len(b), err)
			}
			files := storeFiles(t, dir)
			damaged := ""
			for _, f := range files {
				if strings.HasSuffix(f, ".s") == (tc.file == ".s") {
					damaged = f
				}
			}
			if damaged == "" {
				t.Fatalf("no file to damage among %v", files)
			}
			flipByte(t, damaged, tc.off)

			b, err, info := get()
			if tc.midRead {
				if !info.FromCache || !errors.Is(err, core.ErrCorrupt) {
					t.Errorf("hit over a damaged stream: FromCache %v, error %v; want a hit ending with an error wrapping core.ErrCorrupt", info.FromCache, err)
				}
			} else {
				if info.FromCache || b != tc.body || err != nil {
					t.Errorf("fetch over a damaged %s: FromCache %v, %d bytes, %v; want a miss with the origin's body", tc.name, info.FromCache, len(b), err)
				}
			}
			if n := c.Stats().CorruptErrors; n != 1 {
				t.Errorf("Stats().CorruptErrors = %d, want 1", n)
			}
			if tc.midRead {
				// The key was deleted: the next request is a miss.
				before := calls.Load()
				if b, err, info := get(); info.FromCache || b != tc.body || err != nil || calls.Load() != before+1 {
					t.Errorf("after the damaged stream: FromCache %v, %d bytes, %v; want a miss", info.FromCache, len(b), err)
				}
			}
			if got := calls.Load(); got < 2 {
				t.Errorf("origin calls = %d; want the damaged entry replaced by a fetch", got)
			}
			if b, err, info := get(); !info.FromCache || b != tc.body || err != nil {
				t.Errorf("after the refetch: FromCache %v, %d bytes, %v; want a hit", info.FromCache, len(b), err)
			}
		})
	}
}
