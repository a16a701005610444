package filestore_test

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/filestore"
)

// TestGetAllocs pins the allocations of a Get: on Linux one buffer of the
// file's exact size that the value is returned from (the path is built on
// the stack and the file read with raw system calls). It used to be 8 (the
// key's bytes for hashing and a scratch buffer for the path besides), then
// 6 (the path twice, an *os.File and its FileInfo), which it still is on
// other Unix systems, where os.Open reads the file. The value is checked
// too, for a key longer than the stack buffer the hash uses.
func TestGetAllocs(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skipf("os.Open allocates differently on %s; the count is pinned for Unix", runtime.GOOS)
	}
	osFile := 0.0 // allocations of os.Open and Stat: the path, the *os.File, the FileInfo
	if runtime.GOOS != "linux" {
		osFile = 5
	}
	for _, tc := range []struct {
		name      string
		key       string
		maxAllocs float64
	}{
		{"core key", "h2:" + strings.Repeat("0123456789abcdef", 4), 1 + osFile},
		{"long key", strings.Repeat("k", 300), 2 + osFile}, // hashed from a heap copy
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := filestore.New(t.TempDir(), &filestore.Options{SweepInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ctx := t.Context()
			value := bytes.Repeat([]byte("v"), 1<<10)
			if err := st.Set(ctx, tc.key, value, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			got, err := st.Get(ctx, tc.key)
			if err != nil || !bytes.Equal(got, value) {
				t.Fatalf("Get = %d bytes, %v; want the %d bytes set", len(got), err, len(value))
			}
			allocs := testing.AllocsPerRun(100, func() {
				if _, err := st.Get(ctx, tc.key); err != nil {
					t.Fatal(err)
				}
			})
			t.Logf("%.0f allocs", allocs)
			if allocs > tc.maxAllocs {
				t.Errorf("Get allocates %.0f times, want at most %.0f", allocs, tc.maxAllocs)
			}
		})
	}
}
