//go:build !race

package conformance

// raceEnabled reports whether the test binary was built with -race. The
// large-body check skips itself then: see largeBodyPass.
const raceEnabled = false
