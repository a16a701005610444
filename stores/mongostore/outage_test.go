package mongostore_test

import (
	"testing"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/stores/mongostore"
)

// TestOutage measures a load of cached requests over a FerretDB of the
// test's own while it is stopped (and started again on the same address,
// with its data), with the default settings, and checks the goals of issue
// 10 (conformance.CheckOutageGoals). `make outage` runs it with the full
// load and prints the table of BENCHMARKS.md.
func TestOutage(t *testing.T) {
	f := startFerret(t)
	client := connect(t, f.url())
	st := newStore(t, client, &mongostore.Options{SweepInterval: -1})
	conformance.RunOutage(t, conformance.OutageTarget{
		Name: "MongoDB (FerretDB), stopped", Store: st, Down: f.stop, Up: f.start,
	})
}
