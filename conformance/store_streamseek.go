package conformance

import (
	"bytes"
	"io"
	"testing"

	"github.com/hoardhttp/hoard/core"
)

// testStreamSeek checks, for a harness that declares StreamSeek, that the
// readers of OpenStream implement io.Seeker and that a Seek to any offset
// (chunk boundaries of the common backends included: 255 KiB GridFS, 256
// KiB SQLite chunks, 64 KiB stream segments) makes the next Read return the
// stream's bytes from there; that Seek composes (io.SeekCurrent,
// io.SeekEnd, backwards); that an offset at or past the end reads as the
// end; and that a reader sought after the stream was replaced never returns
// the new stream's bytes.
func testStreamSeek(t *testing.T, _ core.Store, sm core.Streamer, caps Capabilities) {
	if !caps.StreamSeek {
		t.Skip("the harness does not declare StreamSeek")
	}
	data := make([]byte, 1<<20+4321)
	fillPattern(data, 1)
	streamWrite(t, sm, "seek", data, core.Meta{})
	rc, size, err := sm.OpenStream(t.Context(), "seek")
	if err != nil {
		t.Fatalf("OpenStream: %v", err)
	}
	defer rc.Close()
	sk, ok := rc.(io.Seeker)
	if !ok {
		t.Fatalf("the harness declares StreamSeek but the reader %T does not implement io.Seeker", rc)
	}
	if size != int64(len(data)) {
		t.Fatalf("size = %d, want %d", size, len(data))
	}
	n := int64(len(data))
	readAt := func(off int64, whence int, want int64, k int) {
		t.Helper()
		pos, err := sk.Seek(off, whence)
		if err != nil {
			t.Fatalf("Seek(%d, %d): %v", off, whence, err)
		}
		if pos != want {
			t.Fatalf("Seek(%d, %d) = %d, want %d", off, whence, pos, want)
		}
		buf := make([]byte, k)
		got, err := io.ReadFull(rc, buf)
		end := min(want+int64(k), n)
		if want >= n {
			if got != 0 || err != io.EOF {
				t.Fatalf("Read at %d (the end of %d) = %d bytes, %v; want 0, io.EOF", want, n, got, err)
			}
			return
		}
		if (end-want < int64(k) && err != io.ErrUnexpectedEOF) || (end-want == int64(k) && err != nil) {
			t.Fatalf("ReadFull of %d bytes at %d: %v", k, want, err)
		}
		if !bytes.Equal(buf[:got], data[want:end]) {
			t.Fatalf("%d bytes read at %d after Seek are not the stream's bytes there", got, want)
		}
	}
	for _, off := range []int64{n - 1, 0, 1, 65535, 65536, 255 << 10, 256<<10 - 1, 256 << 10, 256<<10 + 1, 3 << 18, n - 100, 12345} {
		readAt(off, io.SeekStart, off, 1000)
	}
	readAt(5000, io.SeekStart, 5000, 10)
	readAt(-10, io.SeekCurrent, 5000, 100) // 5010 - 10
	readAt(-5, io.SeekEnd, n-5, 5)
	readAt(n, io.SeekStart, n, 10)
	readAt(n+100, io.SeekStart, n+100, 10)
	readAt(300<<10, io.SeekStart, 300<<10, 700<<10) // across chunks, to the end or near it
	if _, err := sk.Seek(-1, io.SeekStart); err == nil {
		t.Errorf("Seek to a negative offset did not fail")
	}

	// Replaced while open: the reader finishes the old bytes or fails.
	rc2, _, err := sm.OpenStream(t.Context(), "seek")
	if err != nil {
		t.Fatalf("OpenStream: %v", err)
	}
	defer rc2.Close()
	other := make([]byte, len(data))
	fillPattern(other, 2)
	streamWrite(t, sm, "seek", other, core.Meta{})
	if _, err := rc2.(io.Seeker).Seek(700<<10, io.SeekStart); err != nil {
		return // failing is allowed
	}
	got, err := io.ReadAll(rc2)
	if err == nil && !bytes.Equal(got, data[700<<10:]) {
		t.Errorf("a reader sought after the stream was replaced returned %d bytes that are not the old stream's", len(got))
	}
	if err != nil && len(got) > 0 && !bytes.Equal(got, data[700<<10:700<<10+len(got)]) {
		t.Errorf("a reader sought after the stream was replaced returned bytes of another stream before failing")
	}
}

// fillPattern fills b with bytes that depend on their position and seed.
func fillPattern(b []byte, seed int) {
	for i := range b {
		x := i*seed + seed
		b[i] = byte(x ^ x>>8 ^ x>>16 ^ seed*31)
	}
}
