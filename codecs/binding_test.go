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

// TestMovedEntryAcrossHostsIsNotServed checks the same binding for the
// effective host: requests to one URL with Request.Host a.example and
// b.example have their own entries, each served to its own host, and an
// entry copied from one host's key to the other's is a miss.
func TestMovedEntryAcrossHostsIsNotServed(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	signed, err := codecs.NewSigned(core.BinaryCodec{}, [][]byte{key})
	if err != nil {
		t.Fatal(err)
	}
	st, err := memstore.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := core.New(st, core.WithCodec(signed))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send := func(r *http.Request) (*http.Response, error) {
		body := "for " + r.Host
		return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Cache-Control": {"max-age=60"}}, Body: io.NopCloser(strings.NewReader(body)),
			ContentLength: int64(len(body)), Request: r}, nil
	}
	get := func(host string) (string, core.Info) {
		req, _ := http.NewRequest(http.MethodGet, "http://10.0.0.1/account", nil)
		req.Host = host
		resp, err := c.Do(req, send)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b), core.InfoOf(resp)
	}
	_, a := get("a.example")
	_, b := get("b.example")
	for _, h := range []string{"a.example", "b.example"} {
		if body, info := get(h); !info.FromCache || body != "for "+h {
			t.Errorf("Host %s: body %q FromCache %v, want its own stored response", h, body, info.FromCache)
		}
	}
	data, err := st.Get(context.Background(), a.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Set(context.Background(), b.Key, data, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	if body, info := get("b.example"); info.FromCache || strings.Contains(body, "a.example") {
		t.Errorf("Host b.example after a.example's entry was copied to its key: body %q FromCache %v, want a miss", body, info.FromCache)
	}
	if got := c.Stats().CorruptErrors; got != 1 {
		t.Errorf("CorruptErrors = %d, want 1", got)
	}
}
