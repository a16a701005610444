package rfc9111

import "time"

// ParseHTTPDate parses an HTTP-date (RFC 9110 §5.6.7) exactly as the grammar
// has it, and reports whether v is one. It accepts the three formats a
// recipient must accept and nothing else:
//
//	IMF-fixdate   Sun, 06 Nov 1994 08:49:37 GMT
//	rfc850-date   Sunday, 06-Nov-94 08:49:37 GMT
//	asctime-date  Sun Nov  6 08:49:37 1994
//
// Names are case-sensitive ("HTTP-date is case sensitive"), every space is
// the single SP of the grammar (the asctime day is "06" or " 6"), the zone is
// "GMT" (asctime has none and is UTC), and the date must exist: a day that
// its month does not have (31 Apr, 29 Feb outside leap years), an hour past
// 23, a minute past 59, a second past 59 other than the leap second
// 23:59:60, or a year before 1900 (RFC 5322 §3.3, whose semantics §5.6.7
// adopts) is not a date. The day name must be the date's weekday: a value
// that contradicts itself is not a timestamp a recipient can rely on, and
// every use the cache makes of an invalid date is the conservative one (an
// invalid Expires is already expired, §5.3; an invalid Last-Modified gives no
// heuristic; an invalid If-Modified-Since is ignored, RFC 9110 §13.1.3).
// White space around the field value (OWS, RFC 9110 §5.5) is ignored.
//
// An rfc850-date's two-digit year is read as the year with those last two
// digits that is not more than 50 years after now; a later one is the most
// recent such year in the past (§5.6.7).
func ParseHTTPDate(v string, now time.Time) (time.Time, bool) {
	v = trimOWS(v)
	switch {
	case len(v) == len("Sun, 06 Nov 1994 08:49:37 GMT") && v[3] == ',':
		return parseIMFFixdate(v)
	case len(v) == len("Sun Nov  6 08:49:37 1994") && v[3] == ' ':
		return parseAsctime(v)
	}
	return parseRFC850(v, now)
}

var shortDays = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

var longDays = [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

var months = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// dayIndex returns the weekday named s in names, or -1.
func dayIndex(names *[7]string, s string) int {
	for i, n := range names {
		if n == s {
			return i
		}
	}
	return -1
}

// monthOf returns the month named s, or 0.
func monthOf(s string) time.Month {
	for i, m := range months {
		if m == s {
			return time.Month(i + 1)
		}
	}
	return 0
}

// digits parses s, which must be all ASCII digits.
func digits(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// timeOfDay parses "hh:mm:ss".
func timeOfDay(s string) (h, m, sec int, ok bool) {
	if len(s) != 8 || s[2] != ':' || s[5] != ':' {
		return 0, 0, 0, false
	}
	h, ok1 := digits(s[0:2])
	m, ok2 := digits(s[3:5])
	sec, ok3 := digits(s[6:8])
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 60 || (sec == 60 && (h != 23 || m != 59)) {
		return 0, 0, 0, false
	}
	return h, m, sec, true
}

func leapYear(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(m time.Month, y int) int {
	switch m {
	case time.February:
		if leapYear(y) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// build checks the calendar fields and the day name and returns the time.
func build(weekday, year int, month time.Month, day, h, m, s int) (time.Time, bool) {
	if weekday < 0 || month == 0 || year < 1900 || day < 1 || day > daysIn(month, year) {
		return time.Time{}, false
	}
	t := time.Date(year, month, day, h, m, s, 0, time.UTC)
	if s == 60 {
		// The leap second 23:59:60 has the weekday of its own day, not of
		// the next one time.Date normalises it into.
		if int(t.Add(-time.Second).Weekday()) != weekday {
			return time.Time{}, false
		}
		return t, true
	}
	if int(t.Weekday()) != weekday {
		return time.Time{}, false
	}
	return t, true
}

// parseIMFFixdate parses "Sun, 06 Nov 1994 08:49:37 GMT" (length checked).
func parseIMFFixdate(v string) (time.Time, bool) {
	if v[4] != ' ' || v[7] != ' ' || v[11] != ' ' || v[16] != ' ' || v[25] != ' ' || v[26:] != "GMT" {
		return time.Time{}, false
	}
	day, ok1 := digits(v[5:7])
	year, ok2 := digits(v[12:16])
	h, m, s, ok3 := timeOfDay(v[17:25])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	return build(dayIndex(&shortDays, v[0:3]), year, monthOf(v[8:11]), day, h, m, s)
}

// parseAsctime parses "Sun Nov  6 08:49:37 1994" (length checked).
func parseAsctime(v string) (time.Time, bool) {
	if v[7] != ' ' || v[10] != ' ' || v[19] != ' ' {
		return time.Time{}, false
	}
	var day int
	var ok1 bool
	if v[8] == ' ' {
		day, ok1 = digits(v[9:10])
	} else {
		day, ok1 = digits(v[8:10])
	}
	year, ok2 := digits(v[20:24])
	h, m, s, ok3 := timeOfDay(v[11:19])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	return build(dayIndex(&shortDays, v[0:3]), year, monthOf(v[4:7]), day, h, m, s)
}

// parseRFC850 parses "Sunday, 06-Nov-94 08:49:37 GMT".
func parseRFC850(v string, now time.Time) (time.Time, bool) {
	comma := -1
	for i := 0; i < len(v) && i <= len("Wednesday"); i++ {
		if v[i] == ',' {
			comma = i
			break
		}
	}
	if comma < 0 {
		return time.Time{}, false
	}
	weekday := dayIndex(&longDays, v[:comma])
	rest := v[comma+1:]
	if len(rest) != len(" 06-Nov-94 08:49:37 GMT") || rest[0] != ' ' || rest[3] != '-' || rest[7] != '-' ||
		rest[10] != ' ' || rest[19] != ' ' || rest[20:] != "GMT" {
		return time.Time{}, false
	}
	day, ok1 := digits(rest[1:3])
	yy, ok2 := digits(rest[8:10])
	h, m, s, ok3 := timeOfDay(rest[11:19])
	month := monthOf(rest[4:7])
	if !ok1 || !ok2 || !ok3 || month == 0 || weekday < 0 {
		return time.Time{}, false
	}
	// The latest year ending in yy whose timestamp is at most 50 years
	// after now.
	limit := now.UTC().AddDate(50, 0, 0)
	year := (limit.Year()/100)*100 + yy
	for year > limit.Year() || (year == limit.Year() && !dateNotAfter(month, day, h, m, s, limit)) {
		year -= 100
	}
	return build(weekday, year, month, day, h, m, s)
}

// dateNotAfter reports whether the date with the given fields, in limit's
// year, is not after limit. It compares the fields, so that a day the year
// does not have (29 Feb) needs no normalising; build rejects it later.
func dateNotAfter(month time.Month, day, h, m, s int, limit time.Time) bool {
	a := [5]int{int(month), day, h, m, s}
	b := [5]int{int(limit.Month()), limit.Day(), limit.Hour(), limit.Minute(), limit.Second()}
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return true
}
