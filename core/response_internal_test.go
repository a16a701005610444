package core

import (
	"net/http"
	"testing"
	"unsafe"
)

// TestServedSize: the records a hit allocates stay in their size classes.
// served, what every hit allocates, stays within the 320-byte class; with
// the request copy some hits need (servedTagged, see newServed), within the
// 640-byte one, where an object with pointers over 512 bytes carries an
// 8-byte header in Go's allocator (go1.22 on). One word more puts either in
// the next class.
func TestServedSize(t *testing.T) {
	for _, c := range []struct {
		name        string
		size, limit uintptr
	}{
		{"served", unsafe.Sizeof(served{}), 320},
		{"servedTagged", unsafe.Sizeof(servedTagged{}), 640 - 8},
	} {
		if c.size > c.limit {
			t.Errorf("%s is %d bytes, want at most %d: trim it, or accept the next size class knowingly", c.name, c.size, c.limit)
		}
	}
}

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
