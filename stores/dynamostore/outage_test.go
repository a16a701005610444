package dynamostore_test

import (
	"testing"
	"time"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/stores/dynamostore"
)

// TestOutage measures a load of cached requests over a dynalite of the
// test's own while it is killed (and started again on the same port,
// empty: the store recreates its table), with the default settings, and
// checks the goals of issue 10 (conformance.CheckOutageGoals). `make
// outage` runs it with the full load and prints the table of BENCHMARKS.md.
func TestOutage(t *testing.T) {
	srv := startPrivateDynalite(t)
	st, err := dynamostore.New(t.Context(), newClient(srv.endpoint()), &dynamostore.Options{
		Table: "hoard-outage", CreateTable: true, CreateTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	conformance.RunOutage(t, conformance.OutageTarget{
		Name: "DynamoDB (dynalite), killed", Store: st, Down: srv.kill, Up: srv.start,
	})
}
