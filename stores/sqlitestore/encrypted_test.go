package sqlitestore_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/hoardhttp/hoard/codecs"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/sqlitestore"
)

// TestEncryptedStreamNotOnDiskInClear: with codecs.NewEncrypted, a body
// large enough to be streamed (2 MiB) leaves no plaintext in the database
// file or its WAL — the entry and the stream's chunks are both encrypted.
func TestEncryptedStreamNotOnDiskInClear(t *testing.T) {
	path := dbPath(t)
	s := open(t, &sqlitestore.Options{Path: path, SweepInterval: -1})
	enc, err := codecs.NewEncrypted(core.BinaryCodec{}, [][]byte{bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := core.New(s, core.WithCodec(enc), core.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	body := conformance.MarkedBody(2 << 20)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	defer origin.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	var key string
	for i, wantCached := range []bool{false, true} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, origin.URL+"/secret", nil)
		resp, err := c.Do(req, tr.RoundTrip)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("request %d: read %d bytes, %v", i, len(got), err)
		}
		if core.InfoOf(resp).FromCache != wantCached {
			t.Fatalf("request %d: FromCache = %v, want %v", i, !wantCached, wantCached)
		}
		key = core.InfoOf(resp).Key
	}
	// The body is the key's stream, not part of its entry.
	rc, _, err := s.OpenStream(t.Context(), key)
	if err != nil {
		t.Fatalf("OpenStream(%q): %v: the body was not streamed", key, err)
	}
	rc.Close()
	// Both files are read while the store is open: the WAL holds the
	// recent writes until a checkpoint moves them into the main file.
	matches, err := filepath.Glob(path + "*")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, p := range matches {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		seen += len(b)
		if i := bytes.Index(b, []byte(conformance.StreamMarker)); i >= 0 {
			t.Errorf("%s (%d bytes) holds the body's plaintext at offset %d", filepath.Base(p), len(b), i)
		}
	}
	if seen < len(body) {
		t.Fatalf("the database files (%v) hold %d bytes, less than the %d-byte body: not the files the store wrote", matches, seen, len(body))
	}
}
