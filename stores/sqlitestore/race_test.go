//go:build race

package sqlitestore_test

// raceEnabled reports whether the test binary was built with -race.
const raceEnabled = true
