package core

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/hoardhttp/hoard/core/internal/rfc9111"
)

// Range requests (RFC 9110 §14) answered from a stored complete response;
// the behaviour is described in the package doc.

// serveRange answers req, a Range request, from e, the stored response that
// s is being built from. ok is false when the cache answers with the whole
// response instead (no Range, not GET, not a stored 200, If-Range false, a
// Range ignored); err is the failure to open a streamed body.
func (c *Cache) serveRange(ctx context.Context, s *served, req *http.Request, e *Entry, key string, now time.Time, cacheStatus string) (resp *http.Response, ok bool, err error) {
	if len(req.Header["Range"]) == 0 || (req.Method != "" && req.Method != http.MethodGet) || e.Status != http.StatusOK {
		return nil, false, nil
	}
	size := int64(len(e.Body))
	if e.Streamed {
		size = e.BodySize
	}
	if !rfc9111.IfRange(req.Header, e.Header, now) {
		return nil, false, nil
	}
	rg, verdict := rfc9111.ParseRange(req.Header, size)
	switch verdict {
	case rfc9111.RangeIgnore:
		return nil, false, nil
	case rfc9111.RangeUnsatisfiable:
		return c.unsatisfiable(s, req, e, key, now, cacheStatus, size), true, nil
	}
	pe := *e
	pe.Status = http.StatusPartialContent
	pe.Header["Content-Range"] = []string{contentRange(rg, size)}
	pe.Header["Content-Length"] = []string{strconv.FormatInt(rg.Len(), 10)}
	if e.Streamed {
		first := uint64(rg.First / StreamSegmentSize)
		sr, err := c.openStreamAt(ctx, key, e, first)
		if err != nil {
			return nil, true, err
		}
		sr.plain = sr.plain[rg.First-int64(first)*StreamSegmentSize:]
		s.body.stream = &rangeBody{sr: sr, left: rg.Len()}
		pe.BodySize = rg.Len()
	} else {
		pe.Body = e.Body[rg.First : rg.Last+1 : rg.Last+1]
	}
	return c.build(s, req, &pe, key, now, cacheStatus, true), true, nil
}

// unsatisfiable builds the 416 for a Range none of whose ranges the stored
// response e, of size bytes, satisfies: the fields a 304 would carry, and
// Content-Range: bytes */size (RFC 9110 §15.5.17, §14.4).
func (c *Cache) unsatisfiable(s *served, req *http.Request, e *Entry, key string, now time.Time, cacheStatus string, size int64) *http.Response {
	h := make(http.Header, len(notModifiedFields)+4)
	for _, k := range notModifiedFields {
		if v, ok := e.Header[k]; ok {
			h[k] = v
		}
	}
	h["Content-Range"] = []string{"bytes */" + strconv.FormatInt(size, 10)}
	h["Content-Length"] = []string{"0"}
	ne := *e
	ne.Status = http.StatusRequestedRangeNotSatisfiable
	ne.Header = h
	ne.Body, ne.Trailer, ne.Streamed = nil, nil, false
	return c.build(s, req, &ne, key, now, cacheStatus, true)
}

// contentRange formats the Content-Range of a 206 (RFC 9110 §14.4).
func contentRange(r rfc9111.ByteRange, size int64) string {
	b := make([]byte, 0, 64)
	b = append(b, "bytes "...)
	b = strconv.AppendInt(b, r.First, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, r.Last, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, size, 10)
	return string(b)
}

// respond builds the response to req from e (owned by s): a range of it for
// a Range request it can answer, the whole otherwise. A streamed body is
// opened here; err is the failure to open it (see openStream).
func (c *Cache) respond(ctx context.Context, s *served, req *http.Request, e *Entry, key string, now time.Time, cacheStatus string, withBody bool) (*http.Response, error) {
	if withBody {
		if r, ok, err := c.serveRange(ctx, s, req, e, key, now, cacheStatus); ok || err != nil {
			return r, err
		}
	}
	if e.Streamed && withBody {
		rc, err := c.openStream(ctx, key, e)
		if err != nil {
			return nil, err
		}
		s.body.stream = rc
	}
	return c.build(s, req, e, key, now, cacheStatus, withBody), nil
}

// rangeBody is the body of a 206 served from a streamed entry: left bytes
// of the checked plaintext of sr.
type rangeBody struct {
	sr   *sealedReader
	left int64
}

// Read implements io.Reader.
func (b *rangeBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.sr.Read(p)
	b.left -= int64(n)
	if err == io.EOF && b.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// WriteTo implements io.WriterTo: each checked segment is written from the
// reader's buffer, without another copy.
func (b *rangeBody) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for b.left > 0 {
		r := b.sr
		if len(r.plain) == 0 {
			if r.err != nil {
				if r.err == io.EOF {
					return total, io.ErrUnexpectedEOF
				}
				return total, r.err
			}
			r.advance()
			continue
		}
		chunk := r.plain[:min(int64(len(r.plain)), b.left)]
		n, err := w.Write(chunk)
		total += int64(n)
		r.plain = r.plain[n:]
		b.left -= int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Close closes the store's reader.
func (b *rangeBody) Close() error { return b.sr.Close() }
