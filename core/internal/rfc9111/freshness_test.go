package rfc9111

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// t0 is the fixed "now" of these tests: the response time.
var t0 = time.Date(2024, time.March, 4, 12, 0, 0, 0, time.UTC)

func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

// TestLifetime follows the freshness-* cases of http-tests/cache-tests and
// RFC 9111 §4.2.1, §4.2.2 and §5.3.
func TestLifetime(t *testing.T) {
	const capDay = 24 * time.Hour
	tests := []struct {
		name         string
		h            http.Header
		status       int
		shared       bool
		cap          time.Duration
		wantLifetime time.Duration
		wantExplicit bool
	}{
		{
			name:         "nothing",
			h:            http.Header{},
			status:       200,
			wantLifetime: 0, wantExplicit: false,
		},
		{
			name:         "max-age",
			h:            http.Header{"Cache-Control": {"max-age=3600"}},
			status:       200,
			wantLifetime: time.Hour, wantExplicit: true,
		},
		{
			name:         "s-maxage used by shared cache",
			h:            http.Header{"Cache-Control": {"max-age=10, s-maxage=100"}},
			status:       200,
			shared:       true,
			wantLifetime: 100 * time.Second, wantExplicit: true,
		},
		{
			name:         "s-maxage ignored by private cache",
			h:            http.Header{"Cache-Control": {"max-age=10, s-maxage=100"}},
			status:       200,
			wantLifetime: 10 * time.Second, wantExplicit: true,
		},
		{
			name:         "s-maxage zero beats max-age in shared cache",
			h:            http.Header{"Cache-Control": {"s-maxage=0, max-age=100"}},
			status:       200,
			shared:       true,
			wantLifetime: 0, wantExplicit: true,
		},
		{
			name:         "s-maxage alone in private cache is no explicit lifetime",
			h:            http.Header{"Cache-Control": {"s-maxage=100"}},
			status:       200,
			wantLifetime: 0, wantExplicit: false,
		},
		{
			name: "s-maxage beats Expires in shared cache",
			h: http.Header{"Cache-Control": {"s-maxage=5"}, "Date": {httpDate(t0)},
				"Expires": {httpDate(t0.Add(time.Hour))}},
			status:       200,
			shared:       true,
			wantLifetime: 5 * time.Second, wantExplicit: true,
		},
		{
			name: "max-age beats Expires",
			h: http.Header{"Cache-Control": {"max-age=10"}, "Date": {httpDate(t0)},
				"Expires": {httpDate(t0.Add(time.Hour))}},
			status:       200,
			wantLifetime: 10 * time.Second, wantExplicit: true,
		},
		{
			name: "max-age beats Expires in the past",
			h: http.Header{"Cache-Control": {"max-age=10"}, "Date": {httpDate(t0)},
				"Expires": {httpDate(t0.Add(-time.Hour))}},
			status:       200,
			wantLifetime: 10 * time.Second, wantExplicit: true,
		},
		{
			name: "max-age=0 is an explicit zero even with an old Last-Modified",
			h: http.Header{"Cache-Control": {"max-age=0"}, "Date": {httpDate(t0)},
				"Last-Modified": {httpDate(t0.Add(-365 * 24 * time.Hour))}},
			status:       200,
			cap:          capDay,
			wantLifetime: 0, wantExplicit: true,
		},
		{
			name:         "invalid max-age is an explicit zero",
			h:            http.Header{"Cache-Control": {"max-age=abc"}, "Last-Modified": {httpDate(t0.Add(-100 * time.Hour))}},
			status:       200,
			cap:          capDay,
			wantLifetime: 0, wantExplicit: true,
		},
		{
			name:         "huge max-age is 2^31 seconds",
			h:            http.Header{"Cache-Control": {"max-age=99999999999999999999"}},
			status:       200,
			wantLifetime: 2147483648 * time.Second, wantExplicit: true,
		},
		{
			name:         "Expires minus Date",
			h:            http.Header{"Date": {httpDate(t0)}, "Expires": {httpDate(t0.Add(time.Hour))}},
			status:       200,
			wantLifetime: time.Hour, wantExplicit: true,
		},
		{
			name: "Expires minus Date, not minus response time",
			h: http.Header{"Date": {httpDate(t0.Add(-10 * time.Minute))},
				"Expires": {httpDate(t0.Add(time.Hour))}},
			status:       200,
			wantLifetime: 70 * time.Minute, wantExplicit: true,
		},
		{
			name:         "Expires without Date uses response time",
			h:            http.Header{"Expires": {httpDate(t0.Add(30 * time.Minute))}},
			status:       200,
			wantLifetime: 30 * time.Minute, wantExplicit: true,
		},
		{
			name:         "Expires with invalid Date uses response time",
			h:            http.Header{"Date": {"yesterday"}, "Expires": {httpDate(t0.Add(30 * time.Minute))}},
			status:       200,
			wantLifetime: 30 * time.Minute, wantExplicit: true,
		},
		{
			name:         "Expires in RFC 850 format",
			h:            http.Header{"Date": {httpDate(t0)}, "Expires": {t0.Add(time.Hour).Format("Monday, 02-Jan-06 15:04:05 GMT")}},
			status:       200,
			wantLifetime: time.Hour, wantExplicit: true,
		},
		{
			// time.RFC850 writes the zone as UTC, which is no HTTP-date
			// (RFC 9110 §5.6.7: GMT): already expired (§5.3).
			name:         "Expires in RFC 850 format with UTC",
			h:            http.Header{"Date": {httpDate(t0)}, "Expires": {t0.Add(time.Hour).Format(time.RFC850)}},
			status:       200,
			wantLifetime: 0, wantExplicit: true,
		},
		{
			// http.ParseTime accepts this; the grammar does not (one SP).
			name:         "Expires with a double space",
			h:            http.Header{"Date": {httpDate(t0)}, "Expires": {strings.Replace(httpDate(t0.Add(time.Hour)), " ", "  ", 1)}},
			status:       200,
			wantLifetime: 0, wantExplicit: true,
		},
		{
			name:         "Last-Modified that is no HTTP-date gives no heuristic",
			h:            http.Header{"Date": {httpDate(t0)}, "Last-Modified": {t0.Add(-100 * time.Hour).Format(time.RFC1123)}},
			status:       200,
			wantLifetime: 0, wantExplicit: false,
		},
		{
			name:         "Expires in asctime format",
			h:            http.Header{"Date": {httpDate(t0)}, "Expires": {t0.Add(time.Hour).Format(time.ANSIC)}},
			status:       200,
			wantLifetime: time.Hour, wantExplicit: true,
		},
		{
			name:         "Expires in the past is an explicit zero",
			h:            http.Header{"Date": {httpDate(t0)}, "Expires": {httpDate(t0.Add(-time.Hour))}},
			status:       200,
			wantLifetime: 0, wantExplicit: true,
		},
		{
			name:         "Expires equal to Date is an explicit zero",
			h:            http.Header{"Date": {httpDate(t0)}, "Expires": {httpDate(t0)}},
			status:       200,
			wantLifetime: 0, wantExplicit: true,
		},
		{
			name:         "invalid Expires 0 is an explicit zero",
			h:            http.Header{"Date": {httpDate(t0)}, "Expires": {"0"}},
			status:       200,
			wantLifetime: 0, wantExplicit: true,
		},
		{
			name:         "invalid Expires -1 is an explicit zero",
			h:            http.Header{"Date": {httpDate(t0)}, "Expires": {"-1"}},
			status:       200,
			wantLifetime: 0, wantExplicit: true,
		},
		{
			name:         "empty Expires is an explicit zero",
			h:            http.Header{"Expires": {""}},
			status:       200,
			wantLifetime: 0, wantExplicit: true,
		},
		{
			name: "invalid Expires beats the heuristic",
			h: http.Header{"Date": {httpDate(t0)}, "Expires": {"never"},
				"Last-Modified": {httpDate(t0.Add(-100 * time.Hour))}},
			status:       200,
			cap:          capDay,
			wantLifetime: 0, wantExplicit: true,
		},
		{
			name: "duplicate identical Expires",
			h: http.Header{"Date": {httpDate(t0)},
				"Expires": {httpDate(t0.Add(time.Hour)), httpDate(t0.Add(time.Hour))}},
			status:       200,
			wantLifetime: time.Hour, wantExplicit: true,
		},
		{
			name: "duplicate differing Expires is an explicit zero",
			h: http.Header{"Date": {httpDate(t0)},
				"Expires": {httpDate(t0.Add(time.Hour)), httpDate(t0.Add(2 * time.Hour))}},
			status:       200,
			wantLifetime: 0, wantExplicit: true,
		},
		{
			name:         "heuristic 10% of Date minus Last-Modified",
			h:            http.Header{"Date": {httpDate(t0)}, "Last-Modified": {httpDate(t0.Add(-10 * time.Hour))}},
			status:       200,
			cap:          capDay,
			wantLifetime: time.Hour, wantExplicit: false,
		},
		{
			name:         "heuristic uses Date, not response time",
			h:            http.Header{"Date": {httpDate(t0.Add(-5 * time.Hour))}, "Last-Modified": {httpDate(t0.Add(-15 * time.Hour))}},
			status:       200,
			cap:          capDay,
			wantLifetime: time.Hour, wantExplicit: false,
		},
		{
			name:         "heuristic without Date uses response time",
			h:            http.Header{"Last-Modified": {httpDate(t0.Add(-20 * time.Hour))}},
			status:       200,
			cap:          capDay,
			wantLifetime: 2 * time.Hour, wantExplicit: false,
		},
		{
			name:         "heuristic truncated to whole seconds",
			h:            http.Header{"Date": {httpDate(t0)}, "Last-Modified": {httpDate(t0.Add(-15 * time.Second))}},
			status:       200,
			cap:          capDay,
			wantLifetime: time.Second, wantExplicit: false,
		},
		{
			name:         "heuristic for 404",
			h:            http.Header{"Date": {httpDate(t0)}, "Last-Modified": {httpDate(t0.Add(-10 * time.Hour))}},
			status:       404,
			cap:          capDay,
			wantLifetime: time.Hour, wantExplicit: false,
		},
		{
			name:         "heuristic for 301",
			h:            http.Header{"Date": {httpDate(t0)}, "Last-Modified": {httpDate(t0.Add(-10 * time.Hour))}},
			status:       301,
			cap:          capDay,
			wantLifetime: time.Hour, wantExplicit: false,
		},
		{
			name:         "no heuristic for 302",
			h:            http.Header{"Date": {httpDate(t0)}, "Last-Modified": {httpDate(t0.Add(-10 * time.Hour))}},
			status:       302,
			cap:          capDay,
			wantLifetime: 0, wantExplicit: false,
		},
		{
			name:         "no heuristic for 500",
			h:            http.Header{"Date": {httpDate(t0)}, "Last-Modified": {httpDate(t0.Add(-10 * time.Hour))}},
			status:       500,
			cap:          capDay,
			wantLifetime: 0, wantExplicit: false,
		},
		{
			name: "heuristic for 302 marked public",
			h: http.Header{"Cache-Control": {"public"}, "Date": {httpDate(t0)},
				"Last-Modified": {httpDate(t0.Add(-10 * time.Hour))}},
			status:       302,
			cap:          capDay,
			wantLifetime: time.Hour, wantExplicit: false,
		},
		{
			name:         "heuristic capped",
			h:            http.Header{"Date": {httpDate(t0)}, "Last-Modified": {httpDate(t0.Add(-100 * 24 * time.Hour))}},
			status:       200,
			cap:          capDay,
			wantLifetime: capDay, wantExplicit: false,
		},
		{
			name:         "heuristic under a small cap",
			h:            http.Header{"Date": {httpDate(t0)}, "Last-Modified": {httpDate(t0.Add(-10 * time.Hour))}},
			status:       200,
			cap:          time.Minute,
			wantLifetime: time.Minute, wantExplicit: false,
		},
		{
			name:         "zero cap means no cap",
			h:            http.Header{"Date": {httpDate(t0)}, "Last-Modified": {httpDate(t0.Add(-100 * 24 * time.Hour))}},
			status:       200,
			cap:          0,
			wantLifetime: 10 * 24 * time.Hour, wantExplicit: false,
		},
		{
			name:         "Last-Modified in the future",
			h:            http.Header{"Date": {httpDate(t0)}, "Last-Modified": {httpDate(t0.Add(time.Hour))}},
			status:       200,
			cap:          capDay,
			wantLifetime: 0, wantExplicit: false,
		},
		{
			name:         "Last-Modified equal to Date",
			h:            http.Header{"Date": {httpDate(t0)}, "Last-Modified": {httpDate(t0)}},
			status:       200,
			cap:          capDay,
			wantLifetime: 0, wantExplicit: false,
		},
		{
			name:         "invalid Last-Modified",
			h:            http.Header{"Date": {httpDate(t0)}, "Last-Modified": {"last week"}},
			status:       200,
			cap:          capDay,
			wantLifetime: 0, wantExplicit: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ParseDirectives(tt.h)
			got, explicit := Lifetime(tt.h, d, tt.status, tt.shared, t0, tt.cap)
			if got != tt.wantLifetime || explicit != tt.wantExplicit {
				t.Errorf("Lifetime(%v, status %d, shared %v): got (%v, %v), want (%v, %v)",
					tt.h, tt.status, tt.shared, got, explicit, tt.wantLifetime, tt.wantExplicit)
			}
		})
	}
}

func TestHeuristicallyCacheable(t *testing.T) {
	// RFC 9110 §15.1: 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414 and 501.
	tests := []struct {
		name   string
		status int
		want   bool
	}{
		{name: "100", status: 100, want: false},
		{name: "200", status: 200, want: true},
		{name: "201", status: 201, want: false},
		{name: "202", status: 202, want: false},
		{name: "203", status: 203, want: true},
		{name: "204", status: 204, want: true},
		{name: "206", status: 206, want: true},
		{name: "300", status: 300, want: true},
		{name: "301", status: 301, want: true},
		{name: "302", status: 302, want: false},
		{name: "303", status: 303, want: false},
		{name: "304", status: 304, want: false},
		{name: "307", status: 307, want: false},
		{name: "308", status: 308, want: true},
		{name: "400", status: 400, want: false},
		{name: "403", status: 403, want: false},
		{name: "404", status: 404, want: true},
		{name: "405", status: 405, want: true},
		{name: "410", status: 410, want: true},
		{name: "414", status: 414, want: true},
		{name: "429", status: 429, want: false},
		{name: "500", status: 500, want: false},
		{name: "501", status: 501, want: true},
		{name: "502", status: 502, want: false},
		{name: "503", status: 503, want: false},
		{name: "599", status: 599, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HeuristicallyCacheable(tt.status); got != tt.want {
				t.Errorf("HeuristicallyCacheable(%d): got %v, want %v", tt.status, got, tt.want)
			}
		})
	}
}

func TestDateOr(t *testing.T) {
	fallback := t0.Add(time.Minute)
	tests := []struct {
		name string
		h    http.Header
		want time.Time
	}{
		{name: "missing", h: http.Header{}, want: fallback},
		{name: "valid", h: http.Header{"Date": {httpDate(t0)}}, want: t0},
		{name: "invalid", h: http.Header{"Date": {"soon"}}, want: fallback},
		{name: "empty", h: http.Header{"Date": {""}}, want: fallback},
		{name: "first line used", h: http.Header{"Date": {httpDate(t0), httpDate(t0.Add(time.Hour))}}, want: t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DateOr(tt.h, fallback); !got.Equal(tt.want) {
				t.Errorf("DateOr(%v): got %v, want %v", tt.h, got, tt.want)
			}
		})
	}
}
