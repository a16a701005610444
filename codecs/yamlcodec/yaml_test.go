package yamlcodec_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/hoardhttp/hoard/codecs"
	"github.com/hoardhttp/hoard/codecs/yamlcodec"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err) // fixed test arguments: an error is a bug in the test
	}
	return v
}

var key = bytes.Repeat([]byte{7}, 32)

// TestConformance runs the codec suite on the codec and under a wrapper
// (the wrappers' composition is the cbor and core suites' concern; YAML's
// parser is slow enough on the suite's 1 MiB entries to keep this short).
func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		c    core.Codec
	}{
		{"YAML", yamlcodec.Codec{}},
		{"YAML/Signed", must(codecs.NewSigned(yamlcodec.Codec{}, [][]byte{key}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { conformance.RunCodecTests(t, tt.c) })
	}
}

func TestDecodeErrors(t *testing.T) {
	good := string(must(yamlcodec.Codec{}.Encode(&core.Entry{Status: 200, Method: "GET"})))
	tests := []struct {
		name string
		data string
	}{
		{"empty", ""},
		{"JSON entry", `{"hoard":"json/1"}`},
		{"newer version", strings.Replace(good, "yaml/1", "yaml/2", 1)},
		{"JSON version", strings.Replace(good, "yaml/1", "json/1", 1)},
		{"not a mapping", "h\n"},
		{"hoard not first", "hoardx: 1\nhoard: yaml/1\n"},
		{"unknown member", strings.Replace(good, "...\n", "colour: blue\n...\n", 1)},
		{"no end marker", strings.TrimSuffix(good, "...\n")},
		{"status 1000", strings.Replace(good, "status: 200", "status: 1000", 1)},
		{"status a string", strings.Replace(good, "status: 200", "status: x", 1)},
		{"two documents", good + "---\n" + good},
		{"JSON flow document", "hoard: yaml/1\n...\n{\"hoard\": \"yaml/1\"}\n...\n"},
		{"alias", "hoard: yaml/1\nmethod: &m GET\nurl: *m\n...\n"},
		{"custom tag", "hoard: yaml/1\nmethod: !x GET\n...\n"},
		{"binary tag", "hoard: yaml/1\nbody_base64: !!binary aGk=\n...\n"},
		{"flow garbage", "hoard: yaml/1\nheader: {a: [\n...\n"},
		{"infinite float", "hoard: yaml/1\nstatus: .inf\n...\n"},
		{"bad time", "hoard: yaml/1\ncreated: yesterday\n...\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e core.Entry
			if err := (yamlcodec.Codec{}).Decode([]byte(tt.data), &e); !errors.Is(err, core.ErrCorrupt) {
				t.Errorf("Decode: got %v, want an error wrapping core.ErrCorrupt", err)
			}
		})
	}
}

// The document is readable: block style, headers as lists, a textual body of
// several lines as a literal block, a binary one in base64.
func TestReadable(t *testing.T) {
	e := &core.Entry{
		Method: "GET", URL: "https://example.com/a", Status: 200,
		Header: map[string][]string{"Content-Type": {"text/plain"}, "Etag": {`"v1"`}},
		Body:   []byte("line one\nline two\n"),
	}
	got := string(must(yamlcodec.Codec{}.Encode(e)))
	want := `hoard: yaml/1
method: GET
url: https://example.com/a
status: 200
header:
  Content-Type:
    - text/plain
  Etag:
    - '"v1"'
body: |
  line one
  line two
...
`
	if got != want {
		t.Errorf("Encode:\n%s\nwant:\n%s", got, want)
	}
	e.Header["Content-Type"] = []string{"image/png"}
	e.Body = []byte{0x89, 'P', 'N', 'G'}
	if got := string(must(yamlcodec.Codec{}.Encode(e))); !strings.Contains(got, "body_base64: iVBORw==\n") {
		t.Errorf("binary body not in base64:\n%s", got)
	}
}

func FuzzYAMLDecode(f *testing.F) {
	conformance.FuzzCodecDecode(f, yamlcodec.Codec{},
		[]byte("hoard: yaml/1\nmethod: &a GET\nurl: *a\n...\n"),
		[]byte("hoard: yaml/1\nheader: {A: [x, y]}\nstatus: 0x1F\n...\n"))
}

func BenchmarkCodec(b *testing.B) {
	conformance.RunCodecBenchmarks(b,
		conformance.NamedCodec{Name: "JSON", Codec: codecs.JSON{}},
		conformance.NamedCodec{Name: "YAML", Codec: yamlcodec.Codec{}},
	)
}
