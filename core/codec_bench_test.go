package core

import (
	"bytes"
	"net/http"
	"testing"
	"time"
)

func benchEntry(size int) *Entry {
	now := time.Now()
	return &Entry{
		Method: "GET", URL: "http://example.test/item?a=1&b=2", Status: 200, Proto: "HTTP/1.1",
		Header: http.Header{
			"Content-Type": {"application/json"}, "Content-Length": {"1024"}, "Cache-Control": {"max-age=3600"},
			"Etag": {`"v1"`}, "Date": {now.UTC().Format(http.TimeFormat)},
		},
		Body: bytes.Repeat([]byte("x"), size), RequestTime: now, ResponseTime: now, Created: now,
		Expires: now.Add(time.Hour), Deletion: now.Add(25 * time.Hour), StaleWhileRevalidate: -1, StaleIfError: -1,
	}
}

// BenchmarkCodec measures the default codec on a typical 1 KiB entry.
func BenchmarkCodec(b *testing.B) {
	e := benchEntry(1 << 10)
	data, err := BinaryCodec{}.Encode(e)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := (BinaryCodec{}).Encode(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decode", func(b *testing.B) {
		b.ReportAllocs()
		var out Entry
		for b.Loop() {
			if err := (BinaryCodec{}).Decode(data, &out); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(data)), "encoded-bytes")
	})
}
