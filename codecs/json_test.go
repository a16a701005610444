package codecs_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/codecs"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
)

// TestJSONReadable checks what makes the JSON codec worth having: textual
// bodies as text, binary ones as base64, headers as sorted objects with
// their values in order, times with nanoseconds.
func TestJSONReadable(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		wantMember  string // "body" or "body_base64"
	}{
		{"json", "application/json; charset=utf-8", `{"a":1}`, "body"},
		{"problem+json", "application/problem+json", `{"a":1}`, "body"},
		{"text", "text/html", "<p>hé</p>", "body"},
		{"xml", "application/xml", "<a/>", "body"},
		{"atom", "application/atom+xml", "<feed/>", "body"},
		{"form", "application/x-www-form-urlencoded", "a=1&b=2", "body"},
		{"png", "image/png", "\x89PNG\r\n", "body_base64"},
		{"octet-stream text", "application/octet-stream", "hello", "body_base64"},
		{"no content type", "", "hello", "body_base64"},
		{"text that is not UTF-8", "text/plain", "caf\xe9", "body_base64"},
		{"malformed content type", "text/plain; ;;", "hello", "body_base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &core.Entry{Status: 200, Header: http.Header{}, Body: []byte(tt.body)}
			if tt.contentType != "" {
				e.Header.Set("Content-Type", tt.contentType)
			}
			data := must(codecs.JSON{}.Encode(e))
			var doc map[string]json.RawMessage
			if err := json.Unmarshal(data, &doc); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, data)
			}
			if _, ok := doc[tt.wantMember]; !ok {
				t.Errorf("members %v: want %q in\n%s", keys(doc), tt.wantMember, data)
			}
			if tt.wantMember == "body" {
				var s string
				_ = json.Unmarshal(doc["body"], &s)
				if s != tt.body {
					t.Errorf("body member: got %q, want %q", s, tt.body)
				}
			}
		})
	}
	t.Run("layout", func(t *testing.T) {
		e := conformance.CodecBenchEntry("json1k")
		e.Header["Set-Cookie"] = []string{"z=1", "a=2"}
		e.Header["x-lower"] = []string{"v"}
		data := string(must(codecs.JSON{}.Encode(e)))
		for _, want := range []string{
			`{"hoard":"json/1","method":"GET",`,
			`"Set-Cookie":["z=1","a=2"]`,
			`"Vary":["Accept-Encoding"],"x-lower":["v"]}`, // names sorted, values in order, case kept
			`"created":"2024-05-06T07:08:09.123456789Z"`,
			`"response_time":"2024-05-06T07:08:09.124691356Z"`,
			`"body":"{\"items\":[{\"id\":1000,`,
		} {
			if !strings.Contains(data, want) {
				t.Errorf("encoding lacks %s:\n%s", want, data)
			}
		}
		if strings.HasSuffix(data, "\n") {
			t.Errorf("encoding ends with a newline; a truncated entry could then decode")
		}
	})
	t.Run("deterministic", func(t *testing.T) {
		e := conformance.CodecSampleEntries()[0].Entry
		first := must(codecs.JSON{}.Encode(e))
		for range 20 {
			if again := must(codecs.JSON{}.Encode(e)); !bytes.Equal(again, first) {
				t.Fatalf("two encodings of one entry differ:\n%s\n%s", first, again)
			}
		}
	})
	t.Run("header that is not UTF-8", func(t *testing.T) {
		e := &core.Entry{Header: http.Header{"Latin": {"caf\xe9"}, "Ok": {"yes"}}}
		data := string(must(codecs.JSON{}.Encode(e)))
		if !strings.Contains(data, `"header":{"Ok":["yes"]}`) || !strings.Contains(data, `"header_base64":{"TGF0aW4=":["Y2Fm6Q=="]}`) {
			t.Errorf("encoding: %s", data)
		}
	})
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestJSONEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		e    *core.Entry
	}{
		{"status 1000", &core.Entry{Status: 1000}},
		{"negative status", &core.Entry{Status: -1}},
		{"URL not UTF-8", &core.Entry{URL: "http://x/\xff"}},
		{"year 10000", &core.Entry{Expires: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"variant name not UTF-8", &core.Entry{Variants: &core.Variants{Names: []string{"\xff"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := (codecs.JSON{}).Encode(tt.e); err == nil {
				t.Errorf("Encode: got nil error, want one")
			}
		})
	}
}

func TestJSONDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		data string
	}{
		{"newer version", `{"hoard":"json/2","status":200}`},
		{"no version", `{"status":200}`},
		{"version of another type", `{"hoard":1}`},
		{"unknown member", `{"hoard":"json/1","colour":"red"}`},
		{"status 1000", `{"hoard":"json/1","status":1000}`},
		{"status not an integer", `{"hoard":"json/1","status":200.5}`},
		{"both bodies", `{"hoard":"json/1","body":"a","body_base64":"YQ=="}`},
		{"bad base64 body", `{"hoard":"json/1","body_base64":"!!"}`},
		{"bad time", `{"hoard":"json/1","created":"yesterday"}`},
		{"bad base64 header name", `{"hoard":"json/1","header_base64":{"!":["YQ=="]}}`},
		{"bad base64 header value", `{"hoard":"json/1","header_base64":{"QQ==":["!"]}}`},
		{"header twice", `{"hoard":"json/1","header":{"A":["1"]},"header_base64":{"QQ==":["Mg=="]}}`},
		{"two objects", `{"hoard":"json/1"}{"hoard":"json/1"}`},
		{"an array", `[{"hoard":"json/1"}]`},
		{"leading space", ` {"hoard":"json/1"}`},
		{"deep nesting", `{"hoard":"json/1","variants":` + strings.Repeat("[", 100000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e core.Entry
			if err := (codecs.JSON{}).Decode([]byte(tt.data), &e); !errors.Is(err, core.ErrCorrupt) {
				t.Errorf("Decode(%.60s): got %v, want an error wrapping core.ErrCorrupt", tt.data, err)
			}
		})
	}
}

// TestJSONHandEdited checks that a person may reformat an entry (indent,
// reorder members) and the cache still reads it.
func TestJSONHandEdited(t *testing.T) {
	data := `{
	  "status": 200,
	  "hoard": "json/1",
	  "header": {"Content-Type": ["text/plain"]},
	  "body": "edited by hand",
	  "expires": "2030-01-02T03:04:05.000000006+01:00"
	}` + "\n"
	var e core.Entry
	if err := (codecs.JSON{}).Decode([]byte(data), &e); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := time.Date(2030, 1, 2, 2, 4, 5, 6, time.UTC)
	if e.Status != 200 || string(e.Body) != "edited by hand" || !e.Expires.Equal(want) {
		t.Errorf("decoded %d %q %v, want 200 %q %v", e.Status, e.Body, e.Expires, "edited by hand", want)
	}
}

func FuzzJSONDecode(f *testing.F) {
	conformance.FuzzCodecDecode(f, codecs.JSON{},
		[]byte(`{"hoard":"json/1","header_base64":{"QQ==":["Mg=="]},"body":"x"}`),
		[]byte(`{"hoard":"json/1","variants":{"names":["A"],"generation":18446744073709551615}}`))
}
