package codecs_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hoardhttp/hoard/codecs"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// TestMovedEntryIsNotServed checks that with an authenticated codec an entry
// copied to another URL's key (by someone who can write the store but has no
// key) is a miss, deleted and counted, never served for that URL.
func TestMovedEntryIsNotServed(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	signed, err := codecs.NewSigned(core.BinaryCodec{}, [][]byte{key})
	if err != nil {
		t.Fatal(err)
	}
	encrypted, err := codecs.NewEncrypted(core.BinaryCodec{}, [][]byte{key})
	if err != nil {
		t.Fatal(err)
	}
	gz, err := codecs.NewGzip(signed, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		codec core.Codec
	}{{"signed", signed}, {"encrypted", encrypted}, {"gzip around signed", gz}} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := memstore.New(nil)
			if err != nil {
				t.Fatal(err)
			}
			c, err := core.New(st, core.WithCodec(tc.codec))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			calls := 0
			send := func(r *http.Request) (*http.Response, error) {
				calls++
				body := fmt.Sprintf("%s #%d", r.URL.Path, calls)
				return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
					Header: http.Header{"Cache-Control": {"max-age=60"}}, Body: io.NopCloser(strings.NewReader(body)),
					ContentLength: int64(len(body)), Request: r}, nil
			}
			get := func(path string) (string, core.Info) {
				req, _ := http.NewRequest(http.MethodGet, "http://example.test"+path, nil)
				resp, err := c.Do(req, send)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return string(b), core.InfoOf(resp)
			}
			_, a := get("/account/alice")
			_, b := get("/account/bob")
			// The attacker copies Alice's valid entry over Bob's key.
			data, err := st.Get(context.Background(), a.Key)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Set(context.Background(), b.Key, data, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			body, info := get("/account/bob")
			if strings.Contains(body, "alice") {
				t.Fatalf("Bob was served Alice's entry: %q", body)
			}
			if info.FromCache {
				t.Errorf("the moved entry was served from the cache")
			}
			if got := c.Stats().CorruptErrors; got != 1 {
				t.Errorf("CorruptErrors = %d, want 1", got)
			}
		})
	}
}
