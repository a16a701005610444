package rfc9111

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestParseHTTPDate follows RFC 9110 §5.6.7: the three formats, their exact
// spacing and capitalisation, calendar validity, and the 50-year rule for
// two-digit years.
func TestParseHTTPDate(t *testing.T) {
	now := time.Date(2024, time.March, 4, 12, 0, 0, 0, time.UTC)
	at := func(y int, m time.Month, d, h, mi, s int) time.Time { return time.Date(y, m, d, h, mi, s, 0, time.UTC) }
	nov6 := at(1994, time.November, 6, 8, 49, 37)
	tests := []struct {
		in   string
		want time.Time // zero: invalid
	}{
		// The three examples of §5.6.7.
		{"Sun, 06 Nov 1994 08:49:37 GMT", nov6},
		{"Sunday, 06-Nov-94 08:49:37 GMT", nov6},
		{"Sun Nov  6 08:49:37 1994", nov6},
		{"Sun Nov 06 08:49:37 1994", nov6}, // date3's 2DIGIT form
		// OWS around the field value is not part of it.
		{" Sun, 06 Nov 1994 08:49:37 GMT\t", nov6},
		// Every day name, on a week of dates.
		{"Mon, 04 Mar 2024 12:00:00 GMT", at(2024, time.March, 4, 12, 0, 0)},
		{"Tue, 05 Mar 2024 12:00:00 GMT", at(2024, time.March, 5, 12, 0, 0)},
		{"Wed, 06 Mar 2024 12:00:00 GMT", at(2024, time.March, 6, 12, 0, 0)},
		{"Thu, 07 Mar 2024 12:00:00 GMT", at(2024, time.March, 7, 12, 0, 0)},
		{"Fri, 08 Mar 2024 12:00:00 GMT", at(2024, time.March, 8, 12, 0, 0)},
		{"Sat, 09 Mar 2024 12:00:00 GMT", at(2024, time.March, 9, 12, 0, 0)},
		{"Sun, 10 Mar 2024 12:00:00 GMT", at(2024, time.March, 10, 12, 0, 0)},
		{"Wednesday, 06-Mar-24 12:00:00 GMT", at(2024, time.March, 6, 12, 0, 0)},
		{"Saturday, 09-Mar-24 12:00:00 GMT", at(2024, time.March, 9, 12, 0, 0)},
		// Every month.
		{"Mon, 01 Jan 2024 00:00:00 GMT", at(2024, time.January, 1, 0, 0, 0)},
		{"Thu, 01 Feb 2024 00:00:00 GMT", at(2024, time.February, 1, 0, 0, 0)},
		{"Mon, 01 Apr 2024 00:00:00 GMT", at(2024, time.April, 1, 0, 0, 0)},
		{"Wed, 01 May 2024 00:00:00 GMT", at(2024, time.May, 1, 0, 0, 0)},
		{"Sat, 01 Jun 2024 00:00:00 GMT", at(2024, time.June, 1, 0, 0, 0)},
		{"Mon, 01 Jul 2024 00:00:00 GMT", at(2024, time.July, 1, 0, 0, 0)},
		{"Thu, 01 Aug 2024 00:00:00 GMT", at(2024, time.August, 1, 0, 0, 0)},
		{"Sun, 01 Sep 2024 00:00:00 GMT", at(2024, time.September, 1, 0, 0, 0)},
		{"Tue, 01 Oct 2024 00:00:00 GMT", at(2024, time.October, 1, 0, 0, 0)},
		{"Fri, 01 Nov 2024 00:00:00 GMT", at(2024, time.November, 1, 0, 0, 0)},
		{"Sun, 01 Dec 2024 00:00:00 GMT", at(2024, time.December, 1, 0, 0, 0)},
		// Leap years: 2024 and 2000 have 29 Feb, 2023 and 1900 do not.
		{"Thu, 29 Feb 2024 23:59:59 GMT", at(2024, time.February, 29, 23, 59, 59)},
		{"Tue, 29 Feb 2000 00:00:00 GMT", at(2000, time.February, 29, 0, 0, 0)},
		{"Wed, 01 Mar 2023 00:00:00 GMT", at(2023, time.March, 1, 0, 0, 0)},
		{"Wed, 29 Feb 2023 00:00:00 GMT", time.Time{}},
		{"Thu, 29 Feb 1900 00:00:00 GMT", time.Time{}},
		{"Thu Feb 29 00:00:00 2024", at(2024, time.February, 29, 0, 0, 0)},
		{"Thursday, 29-Feb-24 00:00:00 GMT", at(2024, time.February, 29, 0, 0, 0)},
		{"Wednesday, 29-Feb-23 00:00:00 GMT", time.Time{}},
		// Days a month does not have.
		{"Wed, 31 Apr 2024 00:00:00 GMT", time.Time{}},
		{"Sat, 32 Mar 2024 00:00:00 GMT", time.Time{}},
		{"Sun, 00 Mar 2024 00:00:00 GMT", time.Time{}},
		{"Fri, 31 Jan 2024 00:00:00 GMT", time.Time{}}, // 31 Jan 2024 is a Wednesday
		{"Wed, 31 Jan 2024 00:00:00 GMT", at(2024, time.January, 31, 0, 0, 0)},
		// Time of day bounds; 23:59:60 is the leap second.
		{"Sat, 31 Dec 2016 23:59:60 GMT", at(2017, time.January, 1, 0, 0, 0)},
		{"Sat, 31 Dec 2016 22:59:60 GMT", time.Time{}},
		{"Mon, 04 Mar 2024 24:00:00 GMT", time.Time{}},
		{"Mon, 04 Mar 2024 12:60:00 GMT", time.Time{}},
		{"Mon, 04 Mar 2024 12:00:61 GMT", time.Time{}},
		// A day name that is not the date's weekday.
		{"Mon, 06 Nov 1994 08:49:37 GMT", time.Time{}},
		{"Monday, 06-Nov-94 08:49:37 GMT", time.Time{}},
		{"Mon Nov  6 08:49:37 1994", time.Time{}},
		// Capitalisation is exact (§5.6.7: case sensitive).
		{"sun, 06 Nov 1994 08:49:37 GMT", time.Time{}},
		{"SUN, 06 Nov 1994 08:49:37 GMT", time.Time{}},
		{"Sun, 06 nov 1994 08:49:37 GMT", time.Time{}},
		{"Sun, 06 NOV 1994 08:49:37 GMT", time.Time{}},
		{"Sun, 06 Nov 1994 08:49:37 gmt", time.Time{}},
		{"sunday, 06-Nov-94 08:49:37 GMT", time.Time{}},
		// GMT only: no other zone, no offset, no UTC.
		{"Sun, 06 Nov 1994 08:49:37 UTC", time.Time{}},
		{"Sun, 06 Nov 1994 08:49:37 PST", time.Time{}},
		{"Sun, 06 Nov 1994 08:49:37 +0000", time.Time{}},
		{"Sun, 06 Nov 1994 08:49:37", time.Time{}},
		{"Sunday, 06-Nov-94 08:49:37 UTC", time.Time{}},
		{"Sun Nov  6 08:49:37 1994 GMT", time.Time{}},
		// Spacing is exact: what http.ParseTime and time.Parse let through.
		{"Sun, 06 Nov 1994  08:49:37 GMT", time.Time{}},
		{"Sun,  06 Nov 1994 08:49:37 GMT", time.Time{}},
		{"Sun,06 Nov 1994 08:49:37 GMT", time.Time{}},
		{"Sun, 6 Nov 1994 08:49:37 GMT", time.Time{}},
		{"Sun, 06 Nov 1994 8:49:37 GMT", time.Time{}},
		{"Sun, 06 Nov 94 08:49:37 GMT", time.Time{}},
		{"Sun, 06 Nov 1994 08:49 GMT", time.Time{}},
		{"Sun Nov 6 08:49:37 1994", time.Time{}},
		{"Sun  Nov  6 08:49:37 1994", time.Time{}},
		{"Sun Nov  6  8:49:37 1994", time.Time{}},
		{"Sun Nov  6 08:49:37  1994", time.Time{}},
		{"Sunday, 6-Nov-94 08:49:37 GMT", time.Time{}},
		{"Sunday,06-Nov-94 08:49:37 GMT", time.Time{}},
		{"Sunday, 06-Nov-1994 08:49:37 GMT", time.Time{}},
		{"Sunday, 06 Nov 94 08:49:37 GMT", time.Time{}},
		// The short name in the RFC 850 form and the long one elsewhere.
		{"Sun, 06-Nov-94 08:49:37 GMT", time.Time{}},
		{"Sunday, 06 Nov 1994 08:49:37 GMT", time.Time{}},
		// Other formats.
		{"0", time.Time{}},
		{"-1", time.Time{}},
		{"", time.Time{}},
		{"1994-11-06T08:49:37Z", time.Time{}},
		{"Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT", time.Time{}},
		{"Sun, 06 Nov 1899 08:49:37 GMT", time.Time{}}, // before 1900 (RFC 5322 §3.3)
		{"Sun, 06 Nov 1994 08:49:3x GMT", time.Time{}},
		{"Sun, 0x Nov 1994 08:49:37 GMT", time.Time{}},
		{"Sun, 06 Nov 19x4 08:49:37 GMT", time.Time{}},
		{"Sun, 06 Nov 1994 08-49-37 GMT", time.Time{}},
		{"Sun, 06 Nov 1994 +8:49:37 GMT", time.Time{}},
		{"Sun Nov +6 08:49:37 1994", time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := ParseHTTPDate(tc.in, now)
			if ok != !tc.want.IsZero() || !got.Equal(tc.want) {
				t.Errorf("ParseHTTPDate(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, !tc.want.IsZero())
			}
		})
	}
}

// TestParseHTTPDateTwoDigitYears checks the 50-year rule of §5.6.7: a
// two-digit year is the latest year with those digits that is not more than
// 50 years in the future.
func TestParseHTTPDateTwoDigitYears(t *testing.T) {
	tests := []struct {
		now  time.Time
		in   string
		year int
	}{
		{time.Date(2024, 3, 4, 12, 0, 0, 0, time.UTC), "Monday, 04-Mar-24 12:00:00 GMT", 2024},
		{time.Date(2024, 3, 4, 12, 0, 0, 0, time.UTC), "Wednesday, 01-Jan-70 00:00:00 GMT", 2070}, // 46 years ahead
		{time.Date(2024, 3, 4, 12, 0, 0, 0, time.UTC), "Sunday, 04-Mar-74 12:00:00 GMT", 2074},    // exactly 50 years ahead
		{time.Date(2024, 3, 4, 12, 0, 0, 0, time.UTC), "Monday, 04-Mar-74 12:00:01 GMT", 1974},    // a second more: the past
		{time.Date(2024, 3, 4, 12, 0, 0, 0, time.UTC), "Sunday, 06-Nov-94 08:49:37 GMT", 1994},
		{time.Date(2024, 3, 4, 12, 0, 0, 0, time.UTC), "Friday, 31-Dec-99 23:59:59 GMT", 1999},
		{time.Date(2024, 3, 4, 12, 0, 0, 0, time.UTC), "Saturday, 01-Jan-00 00:00:00 GMT", 2000},
		{time.Date(2090, 6, 1, 0, 0, 0, 0, time.UTC), "Friday, 01-Jan-00 00:00:00 GMT", 2100}, // within 50 years of 2090
		{time.Date(2090, 6, 1, 0, 0, 0, 0, time.UTC), "Saturday, 01-Jan-50 00:00:00 GMT", 2050},
		{time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC), "Saturday, 01-Jan-00 00:00:00 GMT", 2000},
		{time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC), "Friday, 01-Jan-49 00:00:00 GMT", 2049},
		{time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC), "Monday, 01-Jan-51 00:00:00 GMT", 1951},
	}
	for _, tc := range tests {
		t.Run(tc.now.Format("2006")+" "+tc.in, func(t *testing.T) {
			got, ok := ParseHTTPDate(tc.in, tc.now)
			if !ok {
				// The day names above are those of the expected year: an
				// error here is a wrong year as much as a bad name.
				t.Fatalf("ParseHTTPDate(%q) invalid, want year %d", tc.in, tc.year)
			}
			if got.Year() != tc.year {
				t.Errorf("ParseHTTPDate(%q) year %d, want %d", tc.in, got.Year(), tc.year)
			}
			if lim := tc.now.AddDate(50, 0, 0); got.After(lim) {
				t.Errorf("ParseHTTPDate(%q) = %v, more than 50 years after %v", tc.in, got, tc.now)
			}
		})
	}
}

// TestParseHTTPDateRoundTrip formats every day of several years, leap and
// not, in the three formats and parses them back.
func TestParseHTTPDateRoundTrip(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, y := range []int{1900, 1970, 1999, 2000, 2023, 2024, 2070} {
		for d := time.Date(y, 1, 1, 13, 4, 5, 0, time.UTC); d.Year() == y; d = d.AddDate(0, 0, 1) {
			forms := []string{
				d.Format(http.TimeFormat),
				d.Format("Mon Jan _2 15:04:05 2006"),
			}
			if d.Year() >= 1975 && d.Year() <= 2073 {
				// Two-digit years only name these unambiguously from now.
				forms = append(forms, d.Format("Monday, 02-Jan-06 15:04:05 GMT"))
			}
			for _, f := range forms {
				got, ok := ParseHTTPDate(f, now)
				if !ok || !got.Equal(d) {
					t.Fatalf("ParseHTTPDate(%q) = %v, %v; want %v", f, got, ok, d)
				}
			}
		}
	}
}

// FuzzParseHTTPDate checks that whatever ParseHTTPDate accepts is a date it
// can write back in one of the three forms byte for byte, that
// http.ParseTime (which is more lenient) agrees with it on the two forms with
// four-digit years, and that it never panics.
func FuzzParseHTTPDate(f *testing.F) {
	for _, s := range []string{
		"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
		"Sun Nov 06 08:49:37 1994", "Thu, 29 Feb 2024 23:59:59 GMT", "Sat, 31 Dec 2016 23:59:60 GMT",
		"Sun, 06 Nov 1994  08:49:37 GMT", "0", "",
	} {
		f.Add(s)
	}
	now := time.Date(2024, 3, 4, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := ParseHTTPDate(s, now)
		if !ok {
			if !got.IsZero() {
				t.Fatalf("ParseHTTPDate(%q) invalid but returned %v", s, got)
			}
			return
		}
		v := trimOWS(s)
		leap := strings.Contains(v, "23:59:60")
		src := got
		if leap {
			src = got.Add(-time.Second)
		}
		var want string
		switch {
		case len(v) == 29:
			want = src.Format(http.TimeFormat)
		case len(v) == 24 && v[8] == ' ':
			want = src.Format("Mon Jan _2 15:04:05 2006")
		case len(v) == 24:
			want = src.Format("Mon Jan 02 15:04:05 2006")
		default:
			want = src.Format("Monday, 02-Jan-06 15:04:05 GMT")
		}
		if leap {
			want = strings.Replace(want, "23:59:59", "23:59:60", 1)
		}
		if want != v {
			t.Fatalf("ParseHTTPDate(%q) = %v, which formats as %q", s, got, want)
		}
		if len(v) != 29 && len(v) != 24 || leap {
			return
		}
		if pt, err := http.ParseTime(v); err != nil || !pt.Equal(got) {
			t.Fatalf("ParseHTTPDate(%q) = %v but http.ParseTime gives %v, %v", s, got, pt, err)
		}
	})
}
