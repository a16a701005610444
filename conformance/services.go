package conformance

import (
	"net"
	"os"
	"sync"
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

// HangingServer starts a loopback TCP listener that accepts connections and
// never answers, for checking that a store operation against a server that
// hangs is cut off (core.WithStoreTimeout). It returns the listener's
// address; the listener and its connections are closed when the test ends.
func HangingServer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// ClosedAddr returns a loopback TCP address where nothing listens (a port
// that was free a moment ago), for checking that a store reports an
// unreachable server when it opens. Connections to it are refused at once.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
