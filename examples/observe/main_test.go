package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// The example runs to the end and prints the figures its requests imply.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, false); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"GET  /fresh    hoard; fwd=miss; stored",
		"GET  /fresh    hoard; hit",
		"GET  /validate hoard; fwd=stale; fwd-status=304",
		"POST /fresh    hoard; fwd=method",
		`hoard_requests_total{background="false",cache_status="hit",method="GET"} 2`,
		`hoard_requests_total{background="false",cache_status="stored",method="GET"} 2`,
		`hoard_requests_total{background="false",cache_status="revalidated",method="GET"} 1`,
		`hoard_requests_total{background="false",cache_status="bypass",method="POST"} 1`,
		`hoard_invalidations_total{store="memory"} 2`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if !regexp.MustCompile(`hoard_store_duration_seconds_count\{error_type="",operation="get",store="memory"\} 5`).MatchString(got) {
		t.Errorf("no get count:\n%s", got)
	}
	if !regexp.MustCompile(`hoard_served_from_cache_bytes_total\{store="memory"\} \d+`).MatchString(got) {
		t.Errorf("no bytes served:\n%s", got)
	}
	if strings.Contains(got, "_bucket{") {
		t.Error("buckets printed without -all")
	}
}
