package rfc9111

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRange(t *testing.T) {
	cases := []struct {
		name    string
		lines   []string
		size    int64
		verdict RangeVerdict
		r       ByteRange
	}{
		{"no Range", nil, 100, RangeIgnore, ByteRange{}},
		{"first bytes", []string{"bytes=0-9"}, 100, RangeSatisfiable, ByteRange{0, 9}},
		{"middle", []string{"bytes=10-19"}, 100, RangeSatisfiable, ByteRange{10, 19}},
		{"open end", []string{"bytes=90-"}, 100, RangeSatisfiable, ByteRange{90, 99}},
		{"last-pos past the end is clamped", []string{"bytes=90-1000"}, 100, RangeSatisfiable, ByteRange{90, 99}},
		{"suffix", []string{"bytes=-10"}, 100, RangeSatisfiable, ByteRange{90, 99}},
		{"suffix longer than the body is all of it", []string{"bytes=-1000"}, 100, RangeSatisfiable, ByteRange{0, 99}},
		{"one byte", []string{"bytes=5-5"}, 100, RangeSatisfiable, ByteRange{5, 5}},
		{"unit is case-insensitive", []string{"Bytes=0-0"}, 100, RangeSatisfiable, ByteRange{0, 0}},
		{"white space around the spec", []string{"bytes= 3-4 "}, 100, RangeSatisfiable, ByteRange{3, 4}},
		{"empty list elements", []string{"bytes=,3-4,"}, 100, RangeSatisfiable, ByteRange{3, 4}},
		{"huge last-pos saturates", []string{"bytes=1-99999999999999999999999999"}, 100, RangeSatisfiable, ByteRange{1, 99}},
		{"first-pos at the end", []string{"bytes=100-"}, 100, RangeUnsatisfiable, ByteRange{}},
		{"huge first-pos", []string{"bytes=99999999999999999999999999-"}, 100, RangeUnsatisfiable, ByteRange{}},
		{"zero suffix", []string{"bytes=-0"}, 100, RangeUnsatisfiable, ByteRange{}},
		{"none of several satisfiable", []string{"bytes=200-300,-0"}, 100, RangeUnsatisfiable, ByteRange{}},
		{"several ranges", []string{"bytes=0-0,-1"}, 100, RangeIgnore, ByteRange{}},
		{"several ranges, one satisfiable", []string{"bytes=0-0,500-"}, 100, RangeIgnore, ByteRange{}},
		{"last before first", []string{"bytes=5-4"}, 100, RangeIgnore, ByteRange{}},
		{"one invalid spec spoils the set", []string{"bytes=0-1,x"}, 100, RangeIgnore, ByteRange{}},
		{"other unit", []string{"items=0-1"}, 100, RangeIgnore, ByteRange{}},
		{"no equals", []string{"bytes 0-1"}, 100, RangeIgnore, ByteRange{}},
		{"no dash", []string{"bytes=5"}, 100, RangeIgnore, ByteRange{}},
		{"sign", []string{"bytes=+1-2"}, 100, RangeIgnore, ByteRange{}},
		{"negative suffix", []string{"bytes=--1"}, 100, RangeIgnore, ByteRange{}},
		{"empty set", []string{"bytes="}, 100, RangeIgnore, ByteRange{}},
		{"two field lines", []string{"bytes=0-1", "bytes=2-3"}, 100, RangeIgnore, ByteRange{}},
		{"empty representation", []string{"bytes=-5"}, 0, RangeIgnore, ByteRange{}},
		{"empty representation, unsatisfiable", []string{"bytes=0-"}, 0, RangeUnsatisfiable, ByteRange{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.lines != nil {
				h["Range"] = tc.lines
			}
			r, v := ParseRange(h, tc.size)
			if v != tc.verdict || r != tc.r {
				t.Errorf("ParseRange(%q, %d) = %v, %v; want %v, %v", tc.lines, tc.size, r, v, tc.r, tc.verdict)
			}
			if v == RangeSatisfiable && r.Len() != tc.r.Last-tc.r.First+1 {
				t.Errorf("Len = %d", r.Len())
			}
		})
	}
}

func TestIfRange(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	lm := now.Add(-time.Hour).Format(http.TimeFormat)
	date := now.Format(http.TimeFormat)
	cases := []struct {
		name   string
		ifr    []string
		stored http.Header
		want   bool
	}{
		{"absent", nil, http.Header{}, true},
		{"strong tag matches", []string{`"a"`}, http.Header{"Etag": {`"a"`}}, true},
		{"other tag", []string{`"b"`}, http.Header{"Etag": {`"a"`}}, false},
		{"weak stored tag never matches", []string{`"a"`}, http.Header{"Etag": {`W/"a"`}}, false},
		{"weak If-Range tag never matches", []string{`W/"a"`}, http.Header{"Etag": {`"a"`}}, false},
		{"tag, none stored", []string{`"a"`}, http.Header{}, false},
		{"date equal to a strong Last-Modified", []string{lm}, http.Header{"Last-Modified": {lm}, "Date": {date}}, true},
		{"date, Last-Modified within a second of Date is weak", []string{date}, http.Header{"Last-Modified": {date}, "Date": {date}}, false},
		{"date, no stored Date", []string{lm}, http.Header{"Last-Modified": {lm}}, false},
		{"date differs", []string{now.Add(-2 * time.Hour).Format(http.TimeFormat)}, http.Header{"Last-Modified": {lm}, "Date": {date}}, false},
		{"date, only an ETag stored", []string{lm}, http.Header{"Etag": {`"a"`}, "Date": {date}}, false},
		{"neither a tag nor a date", []string{"yesterday"}, http.Header{"Etag": {`"a"`}, "Last-Modified": {lm}, "Date": {date}}, false},
		{"two lines", []string{`"a"`, `"a"`}, http.Header{"Etag": {`"a"`}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Range": {"bytes=0-1"}}
			if tc.ifr != nil {
				h["If-Range"] = tc.ifr
			}
			if got := IfRange(h, tc.stored, now); got != tc.want {
				t.Errorf("IfRange(%q, %v) = %v, want %v", tc.ifr, tc.stored, got, tc.want)
			}
		})
	}
}
