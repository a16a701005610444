package core_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/hoardhttp/hoard/codecs"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/filestore"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// transferOrigin answers /big with a body of n pseudo-random bytes, /small
// with a short one, and /v with one varying on Accept-Language.
func transferOrigin(big []byte) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		h := http.Header{"Cache-Control": {"max-age=600"}, "Etag": {`"x"`}}
		var body []byte
		switch req.URL.Path {
		case "/big":
			body = big
		case "/v":
			h.Set("Vary", "Accept-Language")
			body = []byte("in " + req.Header.Get("Accept-Language"))
		default:
			body = []byte("small " + req.URL.Path)
		}
		return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h,
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req}, nil
	}
}

func transferGet(t *testing.T, c *core.Cache, path, lang string, send func(*http.Request) (*http.Response, error)) (string, core.Info) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://origin.test"+path, nil)
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	resp, err := c.Do(req, send)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading: %v", path, err)
	}
	return string(b), core.InfoOf(resp)
}

func noNetwork(t *testing.T) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		t.Errorf("request %s reached the origin; want a hit", req.URL)
		return nil, errors.New("no network")
	}
}

// TestRecordsPutCopiesACache copies a cache with a streamed body and Vary
// variants, record by record, into a streaming store under another codec
// and into a store that cannot stream; each copy serves every response,
// byte for byte, without the origin.
func TestRecordsPutCopiesACache(t *testing.T) {
	big := make([]byte, 300_000+7)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	srcStore, err := filestore.New(t.TempDir(), &filestore.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	src, err := core.New(srcStore, core.WithStreamThreshold(1024))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	send := transferOrigin(big)
	for _, p := range []struct{ path, lang string }{{"/big", ""}, {"/small", ""}, {"/v", "en"}, {"/v", "fr"}} {
		transferGet(t, src, p.path, p.lang, send)
	}
	var streamed int
	for e, err := range src.Entries(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Streamed {
			streamed++
		}
	}
	if streamed != 1 {
		t.Fatalf("%d streamed entries in the source, want 1 (/big)", streamed)
	}

	key := bytes.Repeat([]byte{7}, 32)
	enc, err := codecs.NewEncrypted(core.BinaryCodec{}, [][]byte{key})
	if err != nil {
		t.Fatal(err)
	}
	fileDst, err := filestore.New(t.TempDir(), &filestore.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	memDst, err := memstore.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, dst := range []struct {
		name     string
		store    core.Store
		opts     []core.Option
		streamed int
	}{
		{"filestore, encrypted", fileDst, []core.Option{core.WithCodec(enc), core.WithStreamThreshold(1024)}, 1},
		{"memstore", memDst, nil, 0},
	} {
		t.Run(dst.name, func(t *testing.T) {
			c, err := core.New(dst.store, dst.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			records := 0
			for e, err := range src.Records(t.Context()) {
				if err != nil {
					t.Fatal(err)
				}
				records++
				var body io.ReadCloser
				if e.Streamed {
					if body, err = src.OpenBody(t.Context(), e); err != nil {
						t.Fatalf("OpenBody %s: %v", e.Key, err)
					}
				}
				err = c.Put(t.Context(), e, body)
				if body != nil {
					body.Close()
				}
				if err != nil {
					t.Fatalf("Put %s %s: %v", e.Method, e.URL, err)
				}
			}
			if records != 5 {
				t.Errorf("Records yielded %d, want 5 (4 responses and the variant index of /v)", records)
			}
			if n, err := c.Count(t.Context()); err != nil || n != 4 {
				t.Errorf("Count of the copy = %d, %v; want 4", n, err)
			}
			got := 0
			for e, err := range c.Entries(t.Context()) {
				if err != nil {
					t.Fatal(err)
				}
				if e.Streamed {
					got++
				}
			}
			if got != dst.streamed {
				t.Errorf("%d streamed entries in the copy, want %d", got, dst.streamed)
			}
			nope := noNetwork(t)
			if b, in := transferGet(t, c, "/big", "", nope); b != string(big) || !in.FromCache {
				t.Errorf("/big from the copy: %d bytes (equal %v), FromCache %v; want the %d bytes, a hit", len(b), b == string(big), in.FromCache, len(big))
			}
			if b, _ := transferGet(t, c, "/small", "", nope); b != "small /small" {
				t.Errorf("/small from the copy = %q", b)
			}
			for _, l := range []string{"en", "fr"} {
				if b, in := transferGet(t, c, "/v", l, nope); b != "in "+l || !in.FromCache {
					t.Errorf("/v (%s) from the copy = %q, FromCache %v; want its own variant, a hit", l, b, in.FromCache)
				}
			}
		})
	}
}

// TestPutRejectsAWrongBody: a streamed entry whose body is shorter or
// longer than its BodySize, or fails while read, stores nothing (the
// stream is aborted and no entry refers to it).
func TestPutRejectsAWrongBody(t *testing.T) {
	st, err := filestore.New(t.TempDir(), &filestore.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := core.New(st)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		name string
		body io.Reader
	}{
		{"short", strings.NewReader(strings.Repeat("a", 99))},
		{"long", strings.NewReader(strings.Repeat("a", 101))},
		{"failing", io.MultiReader(strings.NewReader("abc"), iotestErr{})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &core.Entry{Key: "k-" + tc.name, Method: "GET", URL: "http://x.test/" + tc.name, Status: 200,
				Header: http.Header{}, Streamed: true, BodySize: 100}
			if err := c.Put(t.Context(), e, tc.body); err == nil {
				t.Fatal("Put with a wrong body: nil error")
			}
			if _, err := st.Get(t.Context(), e.Key); !errors.Is(err, core.ErrNotFound) {
				t.Errorf("after a failed Put, Get = %v; want ErrNotFound (nothing stored)", err)
			}
			if rc, _, err := st.OpenStream(t.Context(), e.Key); err == nil {
				rc.Close()
				t.Errorf("after a failed Put, a stream is committed under the key")
			}
		})
	}
	// The right body is stored and read back through OpenBody.
	e := &core.Entry{Key: "k-ok", Method: "GET", URL: "http://x.test/ok", Status: 200, Header: http.Header{}, Streamed: true, BodySize: 100}
	if err := c.Put(t.Context(), e, strings.NewReader(strings.Repeat("b", 100))); err != nil {
		t.Fatal(err)
	}
	for got, err := range c.Records(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		rc, err := c.OpenBody(t.Context(), got)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(b) != strings.Repeat("b", 100) {
			t.Errorf("OpenBody = %d bytes, %v; want the 100 bytes Put", len(b), err)
		}
	}
	// A body reader for an entry that is not streamed is a mistake.
	if err := c.Put(t.Context(), &core.Entry{Key: "k2", Method: "GET", URL: "http://x.test/", Status: 200}, strings.NewReader("x")); err == nil {
		t.Error("Put of an inline entry with a body reader: nil error")
	}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, fmt.Errorf("read failure") }

// ExampleCache_CountWhere counts and then removes the responses of one host.
func ExampleCache_CountWhere() {
	st, _ := memstore.New(nil)
	cache, _ := core.New(st)
	defer cache.Close()
	calls := 0
	for _, u := range []string{"http://a.example/1", "http://a.example/2", "http://b.example/1"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		read(cache.Do(req, origin(&calls)))
	}
	ctx := context.Background()
	n, _ := cache.CountWhere(ctx, core.Filter{Host: "a.example"})
	fmt.Println("a.example:", n)
	removed, _ := cache.DeleteWhere(ctx, core.Filter{Host: "a.example"})
	fmt.Println("removed:", removed.Entries, "entries,", removed.Bytes, "bytes")
	total, _ := cache.Count(ctx)
	fmt.Println("left:", total)
	// Output:
	// a.example: 2
	// removed: 2 entries, 20 bytes
	// left: 1
}

// ExampleCache_EntriesWhere lists the expired responses under a URL prefix.
func ExampleCache_EntriesWhere() {
	st, _ := memstore.New(nil)
	cache, _ := core.New(st)
	defer cache.Close()
	calls := 0
	req, _ := http.NewRequest(http.MethodGet, "http://api.example/v1/users", nil)
	read(cache.Do(req, origin(&calls)))
	for e, err := range cache.EntriesWhere(context.Background(), core.Filter{URL: "api.example/v1/", Expiry: core.OnlyFresh}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.Method, e.URL, e.Status, e.BodyLen())
	}
	// Output:
	// GET http://api.example/v1/users 200 10
}

// ExampleCache_DeleteURLs removes everything stored for two URLs.
func ExampleCache_DeleteURLs() {
	st, _ := memstore.New(nil)
	cache, _ := core.New(st)
	defer cache.Close()
	calls := 0
	for _, u := range []string{"http://a.example/1", "http://a.example/2"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		read(cache.Do(req, origin(&calls)))
	}
	removed, err := cache.DeleteURLs(context.Background(), "http://A.example:80/1", "http://a.example/2")
	fmt.Println(removed.Entries, err)
	// Output:
	// 2 <nil>
}

// TestNewCallsAfterClose: the filter and copy calls fail with ErrClosed
// once Close has begun, as the other management calls do.
func TestNewCallsAfterClose(t *testing.T) {
	st, err := memstore.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := core.New(st)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	ctx := t.Context()
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, core.ErrClosed) {
			t.Errorf("%s after Close: %v, want an error wrapping core.ErrClosed", op, err)
		}
	}
	_, err = c.Count(ctx)
	check("Count", err)
	_, err = c.CountWhere(ctx, core.Filter{Expiry: core.OnlyExpired})
	check("CountWhere", err)
	_, err = c.DeleteWhere(ctx, core.Filter{})
	check("DeleteWhere", err)
	_, err = c.DeleteURLs(ctx, "http://x.test/")
	check("DeleteURLs", err)
	for _, err := range c.EntriesWhere(ctx, core.Filter{Host: "x.test"}) {
		check("EntriesWhere", err)
		break
	}
	for _, err := range c.Records(ctx) {
		check("Records", err)
		break
	}
	check("Put", c.Put(ctx, &core.Entry{Key: "k", Method: "GET", URL: "http://x.test/", Status: 200}, nil))
	_, err = c.OpenBody(ctx, &core.Entry{Key: "k", Streamed: true, BodySize: 1})
	check("OpenBody", err)
}
