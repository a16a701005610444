package core

import (
	"net/http"
	"time"
)

// Entry is one stored record: either a response, or (when Variants is
// non-nil) the index that leads from a URL to the responses stored for it per
// Vary / matched-header values. Codecs turn Entries into bytes and back.
type Entry struct {
	// Key is the store key the entry was read from. Codecs do not encode it;
	// Cache.Entries sets it.
	Key string

	// Method and URL identify the request (URL normalised and redacted).
	Method string
	URL    string

	// Status, Proto, Header, Trailer and Body are the stored response.
	// Body is the complete decoded content.
	Status  int
	Proto   string
	Header  http.Header
	Trailer http.Header
	Body    []byte
	// Uncompressed mirrors http.Response.Uncompressed of the origin response.
	Uncompressed bool
	// Streamed is true when the body is not in Body but is the store's
	// stream for the entry's key (see Streamer); BodySize is then its length.
	Streamed bool
	BodySize int64
	// StreamID identifies the stream written with this entry: the stream
	// starts with it (then its framing, see SealStream, which also binds
	// every segment to it), so a stream committed by another write (or left
	// by a write whose entry was never stored) is never served with this
	// entry's header fields.
	StreamID string

	// RequestTime and ResponseTime bracket the exchange that produced (or
	// last validated) the response (RFC 9111 §4.2.3).
	RequestTime  time.Time
	ResponseTime time.Time
	// InitialAge is the corrected_initial_age of RFC 9111 §4.2.3.
	InitialAge time.Duration
	// Created is when the entry was first stored; revalidation keeps it.
	Created time.Time
	// Expires is when the response stops being fresh; zero means never.
	Expires time.Time
	// Deletion is when the store may drop the entry; zero means never.
	Deletion time.Time

	// Policy flags derived from the response when it was stored.
	NoCache        bool // revalidate on every use: the response's no-cache (ExpireImmediately makes Expires the response time instead)
	MustRevalidate bool // never serve stale (must-revalidate; proxy-revalidate when shared)
	Immutable      bool // RFC 8246: no revalidation while fresh
	// StaleWhileRevalidate and StaleIfError are the response's RFC 5861
	// windows; negative means absent.
	StaleWhileRevalidate time.Duration
	StaleIfError         time.Duration

	// VaryHeader holds the request header values the response was selected
	// by (Vary and matched headers); ignored parameters are redacted.
	VaryHeader http.Header

	// Variants is non-nil for a variant index record.
	Variants *Variants
}

// Variants is the index stored at a URL's primary key when its responses
// differ by request headers (Vary, or the cache's matched headers). The
// responses live at keys derived from Generation and the selected values, so
// deleting the index makes every variant unreachable at once.
type Variants struct {
	// Names are the canonical request header names that select a variant.
	Names []string
	// AllHeaders selects by every request header (matched headers = all).
	AllHeaders bool
	// Generation is chosen at random when the index is created.
	Generation uint64
}

// cloneHeader copies h (nil stays nil) into a map with room for extra more
// fields, all the values in one backing array, as Decode lays them out.
func cloneHeader(h http.Header, extra int) http.Header {
	if h == nil {
		return nil
	}
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	backing := make([]string, n)
	out := make(http.Header, len(h)+extra)
	for k, vs := range h {
		m := copy(backing, vs)
		out[k] = backing[:m:m]
		backing = backing[m:]
	}
	return out
}
