package core

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"reflect"
	"testing"
	"time"
)

// codecTime is a fixed instant with a non-zero nanosecond part.
var codecTime = time.Date(2024, time.May, 6, 7, 8, 9, 123456789, time.UTC)

// fullEntry sets every field the binary codec encodes.
func fullEntry() *Entry {
	return &Entry{
		Method: "POST",
		URL:    "https://example.com/a?api_key=REDACTED&b=1",
		Status: 203,
		Proto:  "HTTP/2.0",
		Header: http.Header{
			"Content-Type": {"text/plain; charset=utf-8"},
			"Set-Cookie":   {"a=1; Path=/", "b=2; Secure", "c=3"},
			"x-odd-CASE":   {"kept as given"},
			"Empty-Value":  {""},
			"No-Values":    {},
			"Unicode":      {"héllo wörld ✓"},
		},
		Trailer: http.Header{
			"X-Checksum": {"abc123"},
			"X-Multi":    {"1", "2"},
		},
		Body:                 []byte("hello, world\n"),
		Uncompressed:         true,
		RequestTime:          codecTime,
		ResponseTime:         codecTime.Add(1),
		InitialAge:           3*time.Second + 7,
		Created:              codecTime.Add(-time.Hour),
		Expires:              codecTime.Add(time.Hour + 999),
		Deletion:             codecTime.Add(25 * time.Hour),
		NoCache:              true,
		MustRevalidate:       true,
		Immutable:            true,
		StaleWhileRevalidate: -1,
		StaleIfError:         -time.Hour - 1,
		VaryHeader: http.Header{
			"Accept-Encoding": {"gzip, br"},
			"Cookie":          {""},
		},
	}
}

// indexEntry is a variant index record.
func indexEntry() *Entry {
	return &Entry{
		Method:   "GET",
		URL:      "http://example.com/",
		Created:  codecTime,
		Deletion: codecTime.Add(time.Hour),
		Variants: &Variants{
			Names:      []string{"Accept", "Accept-Encoding", "x-lower"},
			AllHeaders: true,
			Generation: math.MaxUint64,
		},
	}
}

// diffEntry describes the first difference between got and want, or returns
// "". Times are compared with Equal (a decoded time has no monotonic reading
// and the local location), bodies with bytes.Equal (a nil body may decode as
// an empty one), empty headers as nil, and Key is not compared (codecs do not
// encode it).
func diffEntry(got, want *Entry) string {
	times := []struct {
		name string
		g, w time.Time
	}{
		{"RequestTime", got.RequestTime, want.RequestTime},
		{"ResponseTime", got.ResponseTime, want.ResponseTime},
		{"Created", got.Created, want.Created},
		{"Expires", got.Expires, want.Expires},
		{"Deletion", got.Deletion, want.Deletion},
	}
	for _, tt := range times {
		if tt.g.IsZero() != tt.w.IsZero() || !tt.g.Equal(tt.w) {
			return fmt.Sprintf("%s: got %v, want %v", tt.name, tt.g, tt.w)
		}
	}
	if !bytes.Equal(got.Body, want.Body) {
		return fmt.Sprintf("Body: got %d bytes %.32q, want %d bytes %.32q", len(got.Body), got.Body, len(want.Body), want.Body)
	}
	g, w := *got, *want
	for _, e := range []*Entry{&g, &w} {
		e.Key = ""
		e.RequestTime, e.ResponseTime, e.Created, e.Expires, e.Deletion = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
		e.Body = nil
		for _, h := range []*http.Header{&e.Header, &e.Trailer, &e.VaryHeader} {
			if len(*h) == 0 {
				*h = nil
			}
		}
	}
	if !reflect.DeepEqual(g.Variants, w.Variants) {
		return fmt.Sprintf("Variants: got %+v, want %+v", g.Variants, w.Variants)
	}
	g.Variants, w.Variants = nil, nil
	if !reflect.DeepEqual(g, w) {
		return fmt.Sprintf("got %+v, want %+v", g, w)
	}
	return ""
}

func mustEncode(t testing.TB, e *Entry) []byte {
	t.Helper()
	data, err := BinaryCodec{}.Encode(e)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return data
}

func TestBinaryCodecRoundTrip(t *testing.T) {
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	mib := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range mib {
		mib[i] = byte(r.Uint32())
	}
	with := func(f func(e *Entry)) *Entry {
		e := fullEntry()
		f(e)
		return e
	}
	tests := []struct {
		name string
		in   *Entry
	}{
		{name: "full entry", in: fullEntry()},
		{name: "zero entry", in: &Entry{}},
		{name: "variant index", in: indexEntry()},
		{name: "variant index without names", in: &Entry{Variants: &Variants{Generation: 7}}},
		{name: "variant index generation zero", in: &Entry{Variants: &Variants{Names: []string{"Accept"}}}},
		{name: "nil body", in: with(func(e *Entry) { e.Body = nil })},
		{name: "empty body", in: with(func(e *Entry) { e.Body = []byte{} })},
		{name: "binary body", in: with(func(e *Entry) { e.Body = binary })},
		{name: "1 MiB body", in: with(func(e *Entry) { e.Body = mib })},
		{name: "nil headers", in: with(func(e *Entry) { e.Header, e.Trailer, e.VaryHeader = nil, nil, nil })},
		{name: "empty headers", in: with(func(e *Entry) { e.Header, e.Trailer, e.VaryHeader = http.Header{}, http.Header{}, http.Header{} })},
		{name: "zero times stay zero", in: with(func(e *Entry) {
			e.RequestTime, e.ResponseTime, e.Created, e.Expires, e.Deletion = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
		})},
		{name: "times in other locations", in: with(func(e *Entry) {
			e.RequestTime = codecTime.In(time.FixedZone("X", -7*3600))
			e.Expires = time.Unix(1, 1)
		})},
		{name: "times before 1970", in: with(func(e *Entry) { e.Created = time.Date(1969, 7, 20, 20, 17, 40, 5, time.UTC) })},
		{name: "time with monotonic reading", in: with(func(e *Entry) { e.ResponseTime = time.Now() })},
		{name: "negative durations", in: with(func(e *Entry) {
			e.InitialAge, e.StaleWhileRevalidate, e.StaleIfError = -1, math.MinInt64, -time.Nanosecond
		})},
		{name: "largest durations", in: with(func(e *Entry) {
			e.InitialAge, e.StaleWhileRevalidate, e.StaleIfError = math.MaxInt64, Forever, 2147483648*time.Second
		})},
		{name: "flags off", in: with(func(e *Entry) { e.Uncompressed, e.NoCache, e.MustRevalidate, e.Immutable = false, false, false, false })},
		{name: "status 999", in: with(func(e *Entry) { e.Status = 999 })},
		{name: "long header value", in: with(func(e *Entry) { e.Header.Set("X-Long", string(bytes.Repeat([]byte("v"), 100000))) })},
		{name: "many headers", in: with(func(e *Entry) {
			for i := range 300 {
				e.Header.Add(fmt.Sprintf("X-H%d", i%50), fmt.Sprint(i))
			}
		})},
		{name: "bench entry", in: benchEntry(1 << 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := mustEncode(t, tt.in)
			if len(data) == 0 || data[0] != 0xB1 {
				t.Fatalf("Encode: got leading bytes % x, want b1", data[:min(len(data), 1)])
			}
			var out Entry
			if err := (BinaryCodec{}).Decode(data, &out); err != nil {
				t.Fatalf("Decode: got error %v, want nil", err)
			}
			if d := diffEntry(&out, tt.in); d != "" {
				t.Errorf("round trip: %s", d)
			}
		})
	}
}

func TestBinaryCodecKeyNotEncoded(t *testing.T) {
	in := fullEntry()
	in.Key = "h1:0123456789abcdef0123456789abcdef"
	out := Entry{Key: "stale"}
	if err := (BinaryCodec{}).Decode(mustEncode(t, in), &out); err != nil {
		t.Fatalf("Decode: got error %v, want nil", err)
	}
	if out.Key != "" {
		t.Errorf("decoded Key: got %q, want %q", out.Key, "")
	}
}

// TestBinaryCodecDecodeResets checks that Decode replaces every field of the
// destination, so a reused Entry never keeps a previous entry's values.
func TestBinaryCodecDecodeResets(t *testing.T) {
	tests := []struct {
		name        string
		first, then *Entry
	}{
		{name: "index then response", first: indexEntry(), then: fullEntry()},
		{name: "response then index", first: fullEntry(), then: indexEntry()},
		{name: "response then zero", first: fullEntry(), then: &Entry{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out Entry
			if err := (BinaryCodec{}).Decode(mustEncode(t, tt.first), &out); err != nil {
				t.Fatalf("Decode first: got error %v, want nil", err)
			}
			if err := (BinaryCodec{}).Decode(mustEncode(t, tt.then), &out); err != nil {
				t.Fatalf("Decode second: got error %v, want nil", err)
			}
			if d := diffEntry(&out, tt.then); d != "" {
				t.Errorf("reused destination: %s", d)
			}
		})
	}
}

// TestBinaryCodecFarFutureTime checks that a time the int64 nanosecond
// encoding cannot hold (after 2262-04-11) does not come back in the past:
// an Expires far in the future must stay far in the future.
func TestBinaryCodecFarFutureTime(t *testing.T) {
	limit := time.Unix(0, math.MaxInt64).Add(-time.Second)
	tests := []struct {
		name string
		t    time.Time
	}{
		{name: "year 2200", t: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)},
		{name: "year 2300", t: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)},
		{name: "now plus the largest duration", t: codecTime.Add(math.MaxInt64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := fullEntry()
			in.Expires, in.Deletion = tt.t, tt.t
			var out Entry
			if err := (BinaryCodec{}).Decode(mustEncode(t, in), &out); err != nil {
				t.Fatalf("Decode: got error %v, want nil", err)
			}
			want := tt.t
			if want.After(limit) {
				want = limit
			}
			for name, got := range map[string]time.Time{"Expires": out.Expires, "Deletion": out.Deletion} {
				if got.Before(want) {
					t.Errorf("%s of %v: got %v, want no earlier than %v", name, tt.t, got, want)
				}
			}
		})
	}
}

func TestBinaryCodecDecodeErrors(t *testing.T) {
	good := mustEncode(t, fullEntry())
	mutate := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	tests := []struct {
		name string
		data []byte
	}{
		{name: "nil", data: nil},
		{name: "empty", data: []byte{}},
		{name: "format byte only", data: []byte{0xB1}},
		{name: "format and kind only", data: []byte{0xB1, 0}},
		{name: "header only", data: []byte{0xB1, 0, 0}},
		{name: "wrong leading byte", data: mutate(func(b []byte) []byte { b[0] = 0xB2; return b })},
		{name: "leading zero byte", data: mutate(func(b []byte) []byte { b[0] = 0; return b })},
		{name: "JSON", data: []byte(`{"Status":200}`)},
		{name: "unknown kind", data: mutate(func(b []byte) []byte { b[1] = 2; return b })},
		{name: "body longer than its length", data: mutate(func(b []byte) []byte { return append(b, 'x') })},
		{name: "body shorter than its length", data: mutate(func(b []byte) []byte { return b[:len(b)-1] })},
		{name: "status above 999", data: mustEncode(t, &Entry{Status: 1000})},
		{name: "overlong varint", data: append([]byte{0xB1, 0, 0}, bytes.Repeat([]byte{0xff}, 20)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out Entry
			err := BinaryCodec{}.Decode(tt.data, &out)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("Decode(% .16x): got error %v, want one wrapping ErrCorrupt", tt.data, err)
			}
		})
	}
}

func TestBinaryCodecWrongLeadingByte(t *testing.T) {
	good := mustEncode(t, fullEntry())
	for b := range 256 {
		if b == 0xB1 {
			continue
		}
		t.Run(fmt.Sprintf("%02x", b), func(t *testing.T) {
			data := append([]byte(nil), good...)
			data[0] = byte(b)
			var out Entry
			if err := (BinaryCodec{}).Decode(data, &out); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Decode with leading byte %#x: got error %v, want one wrapping ErrCorrupt", b, err)
			}
		})
	}
}

// TestBinaryCodecTruncated decodes every proper prefix of valid encodings:
// none may panic or succeed.
func TestBinaryCodecTruncated(t *testing.T) {
	tests := []struct {
		name string
		in   *Entry
	}{
		{name: "full entry", in: fullEntry()},
		{name: "variant index", in: indexEntry()},
		{name: "zero entry", in: &Entry{}},
		{name: "bench entry", in: benchEntry(64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := mustEncode(t, tt.in)
			for n := range len(data) {
				prefix := data[:n:n] // capacity n: a read past the end panics
				var out Entry
				if err := decodeNoPanic(prefix, &out); !errors.Is(err, ErrCorrupt) {
					t.Errorf("Decode of the first %d of %d bytes: got error %v, want one wrapping ErrCorrupt", n, len(data), err)
				}
			}
		})
	}
}

// TestBinaryCodecBitFlips flips every bit of valid encodings: decoding must
// never panic, and must either fail with ErrCorrupt or produce an entry.
func TestBinaryCodecBitFlips(t *testing.T) {
	tests := []struct {
		name string
		in   *Entry
	}{
		{name: "full entry", in: fullEntry()},
		{name: "variant index", in: indexEntry()},
		{name: "bench entry", in: benchEntry(16)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := mustEncode(t, tt.in)
			data := make([]byte, len(good))
			for i := range good {
				for bit := range 8 {
					copy(data, good)
					data[i] ^= 1 << bit
					var out Entry
					err := decodeNoPanic(data, &out)
					if err != nil && !errors.Is(err, ErrCorrupt) {
						t.Errorf("Decode with bit %d of byte %d flipped: got error %v, want nil or one wrapping ErrCorrupt", bit, i, err)
					}
				}
			}
		})
	}
}

// decodeNoPanic turns a panic in Decode into an error that does not wrap
// ErrCorrupt.
func decodeNoPanic(data []byte, e *Entry) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return BinaryCodec{}.Decode(data, e)
}

func TestBinaryCodecBodyAliasesInput(t *testing.T) {
	tests := []struct {
		name string
		in   *Entry
	}{
		{name: "full entry", in: fullEntry()},
		{name: "bench entry", in: benchEntry(1 << 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := mustEncode(t, tt.in)
			var out Entry
			if err := (BinaryCodec{}).Decode(data, &out); err != nil {
				t.Fatalf("Decode: got error %v, want nil", err)
			}
			if len(out.Body) == 0 {
				t.Fatalf("decoded body: got empty, want %d bytes", len(tt.in.Body))
			}
			if &out.Body[0] != &data[len(data)-len(out.Body)] {
				t.Errorf("decoded body: got a copy, want a slice aliasing the input")
			}
			// Appending to the body must not write into the caller's buffer.
			if cap(out.Body) != len(out.Body) {
				t.Errorf("decoded body capacity: got %d, want %d (the length)", cap(out.Body), len(out.Body))
			}
		})
	}
}

func TestBinaryCodecDecodeAllocs(t *testing.T) {
	data := mustEncode(t, benchEntry(1<<10))
	var out Entry
	var err error
	allocs := testing.AllocsPerRun(100, func() { err = BinaryCodec{}.Decode(data, &out) })
	if err != nil {
		t.Fatalf("Decode: got error %v, want nil", err)
	}
	if allocs > 5 {
		t.Errorf("Decode allocations for a 1 KiB entry: got %v, want at most 5", allocs)
	}
}

func FuzzBinaryCodecDecode(f *testing.F) {
	for _, e := range []*Entry{fullEntry(), indexEntry(), &Entry{}, benchEntry(16),
		{Status: 200, Header: http.Header{"A": {"1", "2"}}, Body: []byte{0, 1, 2}}} {
		f.Add(mustEncode(f, e))
	}
	f.Add([]byte(nil))
	f.Add([]byte{0xB1})
	f.Add([]byte{0xB1, 1, 0xff})
	f.Add([]byte{0xB1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte("hello, world"))
	f.Add(bytes.Repeat([]byte{0x80}, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e1 Entry
		if err := (BinaryCodec{}).Decode(data, &e1); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode: got error %v, want nil or one wrapping ErrCorrupt", err)
			}
			return
		}
		again, err := BinaryCodec{}.Encode(&e1)
		if err != nil {
			t.Fatalf("Encode of a decoded entry: got error %v, want nil", err)
		}
		var e2 Entry
		if err := (BinaryCodec{}).Decode(again, &e2); err != nil {
			t.Fatalf("Decode of a re-encoded entry: got error %v, want nil", err)
		}
		if d := diffEntry(&e2, &e1); d != "" {
			t.Fatalf("decode(encode(decode(data))) differs from decode(data): %s", d)
		}
	})
}
