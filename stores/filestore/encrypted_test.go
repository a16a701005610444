package filestore_test

import (
	"bytes"
	"io"
	"io/fs"
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
)

// TestEncryptedStreamNotOnDiskInClear: with codecs.NewEncrypted, a body
// large enough to be streamed (2 MiB) leaves no plaintext in any file of
// the store's directory — the entry and the stream are both encrypted.
func TestEncryptedStreamNotOnDiskInClear(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir, nil)
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
	files := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if i := bytes.Index(b, []byte(conformance.StreamMarker)); i >= 0 {
			t.Errorf("%s (%d bytes) holds the body's plaintext at offset %d", path, len(b), i)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("no files in the store's directory")
	}
}
