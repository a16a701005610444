package mongostore

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
)

// TestOpErrorHasNoStraySpace: the driver's unnamed errors start with a
// space; the store's message does not show it ("mongostore: sweep:
// connection(...)", not "sweep:  connection").
func TestOpErrorHasNoStraySpace(t *testing.T) {
	inner := driver.Error{Message: "connection(127.0.0.1:27027) incomplete read"}
	err := opError("sweep", "", inner)
	if got, want := err.Error(), "mongostore: sweep: connection(127.0.0.1:27027) incomplete read"; got != want {
		t.Errorf("opError = %q, want %q", got, want)
	}
	var de driver.Error
	if !errors.As(err, &de) {
		t.Error("errors.As does not reach the driver error")
	}
}
