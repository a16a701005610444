// Package yamlcodec is a codec for hoard entries in YAML, for people who
// want to read (and, in a pinch, edit) their cache, as requests-cache's YAML
// serializer lets them. It uses go.yaml.in/yaml/v3, the YAML organisation's
// maintained successor of gopkg.in/yaml.v3, and is a module of its own so
// that only users who import it pull that dependency.
//
//	cache, err := core.New(store, core.WithCodec(yamlcodec.Codec{}))
//
// An entry is one YAML document: the document of codecs.JSON (the same
// members, names and rules: headers as maps of value lists, a textual body
// as a string, any other body in body_base64, RFC 3339 times, durations in
// nanoseconds) written in YAML block style, its first line "hoard: yaml/1"
// (the format identifier and version; the first byte is always 'h'), its
// last line the document end marker "..." (so that a truncated entry does
// not decode). A body of several lines is written as a literal block.
//
// Decoding is as strict as the JSON codec's, and safe on bytes from an
// untrusted store: one document, a mapping whose first member is
// "hoard: yaml/1", no anchors or aliases (nothing is expanded), no tags but
// YAML's core ones; any other input fails with an error wrapping
// core.ErrCorrupt.
package yamlcodec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/hoardhttp/hoard/codecs"
	"github.com/hoardhttp/hoard/core"
	"go.yaml.in/yaml/v3"
)

// ID is the format identifier byte of the YAML codec: 'h', the first byte
// of its "hoard: yaml/1" line.
const ID = 'h'

const (
	version     = "yaml/1"
	jsonVersion = "json/1"
	// maxInput bounds the document the decoder parses (a stored entry is
	// bounded by WithMaxBodySize; base64 and YAML quoting add at most 4/3
	// and some framing).
	maxInput = 256 << 20
	// docEnd ends every document (the YAML document end marker, on a line
	// of its own): YAML has no closing delimiter, and a truncated entry must
	// not decode.
	docEnd = "\n...\n"
)

// Codec encodes entries as YAML. The zero value is ready to use and safe for
// concurrent use.
type Codec struct{}

// Encode implements core.Codec. It fails where codecs.JSON does: a status
// outside 0..999, a time outside the years 0 to 9999, a method, URL,
// protocol or variant name that is not valid UTF-8.
func (Codec) Encode(e *core.Entry) ([]byte, error) {
	data, err := codecs.JSON{}.Encode(e)
	if err != nil {
		return nil, fmt.Errorf("yamlcodec: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	root, err := nodeFromJSON(dec)
	if err != nil {
		return nil, fmt.Errorf("yamlcodec: %w", err)
	}
	if len(root.Content) < 2 || root.Content[0].Value != "hoard" {
		return nil, errors.New("yamlcodec: the JSON document has no leading hoard member")
	}
	root.Content[1].Value = version
	var buf bytes.Buffer
	buf.Grow(len(data) + len(data)/4)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("yamlcodec: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("yamlcodec: %w", err)
	}
	buf.WriteString(docEnd[1:])
	return buf.Bytes(), nil
}

// nodeFromJSON builds the YAML node of the next JSON value, keeping the
// order of object members.
func nodeFromJSON(dec *json.Decoder) (*yaml.Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		end := json.Delim('}')
		if t == '[' {
			n.Kind, n.Tag, end = yaml.SequenceNode, "!!seq", ']'
		}
		for dec.More() {
			if n.Kind == yaml.MappingNode {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, str(k.(string)))
			}
			v, err := nodeFromJSON(dec)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, v)
		}
		if tok, err := dec.Token(); err != nil || tok != end {
			return nil, fmt.Errorf("unbalanced JSON document")
		}
		return n, nil
	case string:
		return str(t), nil
	case json.Number:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: t.String()}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t)}, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}

// str is a string scalar; one of several lines is a literal block (the
// encoder falls back to a quoted scalar when a literal cannot hold it).
func str(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if strings.Contains(s, "\n") {
		n.Style = yaml.LiteralStyle
	}
	return n
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("yamlcodec: %s: %w", fmt.Sprintf(format, args...), core.ErrCorrupt)
}

// Decode implements core.Codec.
func (Codec) Decode(data []byte, e *core.Entry) error {
	if len(data) == 0 || data[0] != ID {
		return corrupt("not a YAML entry")
	}
	if len(data) > maxInput {
		return corrupt("document of %d bytes", len(data))
	}
	if !bytes.HasSuffix(data, []byte(docEnd)) {
		return corrupt("no document end marker: truncated")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := decodeNode(dec, &doc); err != nil {
		return corrupt("%v", err)
	}
	var extra yaml.Node
	if err := decodeNode(dec, &extra); !errors.Is(err, io.EOF) {
		return corrupt("more than one document")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return corrupt("not a YAML document")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode || len(root.Content) < 2 || root.Content[0].Value != "hoard" {
		return corrupt(`no leading "hoard" member: not a hoard entry`)
	}
	if v := root.Content[1]; v.Kind != yaml.ScalarNode || v.Value != version {
		return corrupt("unknown format version %.20q", v.Value)
	}
	var buf bytes.Buffer
	buf.Grow(len(data))
	if err := writeJSON(&buf, root, true); err != nil {
		return corrupt("%v", err)
	}
	if err := (codecs.JSON{}).Decode(buf.Bytes(), e); err != nil {
		if errors.Is(err, core.ErrCorrupt) {
			return fmt.Errorf("yamlcodec: %w", err)
		}
		return corrupt("%v", err)
	}
	return nil
}

// decodeNode decodes the next document, turning a panic of the YAML library
// on hostile input into an error.
func decodeNode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("YAML parser: %v", r)
		}
	}()
	return dec.Decode(n)
}

// writeJSON writes n as JSON; the root's version member becomes the JSON
// codec's, so that its strict decoder checks everything else.
func writeJSON(buf *bytes.Buffer, n *yaml.Node, root bool) error {
	switch n.Kind {
	case yaml.MappingNode:
		if n.Tag != "!!map" {
			return fmt.Errorf("tag %.20q", n.Tag)
		}
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || (k.Tag != "!!str" && k.Tag != "!!int") {
				return fmt.Errorf("a mapping key that is not a string (line %d)", k.Line)
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k.Value)
			buf.WriteByte(':')
			if root && i == 0 {
				writeString(buf, jsonVersion)
				continue
			}
			if err := writeJSON(buf, v, false); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		if n.Tag != "!!seq" {
			return fmt.Errorf("tag %.20q", n.Tag)
		}
		buf.WriteByte('[')
		for i, v := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, v, false); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		return writeScalar(buf, n)
	case yaml.AliasNode:
		return fmt.Errorf("an alias (line %d): anchors and aliases are not allowed", n.Line)
	default:
		return fmt.Errorf("unexpected node kind %d (line %d)", n.Kind, n.Line)
	}
	return nil
}

func writeScalar(buf *bytes.Buffer, n *yaml.Node) error {
	if n.Anchor != "" {
		return fmt.Errorf("an anchor (line %d): anchors and aliases are not allowed", n.Line)
	}
	switch n.Tag {
	case "!!str", "!!timestamp":
		writeString(buf, n.Value)
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			buf.WriteString(strconv.FormatInt(i, 10))
			return nil
		}
		var u uint64
		if err := n.Decode(&u); err != nil {
			return fmt.Errorf("integer %.40q (line %d)", n.Value, n.Line)
		}
		buf.WriteString(strconv.FormatUint(u, 10))
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return fmt.Errorf("boolean %.20q (line %d)", n.Value, n.Line)
		}
		buf.WriteString(strconv.FormatBool(b))
	case "!!null":
		buf.WriteString("null")
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return fmt.Errorf("number %.40q (line %d)", n.Value, n.Line)
		}
		buf.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	default:
		return fmt.Errorf("tag %.20q (line %d)", n.Tag, n.Line)
	}
	return nil
}

func writeString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s) // a string always marshals
	buf.Write(b)
}
