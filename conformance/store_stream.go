package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

// streamCase is one clause of the core.Streamer contract, checked by run on
// a fresh store that implements it.
type streamCase struct {
	name string
	run  func(t *testing.T, st core.Store, sm core.Streamer, caps Capabilities)
}

// streamCases is the stream part of the store suite, run under "Stream/";
// the names are stable (scripts and CI filter on them with -run).
var streamCases = []streamCase{
	{"RoundTrip", testStreamRoundTrip},
	{"NotVisibleBeforeCommit", testStreamNotVisibleBeforeCommit},
	{"AbortDiscards", testStreamAbortDiscards},
	{"CommitReplacesAtomically", testStreamCommitReplacesAtomically},
	{"DeleteRemovesStream", testStreamDeleteRemovesStream},
	{"MissingIsErrNotFound", testStreamMissing},
	{"ExpiredNotReturned", testStreamExpired},
	{"ContextCancelled", testStreamContextCancelled},
	{"ConcurrentWriters", testStreamConcurrentWriters},
	{"Seek", testStreamSeek},
}

// streamChunks are the sizes, used in turn, in which the suite writes
// streams: odd sizes, so that a store that assumes aligned or fixed-size
// writes fails.
var streamChunks = []int{1, 7, 4093, 65537, 3, 1 << 20, 333_333}

// runStreamTests checks the core.Streamer contract when the harness declares
// Capabilities.Streaming; each subtest gets its own harness and fresh store.
func runStreamTests(t *testing.T, newHarness StoreHarnessMaker) {
	t.Helper()
	t.Run("Stream", func(t *testing.T) {
		h, err := newHarness(t.Context(), t)
		if err != nil {
			t.Fatalf("making harness: %v", err)
		}
		caps := h.Capabilities()
		h.Close()
		if !caps.Streaming {
			t.Skip("the harness does not declare Streaming")
		}
		for _, sc := range streamCases {
			t.Run(sc.name, func(t *testing.T) {
				st, caps := openStoreUnderTest(t, newHarness)
				sm, ok := st.(core.Streamer)
				if !ok {
					t.Fatalf("the harness declares Streaming but %T does not implement core.Streamer", st)
				}
				sc.run(t, st, sm, caps)
			})
		}
	})
}

func testStreamRoundTrip(t *testing.T, st core.Store, sm core.Streamer, _ Capabilities) {
	tests := []struct {
		name string
		size int
	}{
		{"0 bytes", 0},
		{"1 byte", 1},
		{"1 MiB", 1 << 20},
		{"8 MiB", 8 << 20},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "stream/roundtrip/" + strconv.Itoa(i)
			want := storeRandomBytes(tc.size, uint64(100+i))
			// A value under the same key lives next to the stream.
			storeSet(t, st, key, []byte("value"), core.Meta{Size: 5})
			streamWrite(t, sm, key, want, core.Meta{Size: int64(tc.size)})
			for read := range 2 { // nothing is consumed by reading
				got, size := streamRead(t, sm, key)
				if size != int64(tc.size) {
					t.Errorf("OpenStream(%q) #%d reports size %d, want %d", key, read+1, size, tc.size)
				}
				if d := storeDiffBytes(got, want); d != "" {
					t.Errorf("OpenStream(%q) #%d: %s", key, read+1, d)
				}
			}
			if got := storeGet(t, st, key); string(got) != "value" {
				t.Errorf("Get(%q) next to a stream = %q, want %q", key, got, "value")
			}
		})
	}
}

func testStreamNotVisibleBeforeCommit(t *testing.T, _ core.Store, sm core.Streamer, _ Capabilities) {
	tests := []struct {
		name     string
		previous []byte // nil: the key has no stream before
	}{
		{"new key", nil},
		{"replacing a stream", []byte("previous stream")},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			key := "stream/uncommitted/" + strconv.Itoa(i)
			if tc.previous != nil {
				streamWrite(t, sm, key, tc.previous, core.Meta{})
			}
			next := storeRandomBytes(200_000, uint64(200+i))
			w, err := sm.CreateStream(ctx, key, core.Meta{})
			if err != nil {
				t.Fatalf("CreateStream(%q): %v", key, err)
			}
			committed := false
			defer func() {
				if !committed {
					_ = w.Abort()
				}
			}()
			if _, err := w.Write(next[:100_000]); err != nil {
				t.Fatalf("Write: %v", err)
			}
			streamWant(t, sm, key, tc.previous, "while a new stream is written")
			if _, err := w.Write(next[100_000:]); err != nil {
				t.Fatalf("Write: %v", err)
			}
			streamWant(t, sm, key, tc.previous, "after the last Write, before Commit")
			committed = true
			if err := w.Commit(); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			streamWant(t, sm, key, next, "after Commit")
		})
	}
}

func testStreamAbortDiscards(t *testing.T, _ core.Store, sm core.Streamer, _ Capabilities) {
	tests := []struct {
		name     string
		previous []byte // nil: the key has no stream before
		write    []byte // what is written before Abort
	}{
		{"new key, nothing written", nil, nil},
		{"new key", nil, []byte("discarded")},
		{"previous stream stays", []byte("previous"), storeRandomBytes(300_000, 300)},
		{"previous stream stays, nothing written", []byte("previous"), nil},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			key := "stream/abort/" + strconv.Itoa(i)
			if tc.previous != nil {
				streamWrite(t, sm, key, tc.previous, core.Meta{})
			}
			w, err := sm.CreateStream(ctx, key, core.Meta{})
			if err != nil {
				t.Fatalf("CreateStream(%q): %v", key, err)
			}
			if len(tc.write) > 0 {
				if _, err := w.Write(tc.write); err != nil {
					_ = w.Abort()
					t.Fatalf("Write: %v", err)
				}
			}
			if err := w.Abort(); err != nil {
				t.Errorf("Abort: %v", err)
			}
			streamWant(t, sm, key, tc.previous, "after Abort")
			// The key takes a new stream after an Abort.
			streamWrite(t, sm, key, []byte("after abort"), core.Meta{})
			streamWant(t, sm, key, []byte("after abort"), "after Abort and a new Commit")
		})
	}
}

func testStreamCommitReplacesAtomically(t *testing.T, st core.Store, sm core.Streamer, _ Capabilities) {
	tests := []struct {
		name    string
		replace func(t *testing.T, key string) []byte // returns the stream after, nil for none
	}{
		{"replaced while read", func(t *testing.T, key string) []byte {
			next := storeRandomBytes(1<<20+123, 401)
			streamWrite(t, sm, key, next, core.Meta{})
			return next
		}},
		{"replaced by a shorter stream while read", func(t *testing.T, key string) []byte {
			next := []byte("short")
			streamWrite(t, sm, key, next, core.Meta{})
			return next
		}},
		{"deleted while read", func(t *testing.T, key string) []byte {
			if err := st.Delete(t.Context(), key); err != nil {
				t.Fatalf("Delete(%q): %v", key, err)
			}
			return nil
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			key := "stream/replace/" + strconv.Itoa(i)
			old := storeRandomBytes(1<<20, uint64(400+i))
			streamWrite(t, sm, key, old, core.Meta{})
			rc, size, err := sm.OpenStream(ctx, key)
			if err != nil {
				t.Fatalf("OpenStream(%q): %v", key, err)
			}
			defer rc.Close()
			if size != int64(len(old)) {
				t.Errorf("OpenStream(%q) size = %d, want %d", key, size, len(old))
			}
			head := make([]byte, 64<<10)
			if _, err := io.ReadFull(rc, head); err != nil {
				t.Fatalf("reading the first %d bytes: %v", len(head), err)
			}
			after := tc.replace(t, key)
			rest, err := io.ReadAll(rc)
			got := append(head, rest...)
			if err != nil {
				// Failing is allowed; mixing is not.
				if !bytes.HasPrefix(old, got) {
					t.Errorf("a reader opened before the change read bytes that are not the old stream before failing with %v", err)
				}
			} else if d := storeDiffBytes(got, old); d != "" {
				t.Errorf("a reader opened before the change does not read the old stream: %s", d)
			}
			streamWant(t, sm, key, after, "after the change")
		})
	}
}

func testStreamDeleteRemovesStream(t *testing.T, st core.Store, sm core.Streamer, caps Capabilities) {
	ctx := t.Context()
	tests := []struct {
		name      string
		withValue bool
	}{
		{"value and stream", true},
		{"stream alone", false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "stream/delete/" + strconv.Itoa(i)
			neighbour := key + "/neighbour"
			if tc.withValue {
				storeSet(t, st, key, []byte("value"), core.Meta{})
			}
			streamWrite(t, sm, key, []byte("stream"), core.Meta{})
			streamWrite(t, sm, neighbour, []byte("neighbour"), core.Meta{})
			if err := st.Delete(ctx, key); err != nil {
				t.Fatalf("Delete(%q): %v", key, err)
			}
			storeWantMiss(t, st, key)
			streamWant(t, sm, key, nil, "after Delete")
			streamWant(t, sm, neighbour, []byte("neighbour"), "after deleting another key")
			// The key takes a stream again.
			streamWrite(t, sm, key, []byte("again"), core.Meta{})
			streamWant(t, sm, key, []byte("again"), "after Delete and a new Commit")
		})
	}
	t.Run("Clear", func(t *testing.T) {
		if !caps.Clear {
			t.Skip("the harness does not declare Clear")
		}
		clearer, ok := st.(core.Clearer)
		if !ok {
			t.Fatalf("the harness declares Clear but %T does not implement core.Clearer", st)
		}
		keys := []string{"stream/clear/a", "stream/clear/b"}
		for _, key := range keys {
			storeSet(t, st, key, []byte("value"), core.Meta{})
			streamWrite(t, sm, key, []byte("stream"), core.Meta{})
		}
		if err := clearer.Clear(ctx); err != nil {
			t.Fatalf("Clear: %v", err)
		}
		for _, key := range keys {
			storeWantMiss(t, st, key)
			streamWant(t, sm, key, nil, "after Clear")
		}
	})
}

func testStreamMissing(t *testing.T, st core.Store, sm core.Streamer, _ Capabilities) {
	storeSet(t, st, "stream/missing/value only", []byte("value"), core.Meta{})
	streamWrite(t, sm, "stream/missing/present", []byte("present"), core.Meta{})
	for _, key := range []string{
		"stream/missing/never-set",
		"stream/missing/value only", // a value is not a stream
		"stream/missing/presen",
		"stream/missing/present/",
		"stream/missing/Present",
		"stream/missing/present\x00",
	} {
		t.Run(strconv.Quote(key), func(t *testing.T) {
			streamWant(t, sm, key, nil, "")
		})
	}
}

func testStreamExpired(t *testing.T, _ core.Store, sm core.Streamer, _ Capabilities) {
	tests := []struct {
		name      string
		liveFirst bool // the key holds a live stream before the expired one
	}{
		{"new key", false},
		{"replacing a live stream", true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "stream/expired/" + strconv.Itoa(i)
			if tc.liveFirst {
				live := []byte("live")
				streamWrite(t, sm, key, live, core.Meta{Expires: time.Now().Add(time.Hour)})
				streamWant(t, sm, key, live, "with Meta.Expires an hour ahead")
			}
			streamWrite(t, sm, key, []byte("dead"), core.Meta{Expires: time.Now().Add(-time.Second), Size: 4})
			streamWant(t, sm, key, nil, "committed with Meta.Expires in the past")
		})
	}
}

func testStreamContextCancelled(t *testing.T, _ core.Store, sm core.Streamer, _ Capabilities) {
	streamWrite(t, sm, "stream/ctx/present", []byte("present"), core.Meta{})
	ctxs := []struct {
		name string
		ctx  func(t *testing.T) context.Context
		want error
	}{
		{"cancelled", func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			return ctx
		}, context.Canceled},
		{"deadline exceeded", func(t *testing.T) context.Context {
			ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
			t.Cleanup(cancel)
			return ctx
		}, context.DeadlineExceeded},
	}
	ops := []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"CreateStream", func(ctx context.Context) error {
			w, err := sm.CreateStream(ctx, "stream/ctx/new", core.Meta{})
			if err == nil {
				_ = w.Abort()
				return errors.New("CreateStream returned a writer and no error")
			}
			return err
		}},
		{"OpenStream present", func(ctx context.Context) error {
			rc, _, err := sm.OpenStream(ctx, "stream/ctx/present")
			if err == nil {
				rc.Close()
				return errors.New("OpenStream returned a reader and no error")
			}
			return err
		}},
		{"OpenStream missing", func(ctx context.Context) error {
			rc, _, err := sm.OpenStream(ctx, "stream/ctx/missing")
			if err == nil {
				rc.Close()
				return errors.New("OpenStream returned a reader and no error")
			}
			return err
		}},
	}
	for _, c := range ctxs {
		for _, op := range ops {
			t.Run(c.name+"/"+op.name, func(t *testing.T) {
				if err := op.do(c.ctx(t)); !errors.Is(err, c.want) {
					t.Errorf("%s with a %s context = %v, want an error wrapping %v", op.name, c.name, err, c.want)
				}
			})
		}
	}
	// Nothing was created by the cancelled CreateStream calls.
	streamWant(t, sm, "stream/ctx/new", nil, "after CreateStream with a cancelled context")
}

func testStreamConcurrentWriters(t *testing.T, _ core.Store, sm core.Streamer, _ Capabilities) {
	const (
		writers      = 8
		readers      = 2
		maxReadLoops = 200
	)
	ctx := t.Context()
	key := "stream/concurrent"
	contents := make([][]byte, writers)
	for g := range contents {
		// Different lengths and contents, each stamped with its writer.
		contents[g] = append([]byte(fmt.Sprintf("writer %d|", g)), storeRandomBytes(256<<10+g*1000, uint64(500+g))...)
	}
	oneOf := func(got []byte) bool {
		for _, c := range contents {
			if bytes.Equal(got, c) {
				return true
			}
		}
		return false
	}
	var (
		wg, readersWG sync.WaitGroup
		start         = make(chan struct{})
		done          = make(chan struct{})
		errs          = make(chan error, writers+readers*maxReadLoops)
	)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			w, err := sm.CreateStream(ctx, key, core.Meta{Size: int64(len(contents[g]))})
			if err != nil {
				errs <- fmt.Errorf("writer %d: CreateStream: %w", g, err)
				return
			}
			for off, i := 0, g; off < len(contents[g]); i++ {
				n := min(streamChunks[i%len(streamChunks)], len(contents[g])-off)
				if _, err := w.Write(contents[g][off : off+n]); err != nil {
					_ = w.Abort()
					errs <- fmt.Errorf("writer %d: Write: %w", g, err)
					return
				}
				off += n
			}
			if err := w.Commit(); err != nil {
				errs <- fmt.Errorf("writer %d: Commit: %w", g, err)
			}
		}()
	}
	// Readers check, while the writers run, that every stream they open is
	// one writer's, whole.
	for r := range readers {
		readersWG.Add(1)
		go func() {
			defer readersWG.Done()
			<-start
			for range maxReadLoops {
				select {
				case <-done:
					return
				default:
				}
				rc, size, err := sm.OpenStream(ctx, key)
				if errors.Is(err, core.ErrNotFound) {
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("reader %d: OpenStream: %w", r, err)
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					errs <- fmt.Errorf("reader %d: reading: %w", r, err)
					return
				}
				if int64(len(got)) != size || !oneOf(got) {
					errs <- fmt.Errorf("reader %d: read %d bytes (size %d) that are not one writer's whole stream", r, len(got), size)
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(done)
	readersWG.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, size := streamRead(t, sm, key)
	if !oneOf(got) {
		t.Errorf("after %d concurrent commits the stream (%d bytes) is not exactly one of them", writers, len(got))
	}
	if size != int64(len(got)) {
		t.Errorf("OpenStream reports size %d for %d bytes", size, len(got))
	}
}

// streamWrite writes data as the stream of key in odd-sized chunks and
// commits it, failing the test on error.
func streamWrite(t *testing.T, sm core.Streamer, key string, data []byte, meta core.Meta) {
	t.Helper()
	w, err := sm.CreateStream(t.Context(), key, meta)
	if err != nil {
		t.Fatalf("CreateStream(%q): %v", key, err)
	}
	for off, i := 0, 0; off < len(data); i++ {
		n := min(streamChunks[i%len(streamChunks)], len(data)-off)
		m, err := w.Write(data[off : off+n])
		if err != nil {
			_ = w.Abort()
			t.Fatalf("Write of %d bytes at offset %d of the stream of %q: %v", n, off, key, err)
		}
		if m != n {
			_ = w.Abort()
			t.Fatalf("Write of %d bytes at offset %d of the stream of %q wrote %d with no error", n, off, key, m)
		}
		off += n
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit of the stream of %q (%d bytes): %v", key, len(data), err)
	}
}

// streamRead reads the whole stream of key and returns it with the size
// OpenStream reported, failing the test on any error, a miss included.
func streamRead(t *testing.T, sm core.Streamer, key string) ([]byte, int64) {
	t.Helper()
	rc, size, err := sm.OpenStream(t.Context(), key)
	if err != nil {
		t.Fatalf("OpenStream(%q): %v", key, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading the stream of %q: %v", key, err)
	}
	return got, size
}

// streamWant checks that the stream of key is want, or that there is none
// (an error wrapping core.ErrNotFound) when want is nil. when says at which
// point of the test, for the failure message.
func streamWant(t *testing.T, sm core.Streamer, key string, want []byte, when string) {
	t.Helper()
	if when != "" {
		when = " " + when
	}
	rc, size, err := sm.OpenStream(t.Context(), key)
	if want == nil {
		if err == nil {
			got, _ := io.ReadAll(rc)
			rc.Close()
			t.Errorf("OpenStream(%q)%s = %d bytes (size %d); want an error wrapping core.ErrNotFound", key, when, len(got), size)
		} else if !errors.Is(err, core.ErrNotFound) {
			t.Errorf("OpenStream(%q)%s: error %v; want an error wrapping core.ErrNotFound", key, when, err)
		}
		return
	}
	if err != nil {
		t.Errorf("OpenStream(%q)%s: %v", key, when, err)
		return
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Errorf("reading the stream of %q%s: %v", key, when, err)
		return
	}
	if d := storeDiffBytes(got, want); d != "" {
		t.Errorf("stream of %q%s: %s", key, when, d)
	}
	if size != int64(len(want)) {
		t.Errorf("OpenStream(%q)%s reports size %d, want %d", key, when, size, len(want))
	}
}
