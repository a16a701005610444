package core_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/codecs"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
)

// flipStore is streamStore whose stream readers can flip one bit of what
// they return, at a given offset of the stream (negative: none) — the
// stored bytes changed under the cache's feet, on any read path.
type flipStore struct {
	*streamStore
	flipAt atomic.Int64
}

func newFlipStore(t *testing.T) *flipStore {
	s := &flipStore{streamStore: newStreamStore(t)}
	s.flipAt.Store(-1)
	return s
}

func (s *flipStore) OpenStream(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	rc, n, err := s.streamStore.OpenStream(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	at := s.flipAt.Load()
	if at < 0 {
		return rc, n, nil
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, 0, err
	}
	if at < int64(len(b)) {
		b[at] ^= 0x08
	}
	return io.NopCloser(bytes.NewReader(b)), n, nil
}

// stream returns a copy of the stored stream of key.
func (s *streamStore) stream(key string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.streams[key])
}

// setStream replaces the stored stream of key.
func (s *streamStore) setStream(key string, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams[key] = b
}

const sealTestSize = 2<<20 + 4321 // above the stream threshold, 33 segments

// markedOrigin answers GET with sealTestSize bytes of conformance.MarkedBody
// (every position distinct), an ETag and the given Cache-Control; a
// conditional request whose validator matches gets a 304; status, when set,
// replaces every answer.
type markedOrigin struct {
	calls  atomic.Int64
	cc     string
	status atomic.Int64
	body   []byte
}

func newMarkedOrigin(cc string) *markedOrigin {
	return &markedOrigin{cc: cc, body: conformance.MarkedBody(sealTestSize)}
}

func (o *markedOrigin) send(r *http.Request) (*http.Response, error) {
	o.calls.Add(1)
	resp := &http.Response{Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: r,
		Header: http.Header{"Cache-Control": {o.cc}, "Etag": {`"m"`}, "Date": {time.Now().UTC().Format(http.TimeFormat)}}}
	switch {
	case o.status.Load() != 0:
		// An error without freshness information of its own: it is not
		// stored (RFC 9111 §3), so what the key holds afterwards says what
		// the cache did with the corrupt entry.
		resp.Header.Del("Cache-Control")
		resp.StatusCode = int(o.status.Load())
		resp.Body = io.NopCloser(bytes.NewReader([]byte("origin error")))
		resp.ContentLength = 12
	case r.Header.Get("If-None-Match") == `"m"`:
		resp.StatusCode = http.StatusNotModified
		resp.Body = http.NoBody
	default:
		resp.StatusCode = http.StatusOK
		resp.Header.Set("Content-Length", strconv.Itoa(len(o.body)))
		resp.Body = io.NopCloser(bytes.NewReader(o.body))
		resp.ContentLength = int64(len(o.body))
	}
	return resp, nil
}

// fetch sends a GET through c and reads the body: what was read and the
// error the body ended with. useWriteTo reads through io.Copy (the body's
// WriteTo), otherwise through Read calls.
func fetch(t *testing.T, c *core.Cache, o *markedOrigin, useWriteTo bool) (*http.Response, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://example.test/marked", nil)
	resp, err := c.Do(req, o.send)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if useWriteTo {
		_, err = io.Copy(&buf, resp.Body)
	} else {
		p := make([]byte, 7777)
		for {
			n, rerr := resp.Body.Read(p)
			buf.Write(p[:n])
			if rerr != nil {
				if rerr != io.EOF {
					err = rerr
				}
				break
			}
		}
	}
	return resp, buf.Bytes(), err
}

func quietCache(t *testing.T, st core.Store, opts ...core.Option) *core.Cache {
	t.Helper()
	c, err := core.New(st, append([]core.Option{core.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func sealTestCodecs(t *testing.T) []struct {
	name  string
	codec core.Codec
} {
	k := bytes.Repeat([]byte{0x42}, 32)
	signed, err := codecs.NewSigned(core.BinaryCodec{}, [][]byte{k})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := codecs.NewEncrypted(core.BinaryCodec{}, [][]byte{k})
	if err != nil {
		t.Fatal(err)
	}
	return []struct {
		name  string
		codec core.Codec
	}{{"Binary", core.BinaryCodec{}}, {"Signed", signed}, {"Encrypted", enc}}
}

// TestStreamCorruptionOnEveryServePath: whichever path serves a streamed
// entry — a hit, a 304 revalidation, stale-if-error, collapsed waiters —
// a stream whose first segment fails its check is never served: the entry
// is deleted and counted and the request is answered as if nothing were
// stored; a later segment that fails ends the body with an error wrapping
// core.ErrCorrupt after correct bytes only, and deletes the entry.
func TestStreamCorruptionOnEveryServePath(t *testing.T) {
	for _, cc := range sealTestCodecs(t) {
		t.Run(cc.name, func(t *testing.T) {
			t.Run("HitFirstSegment", func(t *testing.T) {
				st := newFlipStore(t)
				o := newMarkedOrigin("max-age=600")
				c := quietCache(t, st, core.WithCodec(cc.codec))
				fetch(t, c, o, false)
				st.flipAt.Store(1000)
				resp, got, err := fetch(t, c, o, false)
				st.flipAt.Store(-1)
				if err != nil || !bytes.Equal(got, o.body) || core.InfoOf(resp).FromCache {
					t.Errorf("read %d bytes (intact %v), %v, FromCache %v; want the origin's body, fetched again",
						len(got), bytes.Equal(got, o.body), err, core.InfoOf(resp).FromCache)
				}
				if n := c.Stats().CorruptErrors; n != 1 {
					t.Errorf("CorruptErrors = %d, want 1", n)
				}
				if n := o.calls.Load(); n != 2 {
					t.Errorf("origin calls = %d, want 2", n)
				}
			})
			for _, writeTo := range []bool{false, true} {
				t.Run(fmt.Sprintf("HitLaterSegment/WriteTo=%v", writeTo), func(t *testing.T) {
					st := newFlipStore(t)
					o := newMarkedOrigin("max-age=600")
					c := quietCache(t, st, core.WithCodec(cc.codec))
					resp, _, _ := fetch(t, c, o, writeTo)
					key := core.InfoOf(resp).Key
					flip := int64(len(st.stream(key))) * 2 / 3
					st.flipAt.Store(flip)
					resp, got, err := fetch(t, c, o, writeTo)
					st.flipAt.Store(-1)
					if !core.InfoOf(resp).FromCache {
						t.Errorf("FromCache = false, want a hit that fails mid-body")
					}
					if !errors.Is(err, core.ErrCorrupt) {
						t.Errorf("the body ended with %v after %d bytes, want an error wrapping core.ErrCorrupt", err, len(got))
					}
					if !bytes.HasPrefix(o.body, got) || int64(len(got)) >= flip {
						t.Errorf("%d bytes released (a prefix of the body: %v), the flipped byte is at stream offset %d",
							len(got), bytes.HasPrefix(o.body, got), flip)
					}
					if n := c.Stats().CorruptErrors; n != 1 {
						t.Errorf("CorruptErrors = %d, want 1", n)
					}
					if _, err := st.Get(context.Background(), key); !errors.Is(err, core.ErrNotFound) {
						t.Errorf("Get after the corrupt body: %v, want ErrNotFound (entry deleted)", err)
					}
				})
			}
			t.Run("Revalidated304", func(t *testing.T) {
				st := newFlipStore(t)
				o := newMarkedOrigin("max-age=60")
				clk := newReviewClock()
				c := quietCache(t, st, core.WithCodec(cc.codec), core.WithClock(clk.now))
				fetch(t, c, o, false)
				clk.advance(2 * time.Minute)
				st.flipAt.Store(1000)
				resp, got, err := fetch(t, c, o, false)
				st.flipAt.Store(-1)
				if err != nil || !bytes.Equal(got, o.body) {
					t.Errorf("read %d bytes (intact %v), %v; want the origin's body (Cache-Status %q)",
						len(got), bytes.Equal(got, o.body), err, resp.Header.Get("Cache-Status"))
				}
				if n := c.Stats().CorruptErrors; n != 1 {
					t.Errorf("CorruptErrors = %d, want 1", n)
				}
				// 304 to the conditional request, then the full body.
				if n := o.calls.Load(); n != 3 {
					t.Errorf("origin calls = %d, want 3", n)
				}
			})
			t.Run("StaleIfError", func(t *testing.T) {
				st := newFlipStore(t)
				o := newMarkedOrigin("max-age=60, stale-if-error=3600")
				clk := newReviewClock()
				c := quietCache(t, st, core.WithCodec(cc.codec), core.WithClock(clk.now))
				resp, _, _ := fetch(t, c, o, false)
				key := core.InfoOf(resp).Key
				clk.advance(2 * time.Minute)
				o.status.Store(http.StatusInternalServerError)
				st.flipAt.Store(1000)
				resp, got, err := fetch(t, c, o, false)
				st.flipAt.Store(-1)
				if resp.StatusCode != http.StatusInternalServerError || err != nil || string(got) != "origin error" {
					t.Errorf("status %d, body %.30q, %v; want the origin's 500, not the corrupt stale body", resp.StatusCode, got, err)
				}
				if n := c.Stats().CorruptErrors; n != 1 {
					t.Errorf("CorruptErrors = %d, want 1", n)
				}
				if _, err := st.Get(context.Background(), key); !errors.Is(err, core.ErrNotFound) {
					t.Errorf("Get after the corrupt stream: %v, want ErrNotFound (entry deleted)", err)
				}
			})
			t.Run("CollapsedWaiters", func(t *testing.T) {
				const n = 4
				st := newFlipStore(t)
				o := newMarkedOrigin("max-age=600")
				// The waiters must wait for the leader's stream, however
				// slowly a loaded machine writes it: after the default
				// collapse wait (1 s) they would be sent to the origin on
				// their own and never read it.
				c := quietCache(t, st, core.WithCodec(cc.codec), core.WithCollapseWait(30*time.Second))
				release := make(chan struct{})
				var first atomic.Bool
				send := func(r *http.Request) (*http.Response, error) {
					if first.CompareAndSwap(false, true) {
						select {
						case <-release:
						case <-time.After(5 * time.Second):
						}
						// What the waiters read once the leader committed.
						st.flipAt.Store(1000)
					}
					return o.send(r)
				}
				var wg sync.WaitGroup
				errs := make(chan error, n)
				for range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						req, _ := http.NewRequest(http.MethodGet, "http://example.test/marked", nil)
						resp, err := c.Do(req, send)
						if err != nil {
							errs <- err
							return
						}
						defer resp.Body.Close()
						got, err := io.ReadAll(resp.Body)
						if err != nil || !bytes.Equal(got, o.body) {
							errs <- fmt.Errorf("read %d bytes (intact %v), %v (Cache-Status %q)", len(got), bytes.Equal(got, o.body), err, resp.Header.Get("Cache-Status"))
						}
					}()
				}
				for deadline := time.Now().Add(5 * time.Second); c.Stats().Collapsed < n-1 && time.Now().Before(deadline); {
					time.Sleep(time.Millisecond)
				}
				close(release)
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Error(err)
				}
				if c.Stats().Collapsed != n-1 {
					t.Fatalf("Collapsed = %d, want %d: the waiters did not wait", c.Stats().Collapsed, n-1)
				}
				if got := c.Stats().CorruptErrors; got < 1 {
					t.Errorf("CorruptErrors = %d, want at least 1 (the waiters read a corrupt stream)", got)
				}
			})
		})
	}
}

// TestStreamUnframedIsAMiss: a stream as the cache stored it before stream
// framing (the StreamID, then the body as it is) is a miss, deleted and
// counted, never served.
func TestStreamUnframedIsAMiss(t *testing.T) {
	st := newStreamStore(t)
	o := newMarkedOrigin("max-age=600")
	c := quietCache(t, st)
	resp, _, _ := fetch(t, c, o, false)
	key := core.InfoOf(resp).Key
	id := st.stream(key)[:16]
	st.setStream(key, append(bytes.Clone(id), o.body...))
	resp, got, err := fetch(t, c, o, false)
	if err != nil || !bytes.Equal(got, o.body) || core.InfoOf(resp).FromCache {
		t.Errorf("read %d bytes, %v, FromCache %v; want the body fetched again", len(got), err, core.InfoOf(resp).FromCache)
	}
	if n := c.Stats().CorruptErrors; n != 1 {
		t.Errorf("CorruptErrors = %d, want 1", n)
	}
}

// authOnly claims to authenticate entries but has no stream protection and
// hides its inner codec (no Unwrap).
type authOnly struct{ core.BinaryCodec }

func (authOnly) Authenticated() bool { return true }

// TestStreamAuthenticatedCodecWithoutSealer: a codec that authenticates
// entries but offers no stream protection would leave streams forgeable, so
// the cache streams no bodies with it: large bodies are stored whole.
func TestStreamAuthenticatedCodecWithoutSealer(t *testing.T) {
	st := newStreamStore(t)
	o := newMarkedOrigin("max-age=600")
	c := quietCache(t, st, core.WithCodec(authOnly{}))
	for i, want := range []bool{false, true} {
		resp, got, err := fetch(t, c, o, false)
		if err != nil || !bytes.Equal(got, o.body) || core.InfoOf(resp).FromCache != want {
			t.Fatalf("request %d: %d bytes, %v, FromCache %v", i, len(got), err, core.InfoOf(resp).FromCache)
		}
	}
	if n := st.commits.Load(); n != 0 {
		t.Errorf("%d streams committed, want none", n)
	}
}

// badSealer declares an overhead no reader should have to buffer.
type badSealer struct{ core.BinaryCodec }

func (badSealer) StreamProtection() byte { return 0x99 }
func (badSealer) StreamOverhead() int    { return 1 << 20 }
func (badSealer) SealingStream([]byte) (core.SegmentSealer, uint32, error) {
	return nil, 0, errors.New("unused")
}
func (badSealer) OpeningStream(uint32, []byte) (core.SegmentSealer, error) {
	return nil, errors.New("unused")
}

func TestStreamSealerOverheadBounded(t *testing.T) {
	if _, err := core.New(newStreamStore(t), core.WithCodec(badSealer{})); err == nil {
		t.Error("core.New accepted a codec whose segments grow by 1 MiB")
	}
	if n := core.SealedStreamSize(badSealer{}, "id", 10); n != -1 {
		t.Errorf("SealedStreamSize = %d, want -1", n)
	}
}

// TestStreamHugeDeclaredSizeAllocatesOneSegment: the reader's memory is one
// segment, whatever body size the entry declares.
func TestStreamHugeDeclaredSizeAllocatesOneSegment(t *testing.T) {
	data, err := conformance.SealTestStream(core.BinaryCodec{}, "k", "id", []byte("short"))
	if err != nil {
		t.Fatal(err)
	}
	var ms runtimeAllocs
	ms.start()
	for range 10 {
		r, err := core.OpenSealedStream(bytes.NewReader(data), core.BinaryCodec{}, "k", "id", 1<<50)
		if err == nil {
			_, err = io.Copy(io.Discard, r)
		}
		if !errors.Is(err, core.ErrCorrupt) {
			t.Fatalf("a 5-byte body declared as 1 PiB: %v, want an error wrapping core.ErrCorrupt", err)
		}
	}
	if got := ms.bytes() / 10; got > 2*core.StreamSegmentSize {
		t.Errorf("%d bytes allocated per open, want at most two segments (%d)", got, 2*core.StreamSegmentSize)
	}
}

// TestStreamedMissInfo: the response of a miss whose body streams into the
// store says which key it is stored under, like any other miss.
func TestStreamedMissInfo(t *testing.T) {
	st := newStreamStore(t)
	c := quietCache(t, st)
	resp, _, err := fetch(t, c, newMarkedOrigin("max-age=600"), false)
	if err != nil {
		t.Fatal(err)
	}
	info := core.InfoOf(resp)
	if info.Key == "" || info.Created.IsZero() || info.Expires.IsZero() {
		t.Errorf("InfoOf(streamed miss) = %+v, want its Key, Created and Expires", info)
	}
	if st.stream(info.Key) == nil {
		t.Errorf("no stream stored under InfoOf's key %q", info.Key)
	}
}
