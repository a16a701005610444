package storekit_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	"github.com/hoardhttp/hoard/internal/storekit"
)

func TestSumsDependOnEveryInput(t *testing.T) {
	base := storekit.ValueSum([]byte("k"), 1, []byte("v"))
	for name, got := range map[string]int64{
		"key":      storekit.ValueSum([]byte("K"), 1, []byte("v")),
		"expires":  storekit.ValueSum([]byte("k"), 2, []byte("v")),
		"value":    storekit.ValueSum([]byte("k"), 1, []byte("w")),
		"boundary": storekit.ValueSum([]byte("kv"), 1, nil),
	} {
		if got == base {
			t.Errorf("ValueSum ignores the %s", name)
		}
	}
	c := storekit.ChunkSum(1, 0, []byte("d"))
	if c == storekit.ChunkSum(2, 0, []byte("d")) || c == storekit.ChunkSum(1, 1, []byte("d")) || c == storekit.ChunkSum(1, 0, []byte("e")) {
		t.Error("ChunkSum ignores the stream id, the sequence number or the data")
	}
}

func TestPins(t *testing.T) {
	released := 0
	p := storekit.Pins{Released: func() { released++ }}
	p.Pin(7)
	p.Pin(7)
	p.Unpin(7)
	if !p.Pinned(7) || released != 0 {
		t.Fatalf("after two pins and one unpin: pinned %v, released %d; want true, 0", p.Pinned(7), released)
	}
	if ids := p.IDs(); len(ids) != 1 || ids[0] != 7 {
		t.Errorf("IDs = %v, want [7]", ids)
	}
	p.Unpin(7)
	if p.Pinned(7) || released != 1 || len(p.IDs()) != 0 {
		t.Errorf("after the last unpin: pinned %v, released %d, ids %v", p.Pinned(7), released, p.IDs())
	}
}

func TestTouches(t *testing.T) {
	var r storekit.Touches[int]
	if r.Take() != nil {
		t.Fatal("Take of nothing is not nil")
	}
	r.Touch("a", 1)
	if n := r.Touch("a", 2); n != 1 {
		t.Errorf("Touch count = %d, want 1", n)
	}
	r.Touch("b", 3)
	r.Forget("b")
	if m := r.Take(); len(m) != 1 || m["a"] != 2 {
		t.Errorf("Take = %v, want map[a:2]", m)
	}
	r.Touch("c", 4)
	r.Clear()
	if m := r.Take(); m != nil {
		t.Errorf("Take after Clear = %v", m)
	}
}

func TestChunkReader(t *testing.T) {
	chunks := [][]byte{[]byte("hello "), []byte("chunked "), []byte("world")}
	want := bytes.Join(chunks, nil)
	newReader := func(broken int64) (*storekit.ChunkReader, *bool) {
		closed := false
		return &storekit.ChunkReader{
			Size: int64(len(want)),
			Load: func(seq, max int64) ([]byte, error) {
				if seq == broken {
					return nil, errors.New("bad chunk")
				}
				if int64(len(chunks[seq])) > max {
					return nil, fmt.Errorf("chunk %d too long", seq)
				}
				return chunks[seq], nil
			},
			Closed: func() { closed = true },
			Name:   "test",
		}, &closed
	}
	r, _ := newReader(-1)
	// Without a ChunkSize the reader cannot seek: test it as a plain reader.
	if err := iotest.TestReader(struct{ io.Reader }{r}, want); err != nil {
		t.Error(err)
	}
	r, closed := newReader(-1)
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("ReadAll = %q, %v", got, err)
	}
	if err := r.Close(); err != nil || !*closed {
		t.Errorf("Close = %v, Closed called %v", err, *closed)
	}
	r, closed = newReader(1)
	got, err = io.ReadAll(r)
	if err == nil || string(got) != "hello " {
		t.Errorf("ReadAll over a bad chunk = %q, %v; want the first chunk and the error", got, err)
	}
	if _, err2 := r.Read(make([]byte, 1)); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("Read after the error = %v, want the same error", err2)
	}
	r.Close()
	r.Close()
	if !*closed {
		t.Error("Closed was not called")
	}
	if _, err := r.Read(make([]byte, 1)); err == nil {
		t.Error("Read after Close: no error")
	}
}

func TestChunkWriter(t *testing.T) {
	var got [][]byte
	tooLarge := errors.New("too large")
	w := storekit.ChunkWriter{Size: 4, Max: 10, TooLarge: func() error { return tooLarge },
		Flush: func(seq int64, chunk []byte) error {
			if seq != int64(len(got)) {
				t.Errorf("chunk %d flushed after %d chunks", seq, len(got))
			}
			got = append(got, bytes.Clone(chunk))
			return nil
		}}
	for _, p := range []string{"ab", "cdefg", "", "hi"} {
		if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	if err := w.Close(); err != nil || w.Len() != 9 {
		t.Fatalf("Close = %v, Len = %d; want nil, 9", err, w.Len())
	}
	if fmt.Sprintf("%q", got) != `["abcd" "efgh" "i"]` {
		t.Errorf("chunks = %q", got)
	}

	w = storekit.ChunkWriter{Size: 4, Max: 5, TooLarge: func() error { return tooLarge },
		Flush: func(int64, []byte) error { return nil }}
	if _, err := w.Write([]byte("abcdef")); !errors.Is(err, tooLarge) {
		t.Errorf("Write past Max = %v, want TooLarge's error", err)
	}
	if err := w.Close(); !errors.Is(err, tooLarge) {
		t.Errorf("Close after the error = %v, want it again", err)
	}

	failed := errors.New("flush failed")
	w = storekit.ChunkWriter{Size: 2, Max: 100, TooLarge: func() error { return tooLarge },
		Flush: func(int64, []byte) error { return failed }}
	if n, err := w.Write([]byte("abc")); n != 2 || !errors.Is(err, failed) {
		t.Errorf("Write over a failing Flush = %d, %v; want 2, the flush error", n, err)
	}
	if _, err := w.Write([]byte("d")); !errors.Is(err, failed) {
		t.Errorf("Write after a failed flush = %v, want the same error", err)
	}
}

// TestChunkReaderSeek reads fixed-size chunks after seeks (iotest.TestReader
// seeks about), loads no chunk before the one holding the offset, and
// reports a chunk of the wrong size met after a seek as damage.
func TestChunkReaderSeek(t *testing.T) {
	const chunk = 4
	want := []byte("0123456789abcdefghij-tail")
	newReader := func(loaded *[]int64, short int64) *storekit.ChunkReader {
		return &storekit.ChunkReader{
			Size:      int64(len(want)),
			ChunkSize: chunk,
			Load: func(seq, max int64) ([]byte, error) {
				*loaded = append(*loaded, seq)
				end := min((seq+1)*chunk, int64(len(want)))
				if seq == short {
					end--
				}
				return want[seq*chunk : end], nil
			},
			Name: "test",
		}
	}
	var loaded []int64
	if err := iotest.TestReader(newReader(&loaded, -1), want); err != nil {
		t.Error(err)
	}
	tests := []struct {
		name   string
		offset int64
		whence int
		want   string
		first  int64 // the first chunk loaded
	}{
		{"start of a chunk", 8, io.SeekStart, "89abcdefghij-tail", 2},
		{"inside a chunk", 10, io.SeekStart, "abcdefghij-tail", 2},
		{"from the end", -5, io.SeekEnd, "-tail", 5},
		{"past the end", 100, io.SeekStart, "", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var loaded []int64
			r := newReader(&loaded, -1)
			if _, err := r.Seek(tt.offset, tt.whence); err != nil {
				t.Fatalf("Seek: %v", err)
			}
			got, err := io.ReadAll(r)
			if err != nil || string(got) != tt.want {
				t.Fatalf("ReadAll after Seek = %q, %v; want %q", got, err, tt.want)
			}
			if tt.first >= 0 && (len(loaded) == 0 || loaded[0] != tt.first) {
				t.Errorf("chunks loaded %v, want the first to be %d", loaded, tt.first)
			}
			if tt.first < 0 && len(loaded) != 0 {
				t.Errorf("chunks loaded %v past the end, want none", loaded)
			}
		})
	}
	t.Run("short chunk after a seek", func(t *testing.T) {
		var loaded []int64
		r := newReader(&loaded, 3)
		if _, err := r.Seek(12, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(r); err == nil {
			t.Fatalf("ReadAll = %q, nil; want an error for the short chunk", got)
		}
	})
	t.Run("no chunk size", func(t *testing.T) {
		var loaded []int64
		r := newReader(&loaded, -1)
		r.ChunkSize = 0
		if _, err := r.Seek(0, io.SeekCurrent); err != nil {
			t.Errorf("Seek to the current offset = %v, want nil", err)
		}
		if _, err := r.Seek(8, io.SeekStart); err == nil {
			t.Error("Seek without a chunk size = nil, want an error")
		}
	})
}
