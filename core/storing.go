package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/hoardhttp/hoard/core/internal/rfc9111"
)

// Store is the storing hook. Given the LookupResult of a Bypass or a Miss and
// the outcome of sending its Request (the response, or the transport error),
// it applies RFC 9111 §4.4 (after a non-error response to an unsafe method,
// the stored responses of the target URI, Location and Content-Location are
// invalidated) and then, when resp may be stored (RFC 9111 §3 and the
// settings), reads the body — committing the entry only after a clean EOF
// with the expected length, and only up to WithMaxBodySize
// (WithMaxStreamSize for a body streamed into the store) — writes it, and
// returns a response whose body replays the bytes read. Otherwise it returns
// resp with its body untouched. Either way the response carries a
// Cache-Status field. A transport error is returned as it is. When lr leads
// a flight (see Join), the waiting requests are given the stored response.
//
// Store reads nothing from the store: it uses what Lookup found. Store errors
// fail open. For the LookupResult of a Hit it returns resp and err as they
// are.
func (c *Cache) Store(ctx context.Context, lr *LookupResult, resp *http.Response, err error) (*http.Response, error) {
	x := lr.x
	if x == nil {
		return resp, err
	}
	if err != nil {
		c.settle(x, outcome{})
		return nil, err
	}
	o := c.storeExchange(ctx, x, resp)
	c.settle(x, o)
	return o.resp, nil
}

// outcome is what storing or revalidating produced: the response for the
// caller, the entry now stored (nil when not stored, or not yet) and its
// key, and pending when a body streamed into the store is still being
// written (the entry is then published to the flight when it ends).
type outcome struct {
	resp    *http.Response
	entry   *Entry
	key     string
	pending bool
}

// storeExchange is Store for a response.
func (c *Cache) storeExchange(ctx context.Context, x *exchange, resp *http.Response) outcome {
	if x.act != Bypass {
		c.invalidateOnce(ctx, x, resp)
		return c.storeResponse(ctx, x.req, resp, x)
	}
	if x.detail != detailClosed {
		c.invalidateOnce(ctx, x, resp)
	}
	if x.fwd == ForwardMethod {
		if out, ok := c.storePOSTAsGET(ctx, x.req, resp, x.reqTime); ok {
			return outcome{resp: out}
		}
	}
	c.markForwarded(x.req, resp, bypassStatus(x), nil, "")
	return outcome{resp: resp}
}

// storeResponse stores resp when allowed and returns the outcome. A body
// that is streamed into the store is committed when the caller reads it to a
// clean EOF; the outcome is then pending, and the entry is published to the
// exchange's flight once it is committed or abandoned.
func (c *Cache) storeResponse(ctx context.Context, req *http.Request, resp *http.Response, x *exchange) outcome {
	canonicalResponse(resp)
	fwd := x.fwd
	if fwd == ForwardNone {
		fwd = ForwardMiss
	}
	if c.gate.closed() {
		c.markForwarded(req, resp, csClosed, nil, "")
		return outcome{resp: resp}
	}
	if x.skipWrite() {
		return c.passOn(req, resp, fwd, x)
	}
	cc := c.respDirectives(resp.Header)
	if reason := c.storable(req, resp, x, cc); reason != "" {
		return c.passOn(req, resp, fwd, x)
	}
	e := c.newEntry(req, resp, x, cc)
	if !c.applyPolicy(req, e, cc, x.ro) {
		return c.passOn(req, resp, fwd, x)
	}
	t, ok := c.target(req, x, e)
	if !ok {
		return c.passOn(req, resp, fwd, x)
	}
	var prefix []byte
	if st, can := c.store.(Streamer); can && c.streams != nil && x.method != http.MethodHead &&
		(resp.ContentLength < 0 || resp.ContentLength > c.cfg.streamThreshold) {
		if resp.ContentLength > c.cfg.maxStreamSize {
			return c.passOn(req, resp, fwd, x)
		}
		if resp.ContentLength >= 0 {
			return c.streamToStore(ctx, req, resp, x, e, t, st, fwd, nil)
		}
		// Unknown length: a small body is cheaper stored whole, so read up
		// to the threshold before choosing.
		p, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.streamThreshold+1))
		if err != nil {
			resp.Body = &replayBody{Reader: io.MultiReader(bytes.NewReader(p), errReader{err}), Closer: resp.Body}
			return c.passOn(req, resp, fwd, x)
		}
		if int64(len(p)) > c.cfg.streamThreshold {
			return c.streamToStore(ctx, req, resp, x, e, t, st, fwd, p)
		}
		prefix = p
	}
	return c.storeWhole(ctx, req, resp, x, e, t, fwd, prefix)
}

// passOn returns resp, not stored, marked as forwarded.
func (c *Cache) passOn(req *http.Request, resp *http.Response, fwd Forward, x *exchange) outcome {
	c.markForwarded(req, resp, fwdStatus(fwd, x.detail, 0, false, false), nil, "")
	return outcome{resp: resp}
}

// newEntry is the entry that would store resp, before the lifetime policy.
func (c *Cache) newEntry(req *http.Request, resp *http.Response, x *exchange, cc rfc9111.Directives) *Entry {
	now := c.cfg.now()
	e := &Entry{
		Method:       x.method,
		URL:          c.requestURL(req),
		Status:       resp.StatusCode,
		Proto:        resp.Proto,
		Header:       c.storedHeader(resp.Header, cc),
		Uncompressed: resp.Uncompressed,
		RequestTime:  x.reqTime,
		ResponseTime: now,
		InitialAge:   rfc9111.CorrectedInitialAge(resp.Header, x.reqTime, now),
		Created:      now,
	}
	if e.RequestTime.IsZero() || e.RequestTime.After(now) {
		e.RequestTime = now
	}
	return e
}

// storeWhole reads the body (after prefix, the bytes already read when
// there are any) and writes e under t in one piece.
func (c *Cache) storeWhole(ctx context.Context, req *http.Request, resp *http.Response, x *exchange, e *Entry, t target, fwd Forward, prefix []byte) outcome {
	data := []byte{}
	ok := true
	if prefix != nil {
		data = prefix
		resp.Body.Close()
	} else if x.method == http.MethodHead {
		drain(resp) // a HEAD response has no content, whatever its Content-Length says
		resp.Body = http.NoBody
	} else if data, ok = c.readBody(resp); !ok {
		return c.passOn(req, resp, fwd, x)
	}
	e.Body = data
	if len(resp.Trailer) > 0 {
		e.Trailer = resp.Trailer.Clone()
	}
	stored := c.writeEntry(ctx, t.key, e) && c.commitIndex(ctx, x, t, e)
	resp.Body = &body{data: data}
	if x.method != http.MethodHead {
		// A HEAD response keeps the length its origin announced: it has
		// no content, but says how long the GET's would be (RFC 9110 §9.3.2).
		resp.ContentLength = int64(len(data))
	}
	c.markForwarded(req, resp, fwdStatus(fwd, x.detail, 0, stored, false), e, t.key)
	// Waiting requests share e even when the write failed: it is a
	// complete, storable response to the same request.
	return outcome{resp: resp, entry: e, key: t.key}
}

// streamToStore hands the caller a body that tees into a store stream,
// framed and sealed segment by segment under the codec's protection (see
// SealStream); the final segment is written and the entry committed only
// after a clean EOF with the expected length and within WithMaxStreamSize,
// so a truncated body is never stored.
//
// prefix holds bytes already read from resp.Body (a body of unknown length
// longer than the stream threshold); they are passed on first.
func (c *Cache) streamToStore(ctx context.Context, req *http.Request, resp *http.Response, x *exchange, e *Entry, t target, st Streamer, fwd Forward, prefix []byte) outcome {
	e.Streamed = true
	src := resp.Body
	if prefix != nil {
		src = &replayBody{Reader: io.MultiReader(bytes.NewReader(prefix), resp.Body), Closer: resp.Body}
	}
	e.StreamID = newStreamID()
	w, sw, err := c.createStream(ctx, st, t.key, e)
	if err != nil {
		resp.Body = src
		cs := csClosed
		if !errors.Is(err, ErrClosed) {
			cs = fwdStatus(fwd, x.detail, 0, false, false)
		}
		c.markForwarded(req, resp, cs, nil, "")
		return outcome{resp: resp}
	}
	tb := &teeBody{src: src, w: sw, gate: c.gate, expected: resp.ContentLength, max: c.cfg.maxStreamSize}
	tb.onEnd = func(n int64, clean bool) {
		stored := c.endStream(ctx, x, resp, e, t, w, n, clean)
		tb.committed = stored != nil
		if stored != nil {
			c.publish(x, stored, t.key)
		} else {
			c.publish(x, nil, "")
		}
	}
	c.markForwarded(req, resp, fwdStatus(fwd, x.detail, 0, false, false), e, t.key)
	tb.info = InfoOf(resp) // before the body is replaced: InfoOf reads a teeBody's info first
	resp.Body = tb
	return outcome{resp: resp, pending: true}
}

// createStream opens the store stream for e under key, with the sealing
// writer over it. The writer lives on a context derived from ctx (the
// request's): the store timeout bounds its creation and then each Write and
// the Commit (see boundedWriter), so a store that hangs mid-stream delays
// the caller's reads by the timeout at most.
func (c *Cache) createStream(ctx context.Context, st Streamer, key string, e *Entry) (StreamWriter, *sealWriter, error) {
	meta := Meta{Expires: e.Deletion, URL: e.URL, Method: e.Method, Status: e.Status, Created: e.Created}
	var sw *sealWriter
	var w StreamWriter
	wctx, wcancel := context.WithCancel(ctx)
	err := c.call(ctx, "create stream", key, onRequest, func(context.Context) (err error) {
		var sw0 StreamWriter
		if sw0, err = st.CreateStream(wctx, key, meta); err == nil {
			w = &boundedWriter{w: sw0, c: c, ctx: ctx, key: key, cancel: wcancel}
			if sw, err = c.streams.newWriter(w, key, e.StreamID); err != nil {
				w.Abort()
			}
		}
		return err
	})
	if err != nil {
		wcancel()
		return nil, nil, err
	}
	return w, sw, nil
}

// endStream commits (clean) or abandons the store stream w of e once the
// caller's reading of the body has ended after n bytes, and returns the
// entry stored (nil when it was not).
func (c *Cache) endStream(ctx context.Context, x *exchange, resp *http.Response, e *Entry, t target, w StreamWriter, n int64, clean bool) *Entry {
	key := t.key
	var err error
	if clean {
		// Commit is bounded, and its failure counted, by boundedWriter.
		if err = c.admit(ctx); err == nil {
			err = w.Commit()
			c.gate.leave()
		}
		// After Close (or with the breaker open) the stream is given
		// up: Abort only releases the writer, it stores nothing.
		clean = !errors.Is(err, ErrClosed) && !errors.Is(err, errBreakerOpen)
	}
	if !clean {
		if err := w.Abort(); err != nil {
			c.storeFailed(ctx, "abort stream", key, err)
		}
		return nil
	}
	if err != nil {
		return nil
	}
	e.BodySize = n
	if len(resp.Trailer) > 0 {
		e.Trailer = resp.Trailer.Clone()
	}
	detached := context.WithoutCancel(ctx)
	if !c.writeEntry(detached, key, e) {
		// The new stream is committed but the entry describing it is
		// not: remove both rather than leave the old entry pointing at a
		// body that is not its own.
		c.deleteKey(detached, key)
		return nil
	}
	if !c.commitIndex(detached, x, t, e) {
		return nil
	}
	return e
}

// boundedWriter bounds each Write and the Commit of a store stream writer by
// the store timeout: when one takes longer, the writer's context is
// cancelled (the store's call then returns) and it fails. Failures count as
// store failures. Commit and Abort release the context.
type boundedWriter struct {
	w      StreamWriter
	c      *Cache
	ctx    context.Context // the request's, for the accounting
	key    string
	cancel context.CancelFunc
}

func (b *boundedWriter) bound(op string, f func() error) error {
	var timer *time.Timer
	if b.c.timeout > 0 {
		timer = time.AfterFunc(b.c.timeout, b.cancel)
	}
	o, start := b.c.opStart(b.ctx)
	err := f()
	if timer != nil && !timer.Stop() && b.ctx.Err() == nil {
		err = fmt.Errorf("%w after %v: %v", errStoreTimeout, b.c.timeout, err)
	}
	o.opDone(observedOp(op), start, err)
	if err != nil {
		b.c.record(b.ctx, op, b.key, onRequest, err)
	}
	return err
}

func (b *boundedWriter) Write(p []byte) (n int, err error) {
	err = b.bound("write stream", func() (err error) {
		n, err = b.w.Write(p)
		return err
	})
	return n, err
}

func (b *boundedWriter) Commit() error {
	defer b.cancel()
	return b.bound("commit stream", b.w.Commit)
}

func (b *boundedWriter) Abort() error {
	defer b.cancel()
	o, start := b.c.opStart(b.ctx)
	err := b.w.Abort()
	o.opDone(OpAbortStream, start, err)
	return err
}

// teeBody passes a response body to the caller and into a store stream
// through a sealWriter (one segment buffered, never the whole body). Read
// and Close may be called from different goroutines (net/http allows a Close
// during a Read), so the stream side is guarded by mu.
type teeBody struct {
	mu       sync.Mutex
	src      io.ReadCloser
	w        *sealWriter
	gate     *gate // the cache's: no write once it is closed
	n        int64
	expected int64 // -1 when unknown
	max      int64
	failed   bool // the stream was given up (too large, write error)
	ended    bool
	onEnd    func(n int64, clean bool)
	info     Info
	// committed is set by onEnd when the stream and its entry were stored;
	// obs, when set, is told once the body has ended (see WithObserver).
	committed bool
	obs       *observed
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.src.Read(p)
	t.mu.Lock()
	defer t.mu.Unlock()
	if n > 0 && !t.failed && !t.ended {
		if t.n+int64(n) > t.max || !t.gate.enter() {
			t.failed = true
		} else {
			_, werr := t.w.Write(p[:n])
			t.gate.leave()
			if werr != nil {
				t.failed = true
			} else {
				t.n += int64(n)
			}
		}
		if t.failed {
			// Give the stream up now, not at EOF: the rest of a body
			// that will not be stored may be long (a decompression bomb
			// inflated by the transport), and what was written is
			// discarded at once.
			t.end(false)
		}
	}
	switch {
	case err == io.EOF:
		t.end(!t.failed && (t.expected < 0 || t.n == t.expected))
	case err != nil:
		t.end(false)
	}
	return n, err
}

// end finishes the stream: on a clean end the final segment is sealed and
// written (a failure to do so makes the end unclean), then onEnd commits or
// aborts.
func (t *teeBody) end(clean bool) {
	if t.ended {
		return
	}
	t.ended = true
	if clean {
		// The final segment is a store write: not once the cache is closed.
		if clean = t.gate.enter(); clean {
			clean = t.w.Close() == nil
			t.gate.leave()
		}
	}
	t.onEnd(t.n, clean)
	if t.obs != nil {
		t.obs.finish(t.obs.resp, t.committed)
	}
}

// Close gives the stream up unless the body was read to a clean EOF.
func (t *teeBody) Close() error {
	t.mu.Lock()
	t.end(false)
	t.mu.Unlock()
	return t.src.Close()
}

// readBody reads resp.Body completely when it ends cleanly within the size
// limit and matches its Content-Length; it always leaves resp.Body readable
// from the start for the caller.
func (c *Cache) readBody(resp *http.Response) ([]byte, bool) {
	if resp.Body == nil || resp.Body == http.NoBody {
		return []byte{}, resp.ContentLength <= 0
	}
	if resp.ContentLength > c.cfg.maxBodySize {
		return nil, false
	}
	max := c.cfg.maxBodySize
	data, err := readUpTo(resp.Body, resp.ContentLength, max+1)
	n := int64(len(data))
	switch {
	case err != nil:
		resp.Body = &replayBody{Reader: io.MultiReader(bytes.NewReader(data), errReader{err}), Closer: resp.Body}
		return nil, false
	case n > max:
		resp.Body = &replayBody{Reader: io.MultiReader(bytes.NewReader(data), resp.Body), Closer: resp.Body}
		return nil, false
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		resp.Body = &replayBody{Reader: io.MultiReader(bytes.NewReader(data), errReader{io.ErrUnexpectedEOF}), Closer: resp.Body}
		return nil, false
	}
	resp.Body.Close()
	return data, true
}

// firstRead is the most readUpTo reserves before any byte has arrived,
// whatever the Content-Length claims.
const firstRead = 64 << 10

// readUpTo reads r until EOF or until limit bytes are read, and returns what
// it read with the error that stopped it (nil at EOF). Memory grows with the
// bytes that arrive, never with the length announced: the buffer starts at
// min(length, firstRead), at most doubles each time it fills, and never grows
// past the announced length (length < 0 when unknown) until the body proves
// longer. An honest length up to firstRead therefore costs one allocation of
// exactly its size and no copy; a larger one a few doublings.
func readUpTo(r io.Reader, length, limit int64) ([]byte, error) {
	size := int64(512)
	if length >= 0 {
		size = min(length, firstRead)
	}
	buf := make([]byte, 0, min(size, limit))
	for {
		if len(buf) == cap(buf) {
			have := int64(len(buf))
			if have >= limit {
				return buf, nil
			}
			if have == length {
				// Everything announced is here: check for EOF without
				// growing the buffer.
				var probe [1]byte
				n, err := r.Read(probe[:])
				buf = append(buf, probe[:n]...)
				switch {
				case err == io.EOF:
					return buf, nil
				case err != nil:
					return buf, err
				}
				continue
			}
			next := max(2*have, 512)
			if length > have {
				next = min(next, length)
			}
			buf = slices.Grow(buf, int(min(next, limit)-have))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF:
			return buf, nil
		case err != nil:
			return buf, err
		}
	}
}

type replayBody struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// target is where an entry for a request goes: its key, and the variant
// index that must lead to it (nil for a direct entry).
type target struct {
	key string
	idx *Variants
}

// target computes where e is stored for req: directly under x.primary, or
// under a variant key of the URL's variant index (Vary and matched headers),
// recording the selecting header values in e. ok is false when e must not be
// stored (it varies on an ignored header the request carries).
func (c *Cache) target(req *http.Request, x *exchange, e *Entry) (target, bool) {
	names, _ := rfc9111.VaryNames(e.Header)
	names = append(names, c.cfg.matchHeaders...)
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) == 0 && !c.cfg.matchAll {
		return target{key: x.primary}, true
	}
	idx := x.index
	if idx == nil || idx.AllHeaders != c.cfg.matchAll || !slices.Equal(idx.Names, names) {
		idx = &Variants{Names: names, AllHeaders: c.cfg.matchAll, Generation: rand.Uint64()}
	}
	sel, rec, ok := c.selection(req, idx)
	if !ok {
		return target{}, false
	}
	e.VaryHeader = rec
	return target{key: variantKey(x.primary, idx, sel), idx: idx}, true
}

// commitIndex writes the variant index for a variant just written, when it
// is new or must now outlive the variant; it reports success.
func (c *Cache) commitIndex(ctx context.Context, x *exchange, t target, e *Entry) bool {
	if t.idx == nil {
		return true
	}
	extend := !x.indexDeletion.IsZero() && (e.Deletion.IsZero() || e.Deletion.After(x.indexDeletion))
	if t.idx == x.index && !extend {
		return true
	}
	ie := &Entry{Method: e.Method, URL: e.URL, Created: e.Created, Deletion: e.Deletion, Variants: t.idx}
	if !c.writeEntry(ctx, x.primary, ie) {
		return false
	}
	x.index, x.indexDeletion = t.idx, ie.Deletion
	return true
}
