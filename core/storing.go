package core

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"

	"github.com/hoardhttp/hoard/core/internal/rfc9111"
)

// Store is the storing hook: when resp (the origin's answer to req) may be
// stored (RFC 9111 §3 and the settings), it reads the body — committing the
// entry only after a clean EOF with the expected length, and only up to
// WithMaxBodySize — writes it, and returns a response whose body replays the
// bytes read. Otherwise it returns resp with its body untouched. Either way
// the response carries a Cache-Status field. Store errors fail open.
func (c *Cache) Store(ctx context.Context, req *http.Request, resp *http.Response) (*http.Response, error) {
	l := new(lookup)
	if err := c.lookupForStore(ctx, req, l); err != nil {
		return resp, err
	}
	out, _, _ := c.storeResponse(ctx, req, resp, l)
	return out, nil
}

// lookupForStore fills the parts of l that storing needs, without deciding
// how to serve.
func (c *Cache) lookupForStore(ctx context.Context, req *http.Request, l *lookup) error {
	if err := c.lookup(ctx, req, l); err != nil {
		return err
	}
	if l.resp != nil && l.resp.Body != nil {
		l.resp.Body.Close()
	}
	l.reqTime = l.now
	return nil
}

// storeResponse stores resp when allowed and returns the response for the
// caller, the entry written (nil when not stored) and its key.
func (c *Cache) storeResponse(ctx context.Context, req *http.Request, resp *http.Response, l *lookup) (*http.Response, *Entry, string) {
	fwd := l.fwd
	if fwd == "" {
		fwd = "miss"
	}
	cc := c.respDirectives(resp.Header)
	if reason := c.storable(req, resp, l, cc); reason != "" {
		c.markForwarded(req, resp, fwdStatus(fwd, 0, false, false), nil, "")
		return resp, nil, ""
	}
	now := c.cfg.now()
	e := &Entry{
		Method:       l.method,
		URL:          c.storedURL(req.URL),
		Status:       resp.StatusCode,
		Proto:        resp.Proto,
		Header:       storedHeader(resp.Header),
		Uncompressed: resp.Uncompressed,
		RequestTime:  l.reqTime,
		ResponseTime: now,
		InitialAge:   rfc9111.CorrectedInitialAge(resp.Header, l.reqTime, now),
		Created:      now,
	}
	if e.RequestTime.IsZero() || e.RequestTime.After(now) {
		e.RequestTime = now
	}
	if !c.applyPolicy(req, e, cc, l.ro) {
		c.markForwarded(req, resp, fwdStatus(fwd, 0, false, false), nil, "")
		return resp, nil, ""
	}
	data, ok := []byte{}, true
	if l.method == http.MethodHead {
		drain(resp) // a HEAD response has no content, whatever its Content-Length says
		resp.Body = http.NoBody
	} else {
		data, ok = c.readBody(resp)
	}
	if !ok {
		c.markForwarded(req, resp, fwdStatus(fwd, 0, false, false), nil, "")
		return resp, nil, ""
	}
	e.Body = data
	if len(resp.Trailer) > 0 {
		e.Trailer = resp.Trailer.Clone()
	}
	key, stored := c.commit(ctx, req, l, e)
	if key == "" {
		c.markForwarded(req, resp, fwdStatus(fwd, 0, false, false), nil, "")
		return resp, nil, ""
	}
	resp.Body = &body{data: data}
	resp.ContentLength = int64(len(data))
	c.markForwarded(req, resp, fwdStatus(fwd, 0, stored, false), e, key)
	return resp, e, key
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
	var buf bytes.Buffer
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength))
	}
	n, err := io.Copy(&buf, io.LimitReader(resp.Body, max+1))
	data := buf.Bytes()
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

type replayBody struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// commit writes e for req: directly under l.primary, or under a variant key
// with the URL's variant index (Vary and matched headers). It returns the key
// (empty when e must not be stored, e.g. it varies on an ignored header the
// request carries) and whether the write succeeded.
func (c *Cache) commit(ctx context.Context, req *http.Request, l *lookup, e *Entry) (string, bool) {
	names, _ := rfc9111.VaryNames(e.Header)
	names = append(names, c.cfg.matchHeaders...)
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) == 0 && !c.cfg.matchAll {
		return l.primary, c.writeEntry(ctx, l.primary, e)
	}
	idx := l.index
	if idx == nil || idx.AllHeaders != c.cfg.matchAll || !slices.Equal(idx.Names, names) {
		idx = &Variants{Names: names, AllHeaders: c.cfg.matchAll, Generation: rand.Uint64()}
	}
	sel, rec, ok := c.selection(req, idx)
	if !ok {
		return "", false
	}
	e.VaryHeader = rec
	vk := variantKey(l.primary, idx, sel)
	if !c.writeEntry(ctx, vk, e) {
		return vk, false
	}
	// The index must outlive every variant it leads to.
	extend := !l.indexDeletion.IsZero() && (e.Deletion.IsZero() || e.Deletion.After(l.indexDeletion))
	if idx != l.index || extend {
		ie := &Entry{Method: e.Method, URL: e.URL, Created: e.Created, Deletion: e.Deletion, Variants: idx}
		if !c.writeEntry(ctx, l.primary, ie) {
			return vk, false
		}
		l.index, l.indexDeletion = idx, ie.Deletion
	}
	return vk, true
}
