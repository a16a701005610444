package pgstore_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hoardhttp/hoard/core"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestGetViewQueryModes: GetView lends what Get returns whether the pool
// reads results in the binary format (the default: the value is lent from
// pgx's receive buffer) or in the text format (the simple protocol and the
// exec mode: the value is decoded from its hex form first).
func TestGetViewQueryModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode pgx.QueryExecMode
	}{
		{"cache statement", pgx.QueryExecModeCacheStatement},
		{"exec", pgx.QueryExecModeExec},
		{"simple protocol", pgx.QueryExecModeSimpleProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := pgxpool.ParseConfig(pgURL(t))
			if err != nil {
				t.Fatal(err)
			}
			cfg.ConnConfig.DefaultQueryExecMode = tc.mode
			pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			st := newStore(t, pool, nil)
			ctx := t.Context()
			for _, v := range [][]byte{{}, []byte("x"), bytes.Repeat([]byte{0, 1, 0xff, '\\'}, 20000)} {
				if err := st.Set(ctx, "k", v, core.Meta{}); err != nil {
					t.Fatal(err)
				}
				got, err := st.Get(ctx, "k")
				if err != nil || !bytes.Equal(got, v) || got == nil {
					t.Fatalf("Get = %d bytes (nil %v), %v; want %d bytes", len(got), got == nil, err, len(v))
				}
				calls := 0
				err = st.GetView(ctx, "k", func(lent []byte) error {
					calls++
					if !bytes.Equal(lent, v) || lent == nil {
						t.Errorf("GetView lent %d bytes (nil %v), want %d", len(lent), lent == nil, len(v))
					}
					return nil
				})
				if err != nil || calls != 1 {
					t.Fatalf("GetView: %d calls, %v", calls, err)
				}
			}
		})
	}
}

// TestCacheHitsThroughView: a Cache over a pgstore (not wrapped) reads
// through GetView, and its hits serve the stored body after the pool has
// reused its receive buffer for other rows.
func TestCacheHitsThroughView(t *testing.T) {
	st := newStore(t, newPool(t), nil)
	c, err := core.New(st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	bodies := map[string]string{"/a": strings.Repeat("a", 70000), "/b": strings.Repeat("b", 300)}
	send := func(req *http.Request) (*http.Response, error) {
		b := bodies[req.URL.Path]
		return &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {"max-age=3600"}},
			Body: io.NopCloser(strings.NewReader(b)), ContentLength: int64(len(b)), Request: req}, nil
	}
	do := func(path string) (string, bool) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://example.test"+path, nil)
		resp, err := c.Do(req, send)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b), core.InfoOf(resp).FromCache
	}
	do("/a")
	do("/b")
	for range 3 {
		for path, want := range bodies {
			// Read the hit's body only after another row went through the
			// same connection's buffer.
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://example.test"+path, nil)
			resp, err := c.Do(req, send)
			if err != nil {
				t.Fatal(err)
			}
			if other, _ := do(map[string]string{"/a": "/b", "/b": "/a"}[path]); other == "" {
				t.Fatal("empty body")
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(b) != want || !core.InfoOf(resp).FromCache {
				t.Fatalf("%s: hit %v, %d bytes, %v; want the stored %d bytes", path, core.InfoOf(resp).FromCache, len(b), err, len(want))
			}
		}
	}
}
