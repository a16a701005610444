package core

import (
	"net/http"
	"testing"
)

// TestFwdStatusTable: the precomputed Cache-Status values are the formatted
// ones, and values outside the table are formatted.
func TestFwdStatusTable(t *testing.T) {
	for f := ForwardNone; f <= ForwardRequest+1; f++ {
		for d := detailNone; d <= detailClosed+1; d++ {
			for _, status := range []int{0, http.StatusOK, http.StatusNotModified, http.StatusBadGateway} {
				for _, stored := range []bool{false, true} {
					for _, collapsed := range []bool{false, true} {
						got := fwdStatus(f, d, status, stored, collapsed)
						if want := formatFwdStatus(f, d, status, stored, collapsed); got != want {
							t.Errorf("fwdStatus(%v, %v, %d, %v, %v) = %q, want %q", f, d, status, stored, collapsed, got, want)
						}
					}
				}
			}
		}
	}
	if got, want := fwdStatus(ForwardStale, detailNone, http.StatusNotModified, false, true), "hoard; fwd=stale; fwd-status=304; collapsed"; got != want {
		t.Errorf("fwdStatus = %q, want %q", got, want)
	}
	if n := testing.AllocsPerRun(10, func() { _ = fwdStatus(ForwardMiss, detailNone, 0, true, false) }); n != 0 {
		t.Errorf("fwdStatus allocates %v times, want 0", n)
	}
}
