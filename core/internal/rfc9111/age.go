package rfc9111

import (
	"net/http"
	"strings"
	"time"
)

// CorrectedInitialAge implements the first part of RFC 9111 §4.2.3:
//
//	apparent_age          = max(0, response_time - date_value)
//	response_delay        = response_time - request_time
//	corrected_age_value   = age_value + response_delay
//	corrected_initial_age = max(apparent_age, corrected_age_value)
//
// The current age is then corrected_initial_age + (now - response_time), see
// CurrentAge. The age_value is the first member of the Age field (§5.1: a
// list-valued Age uses its first member, empty list elements not counting,
// RFC 9110 §5.6.1); when that member is not a non-negative integer the field
// is ignored. A missing Date gives an apparent age of zero.
func CorrectedInitialAge(h http.Header, requestTime, responseTime time.Time) time.Duration {
	var ageValue time.Duration
	var n int64 = Absent
	setDeltaStrict(&n, firstMember(h["Age"]))
	if n > 0 {
		ageValue = seconds(n)
	}
	apparent := responseTime.Sub(DateOr(h, responseTime))
	if apparent < 0 {
		apparent = 0
	}
	delay := responseTime.Sub(requestTime)
	if delay < 0 {
		delay = 0
	}
	corrected := ageValue + delay
	if apparent > corrected {
		return apparent
	}
	return corrected
}

// CurrentAge is corrected_initial_age + resident_time (RFC 9111 §4.2.3).
func CurrentAge(initialAge time.Duration, responseTime, now time.Time) time.Duration {
	resident := now.Sub(responseTime)
	if resident < 0 {
		resident = 0
	}
	return initialAge + resident
}

// firstMember returns the first non-empty member of a list-valued field
// (RFC 9110 §5.6.1), trimmed, or "".
func firstMember(lines []string) string {
	for _, line := range lines {
		for line != "" {
			var m string
			if i := strings.IndexByte(line, ','); i >= 0 {
				m, line = line[:i], line[i+1:]
			} else {
				m, line = line, ""
			}
			if m = trimOWS(m); m != "" {
				return m
			}
		}
	}
	return ""
}

// setDeltaStrict is setDelta for fields where an invalid value is ignored
// (left Absent) rather than taken as zero.
func setDeltaStrict(dst *int64, value string) {
	if value == "" {
		return
	}
	var n int64
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c < '0' || c > '9' {
			return
		}
		if n < maxDelta {
			n = n*10 + int64(c-'0')
		}
	}
	if n > maxDelta {
		n = maxDelta
	}
	*dst = n
}
