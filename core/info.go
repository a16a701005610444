package core

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Info describes how the cache produced a response. Get it with InfoOf.
type Info struct {
	// FromCache is true when the response's content came from the store:
	// fresh and stale hits and revalidated responses. It is false for the
	// synthetic 504 of only-if-cached, which came from no stored response
	// (Synthetic says what it is): a response the cache made itself, without
	// the origin, is FromCache || Synthetic.
	FromCache bool
	// Revalidated is true when a 304 confirmed the stored response.
	Revalidated bool
	// Stale is true when a stale response was served (stale-while-revalidate,
	// stale-if-error, max-stale).
	Stale bool
	// Synthetic is true for the 504 the cache made itself (only-if-cached):
	// neither the origin nor the store produced it.
	Synthetic bool
	// Stored is true when this response was written to the store.
	Stored bool
	// Collapsed is true when the request waited for an identical one in
	// flight and shares its response.
	Collapsed bool
	// expired is true when the cache produced the response at or after
	// Expires, by its clock (see IsExpired); beside the other flags, it
	// takes no room of its own.
	expired bool
	// Created is when the stored response was first written.
	Created time.Time
	// Expires is when the stored response stops being fresh (zero: never).
	Expires time.Time
	// Key is the store key of the response.
	Key string
	// Age is the stored response's current age when it was served (RFC
	// 9111 §4.2.3), the value of its Age header field; zero for a response
	// that came from the origin (and, read back from the Cache-Status
	// field, whatever the Age field says).
	Age time.Duration
}

// MadeByCache reports whether the cache made the response rather than
// passing on the origin's: from a stored response (FromCache: fresh and
// stale hits, a stored response a 304 confirmed) or by itself (Synthetic:
// the 504 of only-if-cached). Retrying such a response only repeats the
// lookup after a backoff, so the adapters' retry helpers never retry it.
func (in Info) MadeByCache() bool { return in.FromCache || in.Synthetic }

// IsExpired reports whether the response was past its freshness lifetime
// when the cache produced it: a stale hit, or a stored response whose
// lifetime had already run out (Expires not after that time). A response
// with no known lifetime is not expired.
func (in Info) IsExpired() bool {
	return in.Stale || in.expired
}

type infoKey struct{}

// InfoOf returns how the cache produced resp. It reads the Info from the
// response's Body, which the cache built, and, for a Body something has
// wrapped since, from the response's Request context: the cache attaches
// the Info there to every response it forwarded from the origin, and to a
// response from the store when the request carried Cancel, as http.Client
// sets it on every request it sends under a Timeout (the case where it
// wraps every Body). Otherwise it falls back to the Cache-Status field,
// which carries the flags and, with the Age field, Age, but not Key,
// Created or Expires. A response that did not go through a hoard cache
// gives the zero Info.
func InfoOf(resp *http.Response) Info {
	if resp == nil {
		return Info{}
	}
	switch b := resp.Body.(type) {
	case *body:
		if b.info != nil {
			return *b.info
		}
	case *teeBody:
		return b.info
	}
	if resp.Request != nil {
		if in, ok := resp.Request.Context().Value(infoKey{}).(*Info); ok {
			return *in
		}
	}
	in := infoFromCacheStatus(resp.Header)
	if in != (Info{}) {
		if a, err := strconv.ParseInt(resp.Header.Get("Age"), 10, 64); err == nil && a >= 0 && a < 1<<33 {
			in.Age = time.Duration(a) * time.Second
		}
	}
	return in
}

// CacheStatusName is the cache name hoard writes in Cache-Status fields.
const CacheStatusName = "hoard"

// infoFromCacheStatus parses hoard's member of the Cache-Status field (RFC 9211).
func infoFromCacheStatus(h http.Header) Info {
	var in Info
	for _, line := range h.Values("Cache-Status") {
		addCacheStatus(&in, line)
	}
	return in
}

// addCacheStatus adds to in what hoard's members of one Cache-Status field
// line say. It cuts the line in place: no allocation.
func addCacheStatus(in *Info, line string) {
	for rest := line; rest != ""; {
		var member string
		member, rest, _ = strings.Cut(rest, ",")
		name, params, _ := strings.Cut(member, ";")
		if strings.TrimSpace(name) != CacheStatusName {
			continue
		}
		for params != "" {
			var p string
			p, params, _ = strings.Cut(params, ";")
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			switch k {
			case "hit":
				in.FromCache = true
			case "stored":
				in.Stored = true
			case "collapsed":
				in.Collapsed = true
			case "fwd-status":
				if v == "304" {
					in.Revalidated, in.FromCache = true, true
				}
			case "key":
				in.Key = strings.Trim(v, `"`)
			case "detail":
				switch strings.Trim(v, `"`) {
				case "stale", "stale-while-revalidate", "stale-if-error":
					in.Stale, in.FromCache = true, true
				case "only-if-cached":
					in.Synthetic = true
				}
			}
		}
	}
}

// body is the Body of every response the cache builds from a stored entry: a
// reader over the stored bytes (no copy) that also carries the Info.
type body struct {
	data []byte // what is left to read
	info *Info
	// stream, when set, is the body read from the store's stream: a reader
	// that checks every segment and, on a failure, counts and deletes the
	// entry itself (see Cache.openStream); for an observed request, that
	// reader wrapped in an observedStream.
	stream io.ReadCloser
}

func (b *body) Read(p []byte) (int, error) {
	if b.stream != nil {
		return b.stream.Read(p)
	}
	if len(b.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	return n, nil
}

// WriteTo lets io.Copy and io.ReadAll skip an intermediate buffer.
func (b *body) WriteTo(w io.Writer) (int64, error) {
	if b.stream != nil {
		return io.Copy(w, b.stream)
	}
	if len(b.data) == 0 {
		return 0, nil
	}
	n, err := w.Write(b.data)
	b.data = b.data[n:]
	return int64(n), err
}

func (b *body) Close() error {
	if b.stream != nil {
		return b.stream.Close()
	}
	return nil
}

// observedStream is the stream of a hit's body for an observed request: it
// tells the request's record how much was read and when the body ended (see
// WithObserver). It is allocated only for such a body, so that every other
// response's body is a word smaller.
type observedStream struct {
	rc  io.ReadCloser
	obs *observed
}

func (s *observedStream) Read(p []byte) (int, error) {
	n, err := s.rc.Read(p)
	s.obs.streamed(int64(n), err)
	return n, err
}

// WriteTo lets io.Copy skip an intermediate buffer when the stream can.
func (s *observedStream) WriteTo(w io.Writer) (int64, error) {
	n, err := io.Copy(w, s.rc)
	if err == nil {
		s.obs.streamed(n, io.EOF) // io.Copy reports a clean end as nil
	} else {
		s.obs.streamed(n, err)
	}
	return n, err
}

func (s *observedStream) Close() error {
	err := s.rc.Close()
	s.obs.finish(s.obs.resp, false)
	return err
}

// infoContext carries an Info in a request context without a second
// allocation: it is allocated with the Info (see forwarded; a hit's
// servedTagged is such a context itself).
type infoContext struct {
	context.Context
	info *Info
}

func (c *infoContext) Value(key any) any { return infoValue(c.Context, c.info, key) }

// infoValue is the Value of a context that carries in for InfoOf over
// parent, whose values it answers otherwise.
func infoValue(parent context.Context, in *Info, key any) any {
	if _, ok := key.(infoKey); ok {
		return in
	}
	return parent.Value(key)
}
