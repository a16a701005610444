//go:build !race

package conformance

// raceEnabled reports whether the test binary was built with -race: see
// skipUnderRace.
const raceEnabled = false
