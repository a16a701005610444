package redisstore_test

import (
	"syscall"
	"testing"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
)

// TestOutage measures a load of cached requests over a redis-server of the
// test's own while it is killed (and restarted on the same port), and while
// it is frozen with SIGSTOP (and thawed), with the default settings, and
// checks the goals of issue 10 (conformance.CheckOutageGoals). `make
// outage` runs it with the full load (HOARD_OUTAGE_FULL=1) and prints the
// table of BENCHMARKS.md.
func TestOutage(t *testing.T) {
	faults := []struct {
		name     string
		down, up func(*privateRedis)
	}{
		{"killed", (*privateRedis).kill, (*privateRedis).start},
		{"frozen (SIGSTOP)", func(p *privateRedis) { p.signal(syscall.SIGSTOP) }, func(p *privateRedis) { p.signal(syscall.SIGCONT) }},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			srv := startPrivateRedis(t)
			st, err := core.OpenStore(t.Context(), "redis://"+srv.addr+"/0?prefix=outage:")
			if err != nil {
				t.Fatal(err)
			}
			conformance.RunOutage(t, conformance.OutageTarget{
				Name: "Redis, " + f.name, Store: st,
				Down: func() { f.down(srv) }, Up: func() { f.up(srv) },
			})
		})
	}
}
