package pgstore_test

import (
	"testing"

	"github.com/hoardhttp/hoard/conformance"
)

func TestConformance(t *testing.T) {
	conformance.RunStoreTests(t, newHarness)
}
