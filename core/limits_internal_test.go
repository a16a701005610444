package core

import "testing"

// TestDefaultLimits: the cache runs inside other people's programs, so what
// one response may make it hold or write is bounded by default
// (TestDecompressionBombNotStored shows the bound at work).
func TestDefaultLimits(t *testing.T) {
	c := defaultConfig()
	if c.maxStreamSize <= 0 || c.maxStreamSize > 1<<30 {
		t.Errorf("default WithMaxStreamSize = %d; want at most 1 GiB", c.maxStreamSize)
	}
	if c.maxBodySize <= 0 || c.maxBodySize > 64<<20 {
		t.Errorf("default WithMaxBodySize = %d; want at most 64 MiB", c.maxBodySize)
	}
}
