package redisstore

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

func TestFormatRoundTrip(t *testing.T) {
	now := time.Unix(1_700_000_000, 123456789)
	tests := []struct {
		name  string
		value []byte
		meta  core.Meta
	}{
		{"zero meta, empty value", nil, core.Meta{}},
		{"full meta", []byte("body"), core.Meta{Expires: now.Add(time.Hour), Created: now, URL: "https://example.com/a?b=c", Method: "GET", Status: 200, Size: 4}},
		{"variant index", []byte{0, 1, 2}, core.Meta{Expires: now, URL: "https://example.com/", Method: "HEAD", Status: 0}},
		{"long URL", bytes.Repeat([]byte("v"), 3000), core.Meta{URL: "https://example.com/" + strings.Repeat("p", 2000), Method: "POST", Status: 404}},
		{"binary method and URL", []byte("x"), core.Meta{URL: "\x00\xff", Method: "\x01"}},
		{"before 1970", []byte("x"), core.Meta{Created: time.Unix(-5, 0), Expires: time.Unix(-1, 7)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := encode(tc.value, tc.meta)
			at, hdr, needed, err := bodyOffset(data)
			if err != nil || needed != 0 {
				t.Fatalf("bodyOffset: %d %v", needed, err)
			}
			if !bytes.Equal(data[at:], tc.value) {
				t.Errorf("value = %q, want %q", data[at:], tc.value)
			}
			exp, err := expiresAt(hdr)
			if err != nil || exp != unixNano(tc.meta.Expires) {
				t.Errorf("expiresAt = %d, %v; want %d", exp, err, unixNano(tc.meta.Expires))
			}
			h, needed, err := decodeHeader(data)
			if err != nil || needed != 0 {
				t.Fatalf("decodeHeader: %d %v", needed, err)
			}
			want := tc.meta
			want.Size = int64(len(tc.value))
			got := h.meta
			if !got.Expires.Equal(want.Expires) || !got.Created.Equal(want.Created) || got.Expires.IsZero() != want.Expires.IsZero() ||
				got.URL != want.URL || got.Method != want.Method || got.Status != want.Status || got.Size != want.Size {
				t.Errorf("meta = %+v, want %+v", got, want)
			}
			if h.bodyAt != at {
				t.Errorf("bodyAt %d, want %d", h.bodyAt, at)
			}
			// Every prefix of the header is "need more" (or corrupt when it
			// is too short to tell), never a wrong header.
			for n := 0; n < at; n++ {
				_, needed, err := decodeHeader(data[:n])
				if err == nil && (needed <= n || needed > at+10) {
					t.Fatalf("decodeHeader of %d of %d header bytes: needed %d", n, at, needed)
				}
			}
		})
	}
}

func TestFormatCorrupt(t *testing.T) {
	for _, data := range []string{"", "\x01", "\x02\x00", "x", "\x01\x05abc", "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", "\x01\x03\x00\x00\x00", "\x01\x06\x00\x00\x00\x00\x09x"} {
		_, needed, err := decodeHeader([]byte(data))
		if !errors.Is(err, errCorrupt) && needed == 0 {
			t.Errorf("decodeHeader(%q) = needed %d, %v; want errCorrupt or a need for more bytes", data, needed, err)
		}
	}
}

func TestGlobEscape(t *testing.T) {
	for in, want := range map[string]string{
		"hoard:":   "hoard:",
		"a*b?c":    `a\*b\?c`,
		"[x]":      `\[x\]`,
		`back\`:    `back\\`,
		"{tag}:k^": "{tag}:k^",
	} {
		if got := globEscape(in); got != want {
			t.Errorf("globEscape(%q) = %q, want %q", in, got, want)
		}
	}
}
