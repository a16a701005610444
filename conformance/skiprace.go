package conformance

import "testing"

// The -run patterns of the checks that skip themselves under -race; `make
// test` runs them in a pass without -race (the Makefile's NORACE_ groups).
const (
	// largeBodyRun selects the large-body check of a store's conformance
	// test (TestConformance, TestConformanceChunked, ...) and nothing else.
	largeBodyRun = "^TestConformance[^/]*$/^LargeBody$"
	// codecRun selects the tests that run the codec suite.
	codecRun = "^Test(Conformance|Keys|BinaryCodecConformance)$"
)

// skipUnderRace skips t in a -race build. It is for checks that prove
// something other than the absence of races — a memory bound, or that every
// truncation and flipped bit of an encoding is caught, in one goroutine — and
// that the race detector slows to minutes of CPU. what names the check, run
// is the -run pattern that selects it in the pass without -race.
func skipUnderRace(t *testing.T, what, run string) {
	t.Helper()
	if raceEnabled {
		t.Skipf("%s does not run under -race (nothing in it can race, and the detector makes it minutes of CPU); "+
			"`make test` runs it without -race: go test -run '%s'", what, run)
	}
}
