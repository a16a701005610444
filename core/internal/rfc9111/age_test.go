package rfc9111

import (
	"net/http"
	"testing"
	"time"
)

// TestCorrectedInitialAge follows the age-parse-* cases of
// http-tests/cache-tests and RFC 9111 §4.2.3 and §5.1.
func TestCorrectedInitialAge(t *testing.T) {
	tests := []struct {
		name        string
		h           http.Header
		requestTime time.Time
		want        time.Duration
	}{
		{
			name:        "nothing",
			h:           http.Header{},
			requestTime: t0,
			want:        0,
		},
		{
			name:        "Age",
			h:           http.Header{"Age": {"10"}},
			requestTime: t0,
			want:        10 * time.Second,
		},
		{
			name:        "Age zero",
			h:           http.Header{"Age": {"0"}},
			requestTime: t0,
			want:        0,
		},
		{
			name:        "Age with surrounding whitespace",
			h:           http.Header{"Age": {" 10\t"}},
			requestTime: t0,
			want:        10 * time.Second,
		},
		{
			name:        "Age letters ignored",
			h:           http.Header{"Age": {"abc"}},
			requestTime: t0,
			want:        0,
		},
		{
			name:        "Age negative ignored",
			h:           http.Header{"Age": {"-5"}},
			requestTime: t0,
			want:        0,
		},
		{
			name:        "Age fraction ignored",
			h:           http.Header{"Age": {"1.5"}},
			requestTime: t0,
			want:        0,
		},
		{
			name:        "Age with trailing garbage ignored",
			h:           http.Header{"Age": {"10 s"}},
			requestTime: t0,
			want:        0,
		},
		{
			// §5.1: a list-valued Age uses its first member.
			name:        "Age list uses its first member",
			h:           http.Header{"Age": {"10, 20"}},
			requestTime: t0,
			want:        10 * time.Second,
		},
		{
			name:        "Age list without spaces",
			h:           http.Header{"Age": {"10,20"}},
			requestTime: t0,
			want:        10 * time.Second,
		},
		{
			name:        "Age list with an empty first element",
			h:           http.Header{"Age": {" , 10, 20"}},
			requestTime: t0,
			want:        10 * time.Second,
		},
		{
			name:        "Age list whose first member is invalid is ignored",
			h:           http.Header{"Age": {"x, 10"}},
			requestTime: t0,
			want:        0,
		},
		{
			name:        "Age list whose first member is negative is ignored",
			h:           http.Header{"Age": {"-1, 10"}},
			requestTime: t0,
			want:        0,
		},
		{
			name:        "empty first Age line, member on the next",
			h:           http.Header{"Age": {"", "15"}},
			requestTime: t0,
			want:        15 * time.Second,
		},
		{
			name:        "Age with a quoted value ignored",
			h:           http.Header{"Age": {`"10"`}},
			requestTime: t0,
			want:        0,
		},
		{
			name:        "Age empty ignored",
			h:           http.Header{"Age": {""}},
			requestTime: t0,
			want:        0,
		},
		{
			name:        "first Age line used",
			h:           http.Header{"Age": {"10", "20"}},
			requestTime: t0,
			want:        10 * time.Second,
		},
		{
			name:        "huge Age is 2^31 seconds",
			h:           http.Header{"Age": {"99999999999999999999999"}},
			requestTime: t0,
			want:        2147483648 * time.Second,
		},
		{
			name:        "response delay alone",
			h:           http.Header{},
			requestTime: t0.Add(-2 * time.Second),
			want:        2 * time.Second,
		},
		{
			name:        "Age added to response delay",
			h:           http.Header{"Age": {"10"}},
			requestTime: t0.Add(-2 * time.Second),
			want:        12 * time.Second,
		},
		{
			name:        "invalid Age ignored, delay kept",
			h:           http.Header{"Age": {"x"}},
			requestTime: t0.Add(-2 * time.Second),
			want:        2 * time.Second,
		},
		{
			name:        "negative delay clamped",
			h:           http.Header{"Age": {"10"}},
			requestTime: t0.Add(5 * time.Second),
			want:        10 * time.Second,
		},
		{
			name:        "apparent age from Date",
			h:           http.Header{"Date": {httpDate(t0.Add(-30 * time.Second))}},
			requestTime: t0,
			want:        30 * time.Second,
		},
		{
			name:        "apparent age wins over smaller corrected age",
			h:           http.Header{"Date": {httpDate(t0.Add(-30 * time.Second))}, "Age": {"10"}},
			requestTime: t0.Add(-2 * time.Second),
			want:        30 * time.Second,
		},
		{
			name:        "corrected age wins over smaller apparent age",
			h:           http.Header{"Date": {httpDate(t0.Add(-5 * time.Second))}, "Age": {"10"}},
			requestTime: t0.Add(-2 * time.Second),
			want:        12 * time.Second,
		},
		{
			name:        "negative apparent age clamped",
			h:           http.Header{"Date": {httpDate(t0.Add(time.Hour))}},
			requestTime: t0,
			want:        0,
		},
		{
			name:        "negative apparent age clamped, Age kept",
			h:           http.Header{"Date": {httpDate(t0.Add(time.Hour))}, "Age": {"7"}},
			requestTime: t0,
			want:        7 * time.Second,
		},
		{
			name:        "invalid Date gives no apparent age",
			h:           http.Header{"Date": {"a while ago"}},
			requestTime: t0,
			want:        0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CorrectedInitialAge(tt.h, tt.requestTime, t0); got != tt.want {
				t.Errorf("CorrectedInitialAge(%v, request %v, response %v): got %v, want %v",
					tt.h, tt.requestTime, t0, got, tt.want)
			}
		})
	}
}

func TestCurrentAge(t *testing.T) {
	tests := []struct {
		name    string
		initial time.Duration
		now     time.Time
		want    time.Duration
	}{
		{name: "just received", initial: 0, now: t0, want: 0},
		{name: "initial age only", initial: 12 * time.Second, now: t0, want: 12 * time.Second},
		{name: "resident time added", initial: 12 * time.Second, now: t0.Add(time.Minute), want: 72 * time.Second},
		{name: "resident time to the nanosecond", initial: 0, now: t0.Add(1500 * time.Millisecond), want: 1500 * time.Millisecond},
		{name: "clock behind response time clamped", initial: 5 * time.Second, now: t0.Add(-time.Hour), want: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CurrentAge(tt.initial, t0, tt.now); got != tt.want {
				t.Errorf("CurrentAge(%v, %v, %v): got %v, want %v", tt.initial, t0, tt.now, got, tt.want)
			}
		})
	}
}
