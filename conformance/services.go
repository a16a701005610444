package conformance

import (
	"os"
	"testing"
)

// RequireService returns the value of the environment variable env (usually
// a service URL such as HOARD_TEST_REDIS_URL). When it is empty the test is
// skipped, unless HOARD_REQUIRE_SERVICES=1 (as in CI and `make test`), in
// which case the test fails: a configured run must not pass by skipping.
func RequireService(t testing.TB, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v != "" {
		return v
	}
	if os.Getenv("HOARD_REQUIRE_SERVICES") == "1" {
		t.Fatalf("set %s to run this test against a real server", env)
	}
	t.Skipf("set %s to run this test against a real server", env)
	return ""
}
