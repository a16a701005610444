package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
)

// NamedEntry is one sample entry of the codec suite.
type NamedEntry struct {
	Name  string
	Entry *core.Entry
}

// codecTime is a fixed instant with a non-zero nanosecond part.
var codecTime = time.Date(2024, time.May, 6, 7, 8, 9, 123456789, time.UTC)

// codecFullEntry sets every field of a response entry, with the header
// shapes codecs get wrong: several values, odd casing, empty values, no
// values, non-ASCII and non-UTF-8 bytes, names a document store would
// refuse as keys.
func codecFullEntry() *core.Entry {
	return &core.Entry{
		Method: "POST",
		URL:    "https://example.com/a?api_key=REDACTED&b=1",
		Status: 203,
		Proto:  "HTTP/2.0",
		Header: http.Header{
			"Content-Type":  {"text/plain; charset=utf-8"},
			"Set-Cookie":    {"a=1; Path=/", "b=2; Secure", "c=3"},
			"x-odd-CASE":    {"kept as given"},
			"X-ODD-CASE":    {"a different key"},
			"Empty-Value":   {""},
			"No-Values":     {},
			"Unicode":       {"héllo wörld ✓"},
			"Latin-1":       {"caf\xe9", "\xff\xfe"},
			"X-Dots.And$":   {"a.b", "$c"},
			"X-Html":        {`<a href="x">&amp;</a>`},
			"X-Control":     {"tab\there\x00nul\x7f"},
			"X-Many-Values": {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"},
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
			"accept-language": {"en", "fr"},
		},
	}
}

// codecIndexEntry is a variant index record.
func codecIndexEntry() *core.Entry {
	return &core.Entry{
		Method:   "GET",
		URL:      "http://example.com/",
		Created:  codecTime,
		Deletion: codecTime.Add(time.Hour),
		Variants: &core.Variants{
			Names:      []string{"Accept", "Accept-Encoding", "x-lower"},
			AllHeaders: true,
			Generation: math.MaxUint64,
		},
	}
}

// jsonAPIBody is a deterministic JSON document of about size bytes, shaped
// like a typical API response (an array of small objects).
func jsonAPIBody(size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"items":[`)
	for i := 0; b.Len() < size-40; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"item %d","active":%t,"score":%d.%d}`, 1000+i, i, i%3 != 0, i*37%101, i%10)
	}
	b.WriteString(`],"next":null}`)
	return b.Bytes()
}

// randomBytes returns n deterministic pseudo-random (incompressible) bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(r.Uint32())
	}
	return out
}

// CodecBenchEntry returns the benchmark's entries: kind "json1k" is a
// typical JSON API response of 1 KiB with the headers such a response
// carries; "binary64k" is a 64 KiB incompressible binary body. Both have
// times with nanoseconds and absent stale windows, like stored responses.
func CodecBenchEntry(kind string) *core.Entry {
	now := codecTime
	e := &core.Entry{
		Method: "GET", URL: "https://api.example.test/v1/items?page=2&per_page=20", Status: 200, Proto: "HTTP/1.1",
		Header: http.Header{
			"Content-Type":  {"application/json; charset=utf-8"},
			"Cache-Control": {"public, max-age=3600"},
			"Etag":          {`"5d8c72a5edda8d6a"`},
			"Date":          {now.UTC().Format(http.TimeFormat)},
			"Vary":          {"Accept-Encoding"},
			"Server":        {"nginx"},
		},
		RequestTime: now, ResponseTime: now.Add(1234567), Created: now,
		Expires: now.Add(time.Hour), Deletion: now.Add(25 * time.Hour), StaleWhileRevalidate: -1, StaleIfError: -1,
		VaryHeader: http.Header{"Accept-Encoding": {"gzip"}},
	}
	switch kind {
	case "json1k":
		e.Body = jsonAPIBody(1 << 10)
	case "binary64k":
		e.Body = randomBytes(64<<10, 64)
		e.Header.Set("Content-Type", "application/octet-stream")
		e.Header.Del("Vary")
		e.VaryHeader = nil
	default:
		panic("conformance: CodecBenchEntry: unknown kind " + kind) // programming error in a test
	}
	e.Header.Set("Content-Length", fmt.Sprint(len(e.Body)))
	return e
}

// CodecSampleEntries returns the entries the codec suite round-trips, fresh
// on every call (callers may modify them). Fuzz targets use their encodings
// as a seed corpus.
func CodecSampleEntries() []NamedEntry {
	with := func(f func(e *core.Entry)) *core.Entry {
		e := codecFullEntry()
		f(e)
		return e
	}
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	limit := time.Unix(0, math.MaxInt64) // the last instant int64 nanoseconds hold
	return []NamedEntry{
		{"FullEntry", codecFullEntry()},
		{"ZeroEntry", &core.Entry{}},
		{"VariantIndex", codecIndexEntry()},
		{"VariantIndexWithoutNames", &core.Entry{Variants: &core.Variants{Generation: 7}}},
		{"VariantIndexGenerationZero", &core.Entry{Variants: &core.Variants{Names: []string{"Accept"}}}},
		{"NilBody", with(func(e *core.Entry) { e.Body = nil })},
		{"EmptyBody", with(func(e *core.Entry) { e.Body = []byte{} })},
		{"BinaryBody", with(func(e *core.Entry) {
			e.Body = allBytes
			e.Header.Set("Content-Type", "application/octet-stream")
		})},
		{"BinaryBodyLabelledText", with(func(e *core.Entry) { e.Body = allBytes })},
		{"InvalidUTF8LabelledJSON", with(func(e *core.Entry) {
			e.Header.Set("Content-Type", "application/json")
			e.Body = []byte("{\"a\":\"\xff\xfe\"}")
		})},
		{"JSONBody", with(func(e *core.Entry) {
			e.Header.Set("Content-Type", "application/problem+json")
			e.Body = []byte("{\"html\":\"<b>&amp;</b>\",\"u\":\"\u2028 ✓ \\u0000\",\"n\":[1,2.5e10,null]}\n  ")
		})},
		{"XMLBody", with(func(e *core.Entry) {
			e.Header.Set("Content-Type", "application/atom+xml")
			e.Body = []byte("<?xml version=\"1.0\"?>\r\n<feed>\t<title>é</title></feed>")
		})},
		{"FormBody", with(func(e *core.Entry) {
			e.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			e.Body = []byte("a=1&b=%20x&c=%E2%9C%93")
		})},
		{"OneMiBBody", with(func(e *core.Entry) {
			e.Body = randomBytes(1<<20, 1)
			e.Header.Set("Content-Type", "image/png")
		})},
		{"OneMiBTextBody", with(func(e *core.Entry) {
			e.Body = bytes.Repeat([]byte("line of text ✓\n"), (1<<20)/16)
		})},
		{"StreamedBody", with(func(e *core.Entry) { e.Body, e.Streamed, e.BodySize = nil, true, 5<<30 })},
		{"NilHeaders", with(func(e *core.Entry) { e.Header, e.Trailer, e.VaryHeader = nil, nil, nil })},
		{"EmptyHeaders", with(func(e *core.Entry) { e.Header, e.Trailer, e.VaryHeader = http.Header{}, http.Header{}, http.Header{} })},
		{"ZeroTimes", with(func(e *core.Entry) {
			e.RequestTime, e.ResponseTime, e.Created, e.Expires, e.Deletion = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
		})},
		{"TimesInOtherLocations", with(func(e *core.Entry) {
			e.RequestTime = codecTime.In(time.FixedZone("X", -7*3600-30*60))
			e.ResponseTime = codecTime.In(time.FixedZone("", 14*3600))
			e.Expires = time.Unix(1, 1)
		})},
		{"TimesBefore1970", with(func(e *core.Entry) {
			e.Created = time.Date(1969, 7, 20, 20, 17, 40, 5, time.UTC)
			e.RequestTime = time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC) // one nanosecond after the zero time
		})},
		{"TimeWithMonotonicReading", with(func(e *core.Entry) { e.ResponseTime = time.Now() })},
		{"FarFutureTimes", with(func(e *core.Entry) {
			e.Expires = limit.Add(time.Second + 1)    // past what int64 nanoseconds hold
			e.Deletion = codecTime.Add(math.MaxInt64) // now + core.Forever, year 2316
			e.Created = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
		})},
		{"NegativeDurations", with(func(e *core.Entry) {
			e.InitialAge, e.StaleWhileRevalidate, e.StaleIfError = -1, math.MinInt64, -time.Nanosecond
		})},
		{"LargestDurations", with(func(e *core.Entry) {
			e.InitialAge, e.StaleWhileRevalidate, e.StaleIfError = math.MaxInt64, core.Forever, 2147483648*time.Second
		})},
		{"FlagsOff", with(func(e *core.Entry) {
			e.Uncompressed, e.NoCache, e.MustRevalidate, e.Immutable = false, false, false, false
		})},
		{"Status0", with(func(e *core.Entry) { e.Status = 0 })},
		{"Status999", with(func(e *core.Entry) { e.Status = 999 })},
		{"LongHeaderValue", with(func(e *core.Entry) { e.Header.Set("X-Long", strings.Repeat("v", 100000)) })},
		{"ManyHeaders", with(func(e *core.Entry) {
			for i := range 300 {
				e.Header.Add(fmt.Sprintf("X-H%d", i%50), fmt.Sprint(i))
			}
		})},
		{"BenchJSON1KiB", CodecBenchEntry("json1k")},
		{"BenchBinary64KiB", CodecBenchEntry("binary64k")},
		{"EveryField", everyFieldEntry()},
	}
}

// everyFieldEntry sets every exported field of core.Entry except Key to a
// non-zero value, by reflection, so that a field added to Entry is part of
// the round trip before any codec knows of it. A field of a type the suite
// cannot fill is left zero and reported by TestEveryField.
func everyFieldEntry() *core.Entry {
	e := codecFullEntry()
	v := reflect.ValueOf(e).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		sf := v.Type().Field(i)
		if !sf.IsExported() || sf.Name == "Key" || !f.IsZero() {
			continue
		}
		fillValue(f, i)
	}
	e.Variants = nil // an Entry is a response or an index; the index has its own samples
	e.Streamed, e.BodySize = false, int64(len(e.Body))
	return e
}

// fillValue sets f to a non-zero value derived from seed, for the kinds an
// Entry field may have.
func fillValue(f reflect.Value, seed int) bool {
	switch f.Interface().(type) {
	case time.Time:
		f.Set(reflect.ValueOf(codecTime.Add(time.Duration(seed)*time.Minute + time.Duration(seed))))
		return true
	case time.Duration:
		f.SetInt(int64(seed)*int64(time.Second) + 1)
		return true
	case http.Header:
		f.Set(reflect.ValueOf(http.Header{fmt.Sprintf("X-Field-%d", seed): {"a", "B"}}))
		return true
	case []byte:
		f.SetBytes([]byte(fmt.Sprintf("field %d", seed)))
		return true
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(fmt.Sprintf("field-%d", seed))
	case reflect.Bool:
		f.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		f.SetInt(int64(100 + seed))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		f.SetUint(uint64(100 + seed))
	case reflect.Slice:
		if f.Type().Elem().Kind() != reflect.String {
			return false
		}
		f.Set(reflect.ValueOf([]string{fmt.Sprintf("field-%d", seed), "x"}).Convert(f.Type()))
	case reflect.Pointer:
		p := reflect.New(f.Type().Elem())
		if p.Elem().Kind() != reflect.Struct {
			return false
		}
		for j := range p.Elem().NumField() {
			if p.Elem().Type().Field(j).IsExported() && !fillValue(p.Elem().Field(j), seed*31+j) {
				return false
			}
		}
		f.Set(p)
	default:
		return false
	}
	return true
}

// DiffEntry describes the first difference between two entries, or returns
// "". Every exported field but Key is compared, by reflection (a field added
// to core.Entry is compared without a change here): times with Equal (a
// decoded time may have another location and no monotonic reading), bodies
// with bytes.Equal (nil equals empty), headers with empty equal to nil and
// an empty value list equal to nil, Variants.Names with empty equal to nil.
func DiffEntry(got, want *core.Entry) string {
	g, w := reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()
	for i := range g.NumField() {
		sf := g.Type().Field(i)
		if !sf.IsExported() || sf.Name == "Key" {
			continue
		}
		if d := diffValue(g.Field(i), w.Field(i)); d != "" {
			return sf.Name + ": " + d
		}
	}
	return ""
}

func diffValue(g, w reflect.Value) string {
	switch gv := g.Interface().(type) {
	case time.Time:
		wv := w.Interface().(time.Time)
		if gv.IsZero() != wv.IsZero() || !gv.Equal(wv) {
			return fmt.Sprintf("got %v, want %v", gv, wv)
		}
		return ""
	case []byte:
		wv := w.Interface().([]byte)
		if !bytes.Equal(gv, wv) {
			return fmt.Sprintf("got %d bytes %.40q, want %d bytes %.40q", len(gv), gv, len(wv), wv)
		}
		return ""
	case http.Header:
		wv := w.Interface().(http.Header)
		if len(gv) != len(wv) {
			return fmt.Sprintf("got %d names %v, want %d names %v", len(gv), gv, len(wv), wv)
		}
		for k, vs := range wv {
			gvs, ok := gv[k]
			if !ok {
				return fmt.Sprintf("name %q missing (got %v)", k, gv)
			}
			if len(gvs) != len(vs) || (len(vs) > 0 && !reflect.DeepEqual(gvs, vs)) {
				return fmt.Sprintf("%q: got %q, want %q", k, gvs, vs)
			}
		}
		return ""
	case *core.Variants:
		wv := w.Interface().(*core.Variants)
		if (gv == nil) != (wv == nil) {
			return fmt.Sprintf("got %+v, want %+v", gv, wv)
		}
		if gv == nil {
			return ""
		}
		gc, wc := *gv, *wv
		if len(gc.Names) == 0 && len(wc.Names) == 0 {
			gc.Names, wc.Names = nil, nil
		}
		if !reflect.DeepEqual(gc, wc) {
			return fmt.Sprintf("got %+v, want %+v", gc, wc)
		}
		return ""
	}
	if !reflect.DeepEqual(g.Interface(), w.Interface()) {
		return fmt.Sprintf("got %#v, want %#v", g.Interface(), w.Interface())
	}
	return ""
}

// decodeSafely calls c.Decode and turns a panic into an error that does not
// wrap core.ErrCorrupt, so that the suite reports it as a failure.
func decodeSafely(c core.Codec, data []byte, e *core.Entry) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("Decode panicked: %v", r)
		}
	}()
	return c.Decode(data, e)
}

func encodeOrFail(t testing.TB, c core.Codec, e *core.Entry) []byte {
	t.Helper()
	data, err := c.Encode(e)
	if err != nil {
		t.Fatalf("Encode: got error %v, want nil", err)
	}
	if len(data) == 0 {
		t.Fatalf("Encode: got no bytes, want an encoding with a format identifier")
	}
	return data
}

// expectCorrupt fails the test unless decoding data fails with an error
// wrapping core.ErrCorrupt.
func expectCorrupt(t *testing.T, c core.Codec, what string, data []byte) {
	t.Helper()
	var out core.Entry
	if err := decodeSafely(c, data, &out); !errors.Is(err, core.ErrCorrupt) {
		t.Errorf("Decode of %s: got error %v, want one wrapping core.ErrCorrupt", what, err)
	}
}

// RunCodecTests checks c against the core.Codec contract: every sample
// entry (CodecSampleEntries) survives a round trip with every exported
// field of core.Entry but Key intact; Encode does not modify its entry and
// Decode does not modify its input and replaces every field of its
// destination; every encoding begins with the codec's format identifier;
// bytes of another format, of another leading byte, truncated at any
// length or followed by extra bytes fail with an error wrapping
// core.ErrCorrupt; flipped bits never make Decode panic or fail with
// another error; concurrent use is safe; and a cache using c serves what
// it stored (Vary variants included) and treats undecodable bytes in the
// store as a miss that is deleted and counted in Stats().CorruptErrors.
//
// Streamed bodies are checked too, framed as the cache frames them under c
// (core.SealStream): they round-trip at every size around the segment
// size; a bit flipped anywhere (StreamID, header, any segment's bytes or
// tag), a cut at or between segment boundaries, a dropped final segment,
// reordered segments, a segment or header spliced from another stream of
// the same key or of another key, and a stream relabelled with another
// StreamID all fail with an error wrapping core.ErrCorrupt, with no byte of
// the affected segment released; and when c's entries hide their bytes
// (encryption), its streams hide them too.
//
// A codec that authenticates its bytes (signing, encryption) is also run
// through RunCodecKeyTests.
func RunCodecTests(t *testing.T, c core.Codec) {
	t.Helper()
	t.Run("RoundTrip", func(t *testing.T) {
		want := CodecSampleEntries()
		for i, in := range CodecSampleEntries() {
			t.Run(in.Name, func(t *testing.T) {
				data := encodeOrFail(t, c, in.Entry)
				if d := DiffEntry(in.Entry, want[i].Entry); d != "" && in.Name != "TimeWithMonotonicReading" {
					t.Errorf("Encode modified its entry: %s", d)
				}
				saved := bytes.Clone(data)
				var out core.Entry
				if err := decodeSafely(c, data, &out); err != nil {
					t.Fatalf("Decode: got error %v, want nil", err)
				}
				if !bytes.Equal(data, saved) {
					t.Errorf("Decode modified its input")
				}
				if d := DiffEntry(&out, in.Entry); d != "" {
					t.Errorf("round trip: %s", d)
				}
			})
		}
	})
	t.Run("EveryFieldFilled", func(t *testing.T) {
		e := everyFieldEntry()
		v := reflect.ValueOf(e).Elem()
		for i := range v.NumField() {
			sf := v.Type().Field(i)
			if sf.IsExported() && sf.Name != "Key" && sf.Name != "Variants" && sf.Name != "Streamed" && v.Field(i).IsZero() {
				t.Errorf("core.Entry field %s (%s): the codec suite cannot fill it; teach fillValue its type", sf.Name, sf.Type)
			}
		}
	})
	t.Run("KeyNotEncoded", func(t *testing.T) {
		in := codecFullEntry()
		in.Key = "h1:0123456789abcdef"
		out := core.Entry{Key: "stale"}
		if err := decodeSafely(c, encodeOrFail(t, c, in), &out); err != nil {
			t.Fatalf("Decode: got error %v, want nil", err)
		}
		if out.Key != "" {
			t.Errorf("decoded Key: got %q, want %q (codecs do not encode it)", out.Key, "")
		}
	})
	t.Run("DecodeReplacesDestination", func(t *testing.T) {
		seq := []NamedEntry{
			{"every field", everyFieldEntry()}, {"index", codecIndexEntry()}, {"full", codecFullEntry()},
			{"zero", &core.Entry{}}, {"index", codecIndexEntry()}, {"zero", &core.Entry{}},
		}
		var out core.Entry
		for i, in := range seq {
			if err := decodeSafely(c, encodeOrFail(t, c, in.Entry), &out); err != nil {
				t.Fatalf("Decode %d (%s): got error %v, want nil", i, in.Name, err)
			}
			if d := DiffEntry(&out, in.Entry); d != "" {
				t.Errorf("decoding %s into a destination that held another entry: %s", in.Name, d)
			}
		}
	})
	var id byte
	t.Run("FormatIdentifier", func(t *testing.T) {
		for _, in := range CodecSampleEntries() {
			data := encodeOrFail(t, c, in.Entry)
			if id == 0 {
				id = data[0]
			}
			if data[0] != id {
				t.Errorf("%s: leading byte %#x, want %#x like the other entries: the first byte identifies the format", in.Name, data[0], id)
			}
		}
	})
	t.Run("OtherFormatsAreCorrupt", func(t *testing.T) {
		good := encodeOrFail(t, c, codecFullEntry())
		inputs := []struct {
			name string
			data []byte
		}{
			{"nil", nil},
			{"empty", []byte{}},
			{"one zero byte", []byte{0}},
			{"the format identifier alone", good[:1]},
			{"text", []byte("hello, world")},
			{"a JSON object", []byte(`{"Status":200,"Body":"aGVsbG8="}`)},
			{"an empty JSON object", []byte(`{}`)},
			{"a JSON object after a space", append([]byte(" "), good...)},
			{"gzip magic", []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}},
			{"zstd magic", []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0}},
			{"0x80 bytes", bytes.Repeat([]byte{0x80}, 64)},
			{"0xff bytes", bytes.Repeat([]byte{0xff}, 64)},
		}
		for _, in := range inputs {
			expectCorrupt(t, c, in.name, in.data)
		}
		if good[0] != 0xB1 {
			bin, err := core.BinaryCodec{}.Encode(codecFullEntry())
			if err != nil {
				t.Fatalf("BinaryCodec.Encode: %v", err)
			}
			expectCorrupt(t, c, "core.BinaryCodec's encoding", bin)
		}
		for b := range 256 {
			if byte(b) == good[0] {
				continue
			}
			data := bytes.Clone(good)
			data[0] = byte(b)
			expectCorrupt(t, c, fmt.Sprintf("an encoding whose leading byte is %#x instead of %#x", b, good[0]), data)
		}
	})
	t.Run("TruncatedIsCorrupt", func(t *testing.T) {
		skipUnderRace(t, "TruncatedIsCorrupt", codecRun)
		for _, in := range CodecSampleEntries() {
			data := encodeOrFail(t, c, in.Entry)
			for _, n := range truncationLengths(len(data)) {
				prefix := data[:n:n] // capacity n: a read past the end panics
				expectCorrupt(t, c, fmt.Sprintf("%s cut to %d of %d bytes", in.Name, n, len(data)), prefix)
			}
		}
	})
	t.Run("TrailingBytesAreCorrupt", func(t *testing.T) {
		for _, in := range []NamedEntry{{"full", codecFullEntry()}, {"index", codecIndexEntry()}, {"zero", &core.Entry{}}} {
			data := encodeOrFail(t, c, in.Entry)
			for _, tail := range []string{"\x00", "x", "\xff\xff", "}"} {
				expectCorrupt(t, c, fmt.Sprintf("%s followed by %q", in.Name, tail), append(bytes.Clone(data), tail...))
			}
		}
	})
	t.Run("FlippedBitsNeverPanic", func(t *testing.T) {
		skipUnderRace(t, "FlippedBitsNeverPanic", codecRun)
		for _, in := range []NamedEntry{{"full", codecFullEntry()}, {"index", codecIndexEntry()}} {
			good := encodeOrFail(t, c, in.Entry)
			data := make([]byte, len(good))
			for i := range good {
				for bit := range 8 {
					copy(data, good)
					data[i] ^= 1 << bit
					var out core.Entry
					if err := decodeSafely(c, data, &out); err != nil && !errors.Is(err, core.ErrCorrupt) {
						t.Fatalf("%s with bit %d of byte %d flipped: got error %v, want nil or one wrapping core.ErrCorrupt", in.Name, bit, i, err)
					}
				}
			}
		}
	})
	t.Run("ConcurrentUse", func(t *testing.T) {
		entries := []*core.Entry{codecFullEntry(), codecIndexEntry(), CodecBenchEntry("json1k")}
		encoded := make([][]byte, len(entries))
		for i, e := range entries {
			encoded[i] = encodeOrFail(t, c, e)
		}
		var wg sync.WaitGroup
		var failures atomic.Int64
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 30 {
					k := (g + i) % len(entries)
					data, err := c.Encode(entries[k])
					var out core.Entry
					if err == nil {
						err = decodeSafely(c, data, &out)
					}
					if err == nil {
						err = decodeSafely(c, encoded[k], &out)
					}
					if err != nil || DiffEntry(&out, entries[k]) != "" {
						failures.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if n := failures.Load(); n > 0 {
			t.Errorf("concurrent Encode/Decode: %d of 120 round trips failed", n)
		}
	})
	t.Run("EndToEnd", func(t *testing.T) { testCodecEndToEnd(t, c) })
	t.Run("Streams", func(t *testing.T) { testCodecStreams(t, c) })
}

// truncationLengths lists the prefix lengths to try for an encoding of n
// bytes: all of them for short encodings; otherwise the first ones, the
// last ones and a spread in between, fewer for large encodings (each try
// of a large prefix costs a decode of up to n bytes).
func truncationLengths(n int) []int {
	if n <= 2048 {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	first, last, spread := 128, 16, 32
	if n > 64<<10 {
		first, last, spread = 64, 4, 8
	}
	var out []int
	for i := 0; i < first; i++ {
		out = append(out, i)
	}
	for i := 1; i <= last; i++ {
		out = append(out, n-i)
	}
	for i := 1; i < spread; i++ {
		out = append(out, n*i/spread)
	}
	return out
}

// RunCodecKeyTests checks a codec that authenticates its bytes (an HMAC
// signature, AES-GCM): every flipped bit and every truncation fails with an
// error wrapping core.ErrCorrupt (never an entry), and bytes written by
// wrongKey (the same codec with other keys) fail to decode with c and the
// other way round — entries and streamed bodies alike. Run it in addition
// to RunCodecTests.
func RunCodecKeyTests(t *testing.T, c, wrongKey core.Codec) {
	t.Helper()
	t.Run("WrongKeyIsCorrupt", func(t *testing.T) {
		for _, in := range CodecSampleEntries() {
			expectCorrupt(t, c, in.Name+" written with another key", encodeOrFail(t, wrongKey, in.Entry))
			expectCorrupt(t, wrongKey, in.Name+" read with another key", encodeOrFail(t, c, in.Entry))
		}
	})
	t.Run("EveryFlippedBitIsCorrupt", func(t *testing.T) {
		skipUnderRace(t, "EveryFlippedBitIsCorrupt", codecRun)
		for _, in := range []NamedEntry{{"full", codecFullEntry()}, {"index", codecIndexEntry()}, {"bench", CodecBenchEntry("json1k")}} {
			good := encodeOrFail(t, c, in.Entry)
			data := make([]byte, len(good))
			for i := range good {
				for bit := range 8 {
					copy(data, good)
					data[i] ^= 1 << bit
					expectCorrupt(t, c, fmt.Sprintf("%s with bit %d of byte %d flipped", in.Name, bit, i), data)
				}
			}
		}
	})
	t.Run("StreamWrongKeyIsCorrupt", func(t *testing.T) { testCodecStreamKeys(t, c, wrongKey) })
	t.Run("SwappedBodiesAreCorrupt", func(t *testing.T) {
		a := encodeOrFail(t, c, codecFullEntry())
		b := encodeOrFail(t, c, CodecBenchEntry("json1k"))
		for _, cut := range []int{len(a) / 2, len(a) - 16, len(a) - 1} {
			if cut <= 0 || cut >= len(b) {
				continue
			}
			mixed := append(bytes.Clone(a[:cut]), b[cut:]...)
			expectCorrupt(t, c, fmt.Sprintf("the first %d bytes of one entry and the rest of another", cut), mixed)
		}
	})
}

// recordingStore remembers the keys written to it.
type recordingStore struct {
	core.Store
	mu   sync.Mutex
	keys []string
}

func (s *recordingStore) Set(ctx context.Context, key string, value []byte, meta core.Meta) error {
	s.mu.Lock()
	s.keys = append(s.keys, key)
	s.mu.Unlock()
	return s.Store.Set(ctx, key, value, meta)
}

// testCodecEndToEnd runs a cache with c over memstore: responses (and a
// Vary index with its variants) are stored and served intact, and
// undecodable bytes in the store are a miss, deleted and counted.
func testCodecEndToEnd(t *testing.T, c core.Codec) {
	mem, err := memstore.New(nil)
	if err != nil {
		t.Fatalf("memstore.New: %v", err)
	}
	defer mem.Close()
	st := &recordingStore{Store: mem}
	clock := NewClock()
	cache, err := core.New(st, core.WithCodec(c), core.WithClock(clock.Now), semanticsTimeout(), core.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatalf("core.New: %v", err)
	}
	defer cache.Wait()
	var hits atomic.Int64
	body := jsonAPIBody(2000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		w.Header().Set("Date", clock.Now().UTC().Format(http.TimeFormat))
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header()["X-Multi"] = []string{"one", "two"}
		w.Header().Set("X-Served", fmt.Sprint(n))
		if r.URL.Path == "/vary" {
			w.Header().Set("Vary", "Accept-Language")
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintf(w, "lang=%s", r.Header.Get("Accept-Language"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	get := func(path, lang string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatalf("NewRequest: %v", err)
		}
		if lang != "" {
			req.Header.Set("Accept-Language", lang)
		}
		resp, err := cache.Do(req, tr.RoundTrip)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: reading body: %v", path, err)
		}
		return resp, string(b)
	}
	check := func(path, lang, wantBody string, wantFromCache bool) {
		t.Helper()
		resp, got := get(path, lang)
		if got != wantBody {
			t.Errorf("GET %s (%s): body %.40q, want %.40q", path, lang, got, wantBody)
		}
		if info := core.InfoOf(resp); info.FromCache != wantFromCache {
			t.Errorf("GET %s (%s): FromCache %v, want %v", path, lang, info.FromCache, wantFromCache)
		}
		if got := resp.Header.Values("X-Multi"); !reflect.DeepEqual(got, []string{"one", "two"}) {
			t.Errorf("GET %s (%s): X-Multi %q, want [one two]", path, lang, got)
		}
	}
	check("/json", "", string(body), false)
	check("/json", "", string(body), true)
	check("/vary", "en", "lang=en", false)
	check("/vary", "fr", "lang=fr", false)
	check("/vary", "en", "lang=en", true)
	check("/vary", "fr", "lang=fr", true)
	if got := hits.Load(); got != 3 {
		t.Fatalf("origin requests: got %d, want 3", got)
	}

	// Replace every stored value by bytes the codec cannot have written.
	st.mu.Lock()
	keys := append([]string(nil), st.keys...)
	st.mu.Unlock()
	for _, k := range keys {
		if err := mem.Set(t.Context(), k, []byte("\x00not an entry"), core.Meta{Expires: clock.Now().Add(time.Hour)}); err != nil {
			t.Fatalf("overwriting %s: %v", k, err)
		}
	}
	before := cache.Stats().CorruptErrors
	check("/json", "", string(body), false)
	if got := cache.Stats().CorruptErrors - before; got < 1 {
		t.Errorf("Stats().CorruptErrors grew by %d after reading a corrupt entry, want at least 1", got)
	}
	check("/json", "", string(body), true) // stored again, and served
	if got := hits.Load(); got != 4 {
		t.Errorf("origin requests: got %d, want 4", got)
	}
}

// NamedCodec is a codec with the name its benchmarks report.
type NamedCodec struct {
	Name  string
	Codec core.Codec
}

// RunCodecBenchmarks is the body of a BenchmarkCodec function: for each
// codec, Encode and Decode of a typical 1 KiB JSON API response ("json1k")
// and of a 64 KiB binary body ("binary64k"), reported as
// <codec>/<entry>/Encode and .../Decode with allocations and the encoded
// size (the "encoded-bytes" metric). Decode reuses one destination Entry,
// as the cache's hit path does.
func RunCodecBenchmarks(b *testing.B, codecs ...NamedCodec) {
	for _, nc := range codecs {
		for _, kind := range []string{"json1k", "binary64k"} {
			e := CodecBenchEntry(kind)
			data, err := nc.Codec.Encode(e)
			if err != nil {
				b.Fatalf("%s: Encode: %v", nc.Name, err)
			}
			b.Run(nc.Name+"/"+kind+"/Encode", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(e.Body)))
				for b.Loop() {
					if _, err := nc.Codec.Encode(e); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(data)), "encoded-bytes")
			})
			b.Run(nc.Name+"/"+kind+"/Decode", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(e.Body)))
				var out core.Entry
				for b.Loop() {
					if err := nc.Codec.Decode(data, &out); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(data)), "encoded-bytes")
			})
		}
	}
}
