package core

import (
	"context"
	"io"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBinaryDecoded: the decoded form binaryDecoded builds from an entry is
// the one BinaryCodec's decoding of its encoding gives, field for field,
// and so is the copy each hit takes of it; and the entry it was built from
// stays its owner's (changing it changes nothing in the decoded form).
func TestBinaryDecoded(t *testing.T) {
	mono := time.Now() // with a monotonic reading
	utc := time.Date(2026, 3, 4, 5, 6, 7, 890, time.UTC)
	zone := time.Date(2026, 3, 4, 5, 6, 7, 1, time.FixedZone("X", 3600))
	full := Entry{
		Key: "GET http://example.test/a", Method: "GET", URL: "http://example.test/a",
		Status: 200, Proto: "HTTP/2.0",
		Header:       http.Header{"Etag": {`"v"`}, "X-Multi": {"1", "2"}, "X-Empty": {}, "X-Nil": nil},
		Trailer:      http.Header{"X-Sum": {"s"}},
		VaryHeader:   http.Header{"Accept": {"a"}},
		Body:         []byte("body"),
		Uncompressed: true, NoCache: true, MustRevalidate: true, Immutable: true,
		BodySize: 4, RequestTime: mono, ResponseTime: mono.Add(time.Millisecond), InitialAge: 3 * time.Second,
		Created: utc, Expires: zone, Deletion: mono.Add(time.Hour),
		StaleWhileRevalidate: time.Minute, StaleIfError: 2 * time.Minute,
	}
	tests := []struct {
		name string
		e    Entry
	}{
		{"every field", full},
		{"zero", Entry{}},
		{"no body, empty headers", Entry{Method: "GET", Status: 304, Header: http.Header{}, Trailer: http.Header{}, VaryHeader: http.Header{}, Body: []byte{}}},
		{"only a header", Entry{Status: 200, Header: http.Header{"A": {"b"}}, ResponseTime: utc}},
		{"streamed", Entry{Status: 200, Streamed: true, StreamID: "s1", BodySize: 1 << 20, Header: http.Header{"A": {"b"}}}},
	}
	owner := new(slotOwner)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.e
			e.Header = tc.e.Header.Clone()
			data, err := BinaryCodec{}.Encode(&e)
			if err != nil {
				t.Fatal(err)
			}
			want, err := newDecodedEntry(owner, BinaryCodec{}, data)
			if err != nil {
				t.Fatal(err)
			}
			got := binaryDecoded(owner, &e, data)
			for k := range e.Header { // the owner's changes do not reach it
				e.Header[k] = []string{"changed"}
			}
			e.Body = nil
			if !reflect.DeepEqual(got.e, want.e) {
				t.Errorf("entry:\n got %#v\nwant %#v", got.e, want.e)
			}
			if got.hasHeader != want.hasHeader || got.nvals != want.nvals || !maps.EqualFunc(fields(got), fields(want), func(a, b []string) bool { return reflect.DeepEqual(a, b) }) {
				t.Errorf("header: got %v (%v, %d values), want %v (%v, %d values)",
					fields(got), got.hasHeader, got.nvals, fields(want), want.hasHeader, want.nvals)
			}
			var ge, we Entry
			got.copyTo(&ge)
			want.copyTo(&we)
			if !reflect.DeepEqual(ge, we) {
				t.Errorf("copy a hit takes:\n got %#v\nwant %#v", ge, we)
			}
			if len(got.e.Body) > 0 && &got.e.Body[0] != &data[len(data)-len(got.e.Body)] {
				t.Error("the body is not the end of the encoded value")
			}
		})
	}
}

func fields(d *decodedEntry) map[string][]string {
	m := map[string][]string{}
	for _, f := range d.header {
		m[f.name] = f.vals
	}
	return m
}

// slotStore is a map-backed SlotSetter that records the slot of each value.
type slotStore struct {
	mu   sync.Mutex
	vals map[string]*slotValue
	sets int // SetSlot calls
}

type slotValue struct {
	data []byte
	slot DecodedSlot
}

func (s *slotStore) Get(ctx context.Context, key string) ([]byte, error) {
	v, _, err := s.GetSlot(ctx, key)
	return v, err
}

func (s *slotStore) GetSlot(_ context.Context, key string) ([]byte, *DecodedSlot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vals[key]
	if !ok {
		return nil, nil, ErrNotFound
	}
	return v.data, &v.slot, nil
}

func (s *slotStore) Set(ctx context.Context, key string, value []byte, _ Meta) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vals[key] = &slotValue{data: value}
	return nil
}

func (s *slotStore) SetSlot(ctx context.Context, key string, value []byte, meta Meta) (*DecodedSlot, error) {
	s.Set(ctx, key, value, meta)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sets++
	return &s.vals[key].slot, nil
}

func (s *slotStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.vals, key)
	return nil
}

func (s *slotStore) SlotStore() Store { return s }

// slotOf returns the decoded form in key's slot, nil when it is empty.
func (s *slotStore) slotOf(key string) *decodedEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vals[key]; ok {
		return v.slot.p.Load()
	}
	return nil
}

// TestSlotFilledBy304: a stored response a 304 refreshed is written with its
// decoded form in the new value's slot (the next hit decodes nothing), with
// BinaryCodec only: another codec's decoding is not known to the cache. A
// miss's write leaves the slot to the first read.
func TestSlotFilledBy304(t *testing.T) {
	tests := []struct {
		name   string
		codec  Codec
		filled bool
	}{
		{"BinaryCodec", BinaryCodec{}, true},
		{"a codec embedding BinaryCodec", embeddingCodec{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &slotStore{vals: map[string]*slotValue{}}
			c, err := New(st, WithCodec(tc.codec))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			send := func(r *http.Request) (*http.Response, error) {
				h := http.Header{"Etag": {`"v"`}, "Cache-Control": {"max-age=0"}}
				if r.Header.Get("If-None-Match") == `"v"` {
					h["Cache-Control"] = []string{"max-age=60"}
					return &http.Response{StatusCode: http.StatusNotModified, Header: h, Body: http.NoBody, Request: r}, nil
				}
				return &http.Response{StatusCode: http.StatusOK, Header: h, Body: io.NopCloser(strings.NewReader("v")), ContentLength: 1, Request: r}, nil
			}
			get := func() *http.Response {
				req, _ := http.NewRequest(http.MethodGet, "http://example.test/a", nil)
				resp, err := c.Do(req, send)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp
			}
			get() // the miss
			if len(st.vals) != 1 {
				t.Fatalf("%d values stored, want 1", len(st.vals))
			}
			var key string
			for k := range st.vals {
				key = k
			}
			if st.slotOf(key) != nil || st.sets != 0 {
				t.Fatalf("after the miss: slot filled %v, %d SetSlot calls; want an empty slot, Set", st.slotOf(key) != nil, st.sets)
			}
			if in := InfoOf(get()); !in.Revalidated {
				t.Fatalf("second request: %+v, want revalidated", in)
			}
			if got := st.slotOf(key) != nil; got != tc.filled {
				t.Errorf("after the 304: slot filled %v, want %v", got, tc.filled)
			}
			if in := InfoOf(get()); !in.FromCache || in.Revalidated {
				t.Errorf("third request: %+v, want a fresh hit", in)
			}
		})
	}
}

// embeddingCodec embeds BinaryCodec: it may override either method, so the
// cache cannot take its decoding for BinaryCodec's.
type embeddingCodec struct{ BinaryCodec }
