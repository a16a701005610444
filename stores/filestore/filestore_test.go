package filestore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/filestore"
)

// harness gives the conformance suite a fresh store in a fresh directory.
type harness struct{ t *testing.T }

func (h harness) MakeStore(context.Context) (core.Store, error) {
	// Room for the suite's 1 GiB body and its header, above DefaultMaxBytes.
	return filestore.New(h.t.TempDir(), &filestore.Options{MaxBytes: 4 << 30})
}

func (harness) Capabilities() conformance.Capabilities {
	return conformance.Capabilities{
		NativeTTL:    true,
		List:         true,
		Clear:        true,
		Streaming:    true,
		StreamSeek:   true,
		MaxValueSize: 16 << 20,
	}
}

func (harness) Close() {}

func TestConformance(t *testing.T) {
	conformance.RunStoreTests(t, func(_ context.Context, t *testing.T) (conformance.StoreHarness, error) {
		return harness{t: t}, nil
	})
}

func TestOpenStoreDSN(t *testing.T) {
	dir := t.TempDir()
	base := "file://" + filepath.ToSlash(dir)
	tests := []struct {
		name    string
		dsn     string
		want    filestore.Options
		wantErr []string // substrings of the error; nil: no error
	}{
		{name: "defaults", dsn: base, want: filestore.Options{MaxBytes: 1 << 30, SweepInterval: time.Minute, SweepBatch: 1000, MemoryBytes: 8 << 20}},
		{name: "all parameters", dsn: base + "?max_bytes=1GiB&sweep_interval=30s&sweep_batch=50&memory_bytes=1MiB",
			want: filestore.Options{MaxBytes: 1 << 30, SweepInterval: 30 * time.Second, SweepBatch: 50, MemoryBytes: 1 << 20}},
		{name: "memory off", dsn: base + "?memory_bytes=off", want: filestore.Options{MaxBytes: 1 << 30, SweepInterval: time.Minute, SweepBatch: 1000, MemoryBytes: -1}},
		{name: "sweep off", dsn: base + "?sweep_interval=off", want: filestore.Options{MaxBytes: 1 << 30, SweepInterval: -1, SweepBatch: 1000, MemoryBytes: 8 << 20}},
		{name: "zeros are defaults", dsn: base + "?max_bytes=0&sweep_interval=0&sweep_batch=0&memory_bytes=0",
			want: filestore.Options{MaxBytes: 1 << 30, SweepInterval: time.Minute, SweepBatch: 1000, MemoryBytes: 8 << 20}},
		{name: "localhost", dsn: "file://localhost" + filepath.ToSlash(dir) + "?max_bytes=100MB",
			want: filestore.Options{MaxBytes: 100e6, SweepInterval: time.Minute, SweepBatch: 1000, MemoryBytes: 8 << 20}},
		{name: "upper-case scheme", dsn: "FILE://" + filepath.ToSlash(dir), want: filestore.Options{MaxBytes: 1 << 30, SweepInterval: time.Minute, SweepBatch: 1000, MemoryBytes: 8 << 20}},
		{name: "trailing slash", dsn: base + "/", want: filestore.Options{MaxBytes: 1 << 30, SweepInterval: time.Minute, SweepBatch: 1000, MemoryBytes: 8 << 20}},

		{name: "relative, two slashes", dsn: "file://cache/app", wantErr: []string{"filestore:", `host "cache"`, "file:///absolute/dir"}},
		{name: "relative, no slashes", dsn: "file:cache/app", wantErr: []string{"filestore:", "relative path", "file:///absolute/dir"}},
		{name: "relative dot", dsn: "file:./cache", wantErr: []string{"relative path"}},
		{name: "no directory", dsn: "file://", wantErr: []string{"filestore:", "no directory"}},
		{name: "root", dsn: "file:///", wantErr: []string{"filestore:", "root directory"}},
		{name: "root after cleaning", dsn: "file:///tmp/..", wantErr: []string{"root directory"}},
		{name: "user", dsn: "file://user:secret@" + filepath.ToSlash(dir), wantErr: []string{"filestore:", "user information"}},
		{name: "fragment", dsn: base + "#frag", wantErr: []string{"filestore:", "fragment"}},
		{name: "unknown parameter", dsn: base + "?max_bytes=1MiB&bogus=1", wantErr: []string{"filestore:", `"bogus"`, "max_bytes, memory_bytes, sweep_batch, sweep_interval"}},
		{name: "two unknown parameters", dsn: base + "?zeta=1&alpha=2", wantErr: []string{`"alpha", "zeta"`}},
		{name: "misspelt parameter", dsn: base + "?maxbytes=1MiB", wantErr: []string{`"maxbytes"`}},
		{name: "bad size", dsn: base + "?max_bytes=lots", wantErr: []string{"max_bytes", "lots"}},
		{name: "negative size", dsn: base + "?max_bytes=-1", wantErr: []string{"max_bytes"}},
		{name: "repeated parameter", dsn: base + "?max_bytes=1MiB&max_bytes=2MiB", wantErr: []string{"max_bytes", "2 times"}},
		{name: "bad interval", dsn: base + "?sweep_interval=often", wantErr: []string{"sweep_interval", `"often"`}},
		{name: "interval without unit", dsn: base + "?sweep_interval=60", wantErr: []string{"sweep_interval"}},
		{name: "negative interval", dsn: base + "?sweep_interval=-1m", wantErr: []string{"sweep_interval", "off"}},
		{name: "bad memory size", dsn: base + "?memory_bytes=lots", wantErr: []string{"memory_bytes", "lots", "off"}},
		{name: "negative memory size", dsn: base + "?memory_bytes=-1", wantErr: []string{"memory_bytes"}},
		{name: "bad batch", dsn: base + "?sweep_batch=many", wantErr: []string{"sweep_batch", `"many"`}},
		{name: "negative batch", dsn: base + "?sweep_batch=-5", wantErr: []string{"sweep_batch"}},
		{name: "bad query", dsn: base + "?max_bytes=%zz", wantErr: []string{"filestore:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := core.OpenStore(t.Context(), tc.dsn)
			if tc.wantErr != nil {
				if err == nil {
					if c, ok := st.(io.Closer); ok {
						_ = c.Close()
					}
					t.Fatalf("OpenStore(%q) succeeded, want an error", tc.dsn)
				}
				for _, sub := range tc.wantErr {
					if !strings.Contains(err.Error(), sub) {
						t.Errorf("OpenStore(%q) error = %q, want it to contain %q", tc.dsn, err, sub)
					}
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("OpenStore(%q) error = %q reveals the password", tc.dsn, err)
				}
				if !errors.Is(err, core.ErrInvalidConfig) {
					t.Errorf("OpenStore(%q) error = %q, want one wrapping core.ErrInvalidConfig", tc.dsn, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("OpenStore(%q): %v", tc.dsn, err)
			}
			s, ok := st.(*filestore.Store)
			if !ok {
				t.Fatalf("OpenStore(%q) = %T, want *filestore.Store", tc.dsn, st)
			}
			defer s.Close()
			if got := s.Options(); got != tc.want {
				t.Errorf("OpenStore(%q).Options() = %+v, want %+v", tc.dsn, got, tc.want)
			}
			if s.Dir() != dir {
				t.Errorf("OpenStore(%q).Dir() = %q, want %q", tc.dsn, s.Dir(), dir)
			}
			if err := s.Set(t.Context(), "k", []byte("v"), core.Meta{}); err != nil {
				t.Fatalf("Set: %v", err)
			}
			if got, err := s.Get(t.Context(), "k"); err != nil || string(got) != "v" {
				t.Errorf("Get = %q, %v; want %q, nil", got, err, "v")
			}
		})
	}
}

func TestOpenStoreCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := core.OpenStore(ctx, "file://"+filepath.ToSlash(t.TempDir()))
	if !errors.Is(err, context.Canceled) || !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("OpenStore with a cancelled context: error = %v, want context.Canceled and core.ErrUnavailable", err)
	}
}

func TestNewErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dir     string
		opts    *filestore.Options
		wantErr string
	}{
		{"negative MaxBytes", t.TempDir(), &filestore.Options{MaxBytes: -1}, "MaxBytes"},
		{"negative SweepBatch", t.TempDir(), &filestore.Options{SweepBatch: -1}, "SweepBatch"},
		{"empty dir", "", nil, "empty directory"},
		{"dir is a file", file, nil, "not a directory"},
		{"dir under a file", filepath.Join(file, "sub"), nil, "not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := filestore.New(tc.dir, tc.opts)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "filestore: ") {
				t.Errorf("New error = %q, want it to start with %q and contain %q", err, "filestore: ", tc.wantErr)
			}
			if !errors.Is(err, core.ErrInvalidConfig) {
				t.Errorf("New error = %q, want one wrapping core.ErrInvalidConfig", err)
			}
		})
	}
}

func TestNewCreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "cache")
	s := newStore(t, dir, nil)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("New made %v, want a directory with mode 0700", fi.Mode())
	}
	set(t, s, "k", []byte("v"), core.Meta{})
	for rel, fi := range walkFiles(t, dir) {
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", rel, fi.Mode().Perm())
		}
	}
}

// TestKeysStayInside writes values and streams under keys (and URLs) built to
// escape a directory, and checks that every file the store made is inside
// its directory, named by a key hash.
func TestKeysStayInside(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "cache")
	s := newStore(t, dir, nil)
	ctx := t.Context()
	keys := []string{
		"../escape",
		"../../../../../../../../etc/passwd",
		"GET https://example.com/../../../x",
		"GET https://example.com/%2e%2e/%2e%2e/x",
		"a/../../b",
		"/absolute/path",
		"\x00",
		"../\x00../x",
		"x\x00/../../y",
		strings.Repeat("../", 170),
		`..\..\windows`,
		"C:\\escape",
		".",
		"..",
		"~/home",
	}
	for i, key := range keys {
		meta := core.Meta{URL: "https://example.com/../../" + key, Method: "GET", Status: 200}
		value := []byte("value " + strconv.Itoa(i))
		set(t, s, key, value, meta)
		writeStream(t, s, key, []byte("stream "+strconv.Itoa(i)), meta)
	}
	for i, key := range keys {
		if got, err := s.Get(ctx, key); err != nil || string(got) != "value "+strconv.Itoa(i) {
			t.Errorf("Get(%q) = %q, %v", key, got, err)
		}
	}
	name := regexp.MustCompile(`^([0-9a-f]{2})/([0-9a-f]{64})(\.s)?$`)
	files := walkFiles(t, parent)
	for rel := range files {
		rel = filepath.ToSlash(rel)
		inside, ok := strings.CutPrefix(rel, "cache/")
		m := name.FindStringSubmatch(inside)
		if !ok || m == nil || m[1] != m[2][:2] {
			t.Errorf("file %q is not a key file inside the store directory", rel)
		}
	}
	if len(files) != 2*len(keys) {
		t.Errorf("%d files under the parent directory, want %d (a value and a stream per key)", len(files), 2*len(keys))
	}
	// The files are named by the SHA-256 of the key.
	for _, key := range keys {
		h := sha256.Sum256([]byte(key))
		rel := filepath.Join("cache", hex.EncodeToString(h[:1]), hex.EncodeToString(h[:]))
		if _, ok := files[rel]; !ok {
			t.Errorf("no file %s for key %q", rel, key)
		}
	}
}

// TestCorruptFilesAreMisses damages files on disk: each damaged file is
// reported with an error wrapping core.ErrCorrupt (which the cache counts and
// treats as a miss), never served, and removed.
func TestCorruptFilesAreMisses(t *testing.T) {
	value := bytes.Repeat([]byte("0123456789"), 1000)
	tests := []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"empty file", func([]byte) []byte { return nil }},
		{"truncated in the header", func(b []byte) []byte { return b[:30] }},
		{"truncated after the header", func(b []byte) []byte { return b[:200] }},
		{"one byte short", func(b []byte) []byte { return b[:len(b)-1] }},
		{"one byte more", func(b []byte) []byte { return append(b, 0) }},
		{"bad magic", func(b []byte) []byte { b[0] ^= 0xff; return b }},
		{"header byte flipped", func(b []byte) []byte { b[45] ^= 1; return b }},
		{"key byte flipped", func(b []byte) []byte { b[61] ^= 1; return b }},
		{"payload byte flipped", func(b []byte) []byte { b[len(b)-10] ^= 1; return b }},
		{"old format version", func(b []byte) []byte { b[4] = 0; return b }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			dir := t.TempDir()
			s := newStore(t, dir, nil)
			key := "GET https://example.com/corrupt"
			set(t, s, key, value, core.Meta{URL: "https://example.com/corrupt", Method: "GET", Status: 200})
			writeStream(t, s, key, value, core.Meta{})
			for _, kind := range []string{"value", "stream"} {
				path := keyPath(dir, key, kind == "stream")
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, tc.damage(b), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := s.Get(ctx, key); !errors.Is(err, core.ErrCorrupt) || errors.Is(err, core.ErrNotFound) {
				t.Errorf("Get of a damaged value = %d bytes, %v; want an error wrapping core.ErrCorrupt", len(got), err)
			}
			// Payload damage in a stream is not detected when it is opened
			// (that would mean reading it twice) but when it is read to its
			// end; everything else is detected at once.
			if tc.name == "payload byte flipped" {
				rc, _, err := s.OpenStream(ctx, key)
				if err != nil {
					t.Fatalf("OpenStream: %v", err)
				}
				_, err = io.ReadAll(rc)
				rc.Close()
				if !errors.Is(err, core.ErrCorrupt) {
					t.Errorf("reading a stream with a damaged payload: error %v; want one wrapping core.ErrCorrupt", err)
				}
			} else {
				if rc, _, err := s.OpenStream(ctx, key); !errors.Is(err, core.ErrCorrupt) {
					if err == nil {
						rc.Close()
					}
					t.Errorf("OpenStream of a damaged stream: error %v; want one wrapping core.ErrCorrupt", err)
				}
				if _, err := os.Stat(keyPath(dir, key, true)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("the damaged stream file is still there (%v)", err)
				}
			}
			if _, err := os.Stat(keyPath(dir, key, false)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the damaged value file is still there (%v)", err)
			}
			// The key works again.
			set(t, s, key, []byte("fine"), core.Meta{})
			if got, err := s.Get(ctx, key); err != nil || string(got) != "fine" {
				t.Errorf("Get after rewriting = %q, %v", got, err)
			}
		})
	}
}

func TestListRemovesCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir, nil)
	set(t, s, "good", []byte("good"), core.Meta{})
	set(t, s, "bad", []byte("bad"), core.Meta{})
	if err := os.Truncate(keyPath(dir, "bad", false), 10); err != nil {
		t.Fatal(err)
	}
	if got := listKeys(t, s); strings.Join(got, ",") != "good" {
		t.Errorf("List = %q, want [good]", got)
	}
	if _, err := os.Stat(keyPath(dir, "bad", false)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List left the corrupt file (%v)", err)
	}
}

// TestNewerFormatLeftAlone: a file written by a newer version of the format
// is a miss, but is not removed (an older and a newer program may share the
// directory).
func TestNewerFormatLeftAlone(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := newStore(t, dir, &filestore.Options{SweepInterval: -1})
	set(t, s, "k", []byte("value"), core.Meta{})
	writeStream(t, s, "k", []byte("stream"), core.Meta{})
	for _, stream := range []bool{false, true} {
		path := keyPath(dir, "k", stream)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[4] = 2
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get of a newer format: %v, want core.ErrNotFound", err)
	}
	if _, _, err := s.OpenStream(ctx, "k"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("OpenStream of a newer format: %v, want core.ErrNotFound", err)
	}
	if n := len(listKeys(t, s)); n != 0 {
		t.Errorf("List yields %d keys, want 0", n)
	}
	s.SweepOnce()
	for _, stream := range []bool{false, true} {
		if _, err := os.Stat(keyPath(dir, "k", stream)); err != nil {
			t.Errorf("a file of a newer format was removed: %v", err)
		}
	}
}

// TestSizeCap writes 10× MaxBytes in several ways and checks, on disk, that
// the files of the store never take more than MaxBytes.
func TestSizeCap(t *testing.T) {
	const maxBytes = 1 << 20
	tests := []struct {
		name  string
		write func(t *testing.T, s *filestore.Store)
	}{
		{"new keys of 16 KiB", func(t *testing.T, s *filestore.Store) {
			for i := range 10 * maxBytes / (16 << 10) {
				set(t, s, fmt.Sprintf("k%04d", i), make([]byte, 16<<10), core.Meta{})
			}
		}},
		{"values and streams of mixed sizes", func(t *testing.T, s *filestore.Store) {
			written := 0
			for i := 0; written < 10*maxBytes; i++ {
				n := []int{0, 1, 1000, 10_000, 100_000, 300_000}[i%6]
				key := fmt.Sprintf("k%04d", i)
				set(t, s, key, make([]byte, n/3), core.Meta{})
				writeStream(t, s, key, make([]byte, n), core.Meta{})
				written += n + n/3
			}
		}},
		{"overwrites that grow", func(t *testing.T, s *filestore.Store) {
			for i := range 20 {
				set(t, s, fmt.Sprintf("k%02d", i), make([]byte, 1), core.Meta{})
			}
			for round := range 10 {
				for i := range 20 {
					set(t, s, fmt.Sprintf("k%02d", i), make([]byte, maxBytes/20+round*100), core.Meta{})
				}
			}
		}},
		{"values larger than the cap", func(t *testing.T, s *filestore.Store) {
			set(t, s, "small", make([]byte, 10), core.Meta{})
			for i := range 10 {
				set(t, s, fmt.Sprintf("huge%d", i), make([]byte, maxBytes+1), core.Meta{})
			}
			set(t, s, "small", make([]byte, maxBytes), core.Meta{}) // the header makes it too large
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			dir := t.TempDir()
			s := newStore(t, dir, &filestore.Options{MaxBytes: maxBytes})
			tc.write(t, s)
			onDisk := diskBytes(t, dir)
			if onDisk > maxBytes {
				t.Errorf("the store's files take %d bytes, above MaxBytes %d", onDisk, maxBytes)
			}
			if got := s.IndexedBytes(); got != onDisk {
				t.Errorf("the index counts %d bytes, the files take %d", got, onDisk)
			}
			keys := listKeys(t, s)
			for _, key := range keys {
				if _, err := s.Get(ctx, key); err != nil {
					t.Errorf("Get(%q) of a listed key: %v", key, err)
				}
			}
			if strings.HasPrefix(tc.name, "values larger") {
				if len(keys) != 0 {
					t.Errorf("List = %q after writing only values larger than the cap, want nothing", keys)
				}
				return
			}
			if len(keys) == 0 {
				t.Error("nothing is stored after writing 10× MaxBytes")
			}
			t.Logf("%d keys, %d bytes on disk", len(keys), onDisk)
		})
	}
}

// TestSizeCapAtOpen reopens a directory with a smaller cap: New evicts down
// to it, least recently accessed first (the order persisted as mtimes).
func TestSizeCapAtOpen(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	clock := newClock()
	s := newClockStore(t, dir, &filestore.Options{SweepInterval: -1}, clock)
	for i := range 10 {
		set(t, s, fmt.Sprintf("k%d", i), make([]byte, 10_000), core.Meta{})
	}
	// Reads more than a minute apart persist the access order as mtimes:
	// k2 … k9, then k0 and k1, the most recent.
	for _, k := range []string{"k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "k0", "k1"} {
		clock.advance(2 * time.Minute)
		if _, err := s.Get(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	perEntry := diskBytes(t, dir) / 10
	s2 := newClockStore(t, dir, &filestore.Options{MaxBytes: 4 * perEntry, SweepInterval: -1}, clock)
	got := strings.Join(listKeys(t, s2), ",")
	for _, want := range []string{"k0", "k1", "k9", "k8"} {
		if !strings.Contains(got, want) {
			t.Errorf("after reopening with room for 4 entries, List = %s; want it to keep %s", got, want)
		}
	}
	if n := len(listKeys(t, s2)); n != 4 {
		t.Errorf("after reopening with room for 4 entries, %d are left", n)
	}
}

func TestEvictsLeastRecentlyAccessed(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	// Room for 4 entries of this size, not 5.
	probe := newStore(t, t.TempDir(), nil)
	set(t, probe, "a", make([]byte, 1000), core.Meta{})
	perEntry := diskBytes(t, probe.Dir())
	s := newStore(t, dir, &filestore.Options{MaxBytes: 4*perEntry + perEntry/2})
	for _, k := range []string{"a", "b", "c", "d"} {
		set(t, s, k, make([]byte, 1000), core.Meta{})
	}
	if _, err := s.Get(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	set(t, s, "e", make([]byte, 1000), core.Meta{})
	if got := strings.Join(listKeys(t, s), ","); got != "a,c,d,e" {
		t.Errorf("after reading a and writing e, keys = %s; want a,c,d,e (b evicted)", got)
	}
}

// TestLastAccessPersistedLazily checks that a hit writes the access time to
// the file's mtime at most once a minute.
func TestLastAccessPersistedLazily(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	clock := newClock()
	s := newClockStore(t, dir, &filestore.Options{SweepInterval: -1}, clock)
	set(t, s, "k", []byte("v"), core.Meta{})
	path := keyPath(dir, "k", false)
	mtime := func() time.Time {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.ModTime()
	}
	written := mtime()
	clock.advance(30 * time.Second)
	if _, err := s.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if got := mtime(); !got.Equal(written) {
		t.Errorf("a hit 30s after the write changed the mtime from %v to %v", written, got)
	}
	clock.advance(31 * time.Second)
	for range 3 {
		if _, err := s.Get(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if got := mtime(); !got.Equal(clock.now()) {
		t.Errorf("a hit 61s after the write: mtime %v, want the clock %v", got, clock.now())
	}
}

func TestExpiryWithInjectedClock(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	clock := newClock()
	s := newClockStore(t, dir, &filestore.Options{SweepInterval: -1}, clock)
	meta := core.Meta{Expires: clock.now().Add(time.Hour)}
	set(t, s, "k", []byte("v"), meta)
	writeStream(t, s, "k", []byte("stream"), meta)
	clock.advance(59 * time.Minute)
	if _, err := s.Get(ctx, "k"); err != nil {
		t.Fatalf("Get before expiry: %v", err)
	}
	if len(listKeys(t, s)) != 1 {
		t.Error("List before expiry does not yield the key")
	}
	clock.advance(time.Minute)
	if _, err := s.Get(ctx, "k"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get at Expires: %v, want core.ErrNotFound", err)
	}
	if _, _, err := s.OpenStream(ctx, "k"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("OpenStream at Expires: %v, want core.ErrNotFound", err)
	}
	if n := len(walkFiles(t, dir)); n != 0 {
		t.Errorf("%d files left after reading expired entries, want 0", n)
	}
}

// TestSweep checks one sweep's bounded cost and what sweeps remove.
func TestSweep(t *testing.T) {
	dir := t.TempDir()
	clock := newClock()
	const batch = 10
	s := newClockStore(t, dir, &filestore.Options{SweepInterval: -1, SweepBatch: batch}, clock)
	for i := range 30 {
		meta := core.Meta{Expires: clock.now().Add(time.Hour)}
		set(t, s, fmt.Sprintf("short%02d", i), []byte("x"), meta)
		if i%3 == 0 {
			writeStream(t, s, fmt.Sprintf("short%02d", i), []byte("x"), meta)
		}
	}
	for i := range 5 {
		set(t, s, fmt.Sprintf("long%d", i), []byte("x"), core.Meta{})
		writeStream(t, s, fmt.Sprintf("long%d", i), []byte("x"), core.Meta{Expires: clock.now().Add(48 * time.Hour)})
	}
	sub := filepath.Join(dir, "ab")
	if err := os.MkdirAll(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	strangers := map[string]bool{ // file name → removed by a sweep
		".tmp-" + strconv.Itoa(os.Getpid()) + "-left-by-an-earlier-process-with-our-pid": true,
		".tmp-2147483000-left-by-a-dead-process":                                         true,
		".tmp-" + strconv.Itoa(os.Getppid()) + "-of-a-live-process":                      false,
		"README":                             false,
		strings.Repeat("AB", 32):             false, // upper-case: not a name the store writes
		"ab" + strings.Repeat("0", 61) + "x": false,
	}
	for name := range strangers {
		if err := os.WriteFile(filepath.Join(sub, name), []byte("not mine"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	clock.advance(2 * time.Hour)
	total := len(walkFiles(t, dir))
	examined := 0
	for i := 0; i < 100 && examined < total; i++ {
		n := s.SweepOnce()
		if n > batch {
			t.Fatalf("one sweep examined %d files, above SweepBatch %d", n, batch)
		}
		examined += n
	}
	if examined < total {
		t.Fatalf("100 sweeps examined %d of %d files", examined, total)
	}
	for i := range 30 {
		for _, stream := range []bool{false, true} {
			if _, err := os.Stat(keyPath(dir, fmt.Sprintf("short%02d", i), stream)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("short%02d (stream %v) still on disk after a full sweep (%v)", i, stream, err)
			}
		}
	}
	for i := range 5 {
		for _, stream := range []bool{false, true} {
			if _, err := os.Stat(keyPath(dir, fmt.Sprintf("long%d", i), stream)); err != nil {
				t.Errorf("long%d (stream %v) was removed: %v", i, stream, err)
			}
		}
	}
	for name, removed := range strangers {
		_, err := os.Stat(filepath.Join(sub, name))
		if gone := errors.Is(err, fs.ErrNotExist); gone != removed {
			t.Errorf("%s: removed = %v, want %v", name, gone, removed)
		}
	}
}

// TestBackgroundSweep lets the sweeper goroutine remove an entry that expired
// on the injected clock. It polls for the sweeper, with a deadline.
func TestBackgroundSweep(t *testing.T) {
	dir := t.TempDir()
	clock := newClock()
	s := newClockStore(t, dir, &filestore.Options{SweepInterval: 5 * time.Millisecond}, clock)
	set(t, s, "k", []byte("v"), core.Meta{Expires: clock.now().Add(time.Hour)})
	clock.advance(2 * time.Hour)
	path := keyPath(dir, "k", false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background sweep did not remove an expired entry within 5s")
		}
		time.Sleep(5 * time.Millisecond) // waiting for the sweeper goroutine, not for expiry
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestTempFilesAtOpen(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "00")
	if err := os.MkdirAll(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(sub, ".tmp-"+strconv.Itoa(os.Getpid())+"-crashed")
	live := filepath.Join(sub, ".tmp-"+strconv.Itoa(os.Getppid())+"-writing")
	for _, p := range []string{own, live} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	newStore(t, dir, nil)
	if _, err := os.Stat(own); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("New left a temporary file no writer owns (%v)", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("New removed the temporary file of a running process: %v", err)
	}
}

// TestSharedDirectory uses two stores on one directory, as two processes
// would: neither serves what the other deleted or replaced, and the cap of
// one counts what the other wrote once it meets the files.
func TestSharedDirectory(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	a := newStore(t, dir, &filestore.Options{SweepInterval: -1})
	b := newStore(t, dir, &filestore.Options{SweepInterval: -1})
	set(t, a, "k", []byte("from a"), core.Meta{})
	if got, err := b.Get(ctx, "k"); err != nil || string(got) != "from a" {
		t.Errorf("b.Get = %q, %v; want %q", got, err, "from a")
	}
	set(t, b, "k", []byte("from b"), core.Meta{})
	if got, err := a.Get(ctx, "k"); err != nil || string(got) != "from b" {
		t.Errorf("a.Get after b.Set = %q, %v; want %q", got, err, "from b")
	}
	if err := b.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, "k"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("a.Get after b.Delete: %v, want core.ErrNotFound", err)
	}
	// c has a cap; b writes behind its back; a sweep of c brings it back
	// under the cap.
	c := newStore(t, dir, &filestore.Options{SweepInterval: -1, MaxBytes: 100_000})
	for i := range 50 {
		set(t, b, fmt.Sprintf("b%02d", i), make([]byte, 10_000), core.Meta{})
	}
	for range 10 {
		c.SweepOnce()
	}
	if n := diskBytes(t, dir); n > 100_000 {
		t.Errorf("after sweeps of the capped store, the files take %d bytes, above its cap", n)
	}
}

// TestGetWhenIndexIsBehind has another store replace a value with a longer
// and then a shorter one: Get reads a file in one go when it has the length
// the index knows, and must neither serve a part of the new file nor call
// it corrupt when the length differs; the index learns the new length.
func TestGetWhenIndexIsBehind(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	a := newStore(t, dir, &filestore.Options{SweepInterval: -1})
	b := newStore(t, dir, &filestore.Options{SweepInterval: -1})
	set(t, a, "k", bytes.Repeat([]byte("a"), 1000), core.Meta{})
	for _, v := range [][]byte{
		bytes.Repeat([]byte("b"), 1001),  // one byte longer
		bytes.Repeat([]byte("c"), 5000),  // longer than twice
		bytes.Repeat([]byte("d"), 10),    // shorter
		bytes.Repeat([]byte("e"), 10),    // the same length, other bytes
		bytes.Repeat([]byte("f"), 1<<20), // large
	} {
		set(t, b, "k", v, core.Meta{})
		got, err := a.Get(ctx, "k")
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("a.Get after b stored %d bytes of %q = %d bytes, %v; want them", len(v), v[0], len(got), err)
		}
		if n := diskBytes(t, dir); a.IndexedBytes() != n {
			t.Errorf("after a.Get of the value b stored, a indexes %d bytes; the files take %d", a.IndexedBytes(), n)
		}
	}
}

func TestClosed(t *testing.T) {
	ctx := t.Context()
	s, err := filestore.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	set(t, s, "k", []byte("v"), core.Meta{})
	writeStream(t, s, "k", []byte("stream"), core.Meta{})
	rc, _, err := s.OpenStream(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	w, err := s.CreateStream(ctx, "k2", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ops := []struct {
		name string
		do   func() error
	}{
		{"Get", func() error { _, err := s.Get(ctx, "k"); return err }},
		{"Set", func() error { return s.Set(ctx, "k", []byte("v"), core.Meta{}) }},
		{"Delete", func() error { return s.Delete(ctx, "k") }},
		{"Clear", func() error { return s.Clear(ctx) }},
		{"List", func() error {
			for _, err := range s.List(ctx) {
				return err
			}
			return nil
		}},
		{"CreateStream", func() error { _, err := s.CreateStream(ctx, "k", core.Meta{}); return err }},
		{"OpenStream", func() error { _, _, err := s.OpenStream(ctx, "k"); return err }},
		{"Commit of a stream begun before Close", func() error {
			if _, err := w.Write([]byte("x")); err != nil {
				return err
			}
			return w.Commit()
		}},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			err := op.do()
			if !errors.Is(err, filestore.ErrClosed) || err.Error() != "filestore: closed" {
				t.Errorf("%s after Close = %v, want filestore.ErrClosed", op.name, err)
			}
		})
	}
	if got, err := io.ReadAll(rc); err != nil || string(got) != "stream" {
		t.Errorf("reading a stream opened before Close = %q, %v", got, err)
	}
	for rel := range walkFiles(t, s.Dir()) {
		if strings.Contains(rel, ".tmp-") {
			t.Errorf("temporary file %s left after a Commit failed", rel)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func TestStreamTooLarge(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := newStore(t, dir, &filestore.Options{MaxBytes: 64 << 10})
	writeStream(t, s, "k", []byte("previous"), core.Meta{})
	w, err := s.CreateStream(ctx, "k", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	for range 100 {
		if _, werr = w.Write(make([]byte, 1000)); werr != nil {
			break
		}
	}
	if !errors.Is(werr, filestore.ErrTooLarge) {
		t.Errorf("writing 100 KB to a store capped at 64 KiB: %v, want ErrTooLarge", werr)
	}
	if err := w.Commit(); !errors.Is(err, filestore.ErrTooLarge) {
		t.Errorf("Commit after ErrTooLarge = %v, want ErrTooLarge", err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Commit = %v, want nil", err)
	}
	if got := readStream(t, s, "k"); string(got) != "previous" {
		t.Errorf("stream after a failed Commit = %q, want %q", got, "previous")
	}
	for rel := range walkFiles(t, dir) {
		if strings.Contains(rel, ".tmp-") {
			t.Errorf("temporary file %s left", rel)
		}
	}
}

func TestStreamWriterMisuse(t *testing.T) {
	ctx := t.Context()
	s := newStore(t, t.TempDir(), nil)
	w, err := s.CreateStream(ctx, "k", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("y")); err == nil {
		t.Error("Write after Commit succeeded")
	}
	if err := w.Commit(); err == nil {
		t.Error("second Commit succeeded")
	}
	if got := readStream(t, s, "k"); string(got) != "x" {
		t.Errorf("stream = %q, want %q", got, "x")
	}
	// A cancelled context stops a stream being written.
	cctx, cancel := context.WithCancel(ctx)
	w, err = s.CreateStream(cctx, "k", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := w.Write([]byte("z")); !errors.Is(err, context.Canceled) {
		t.Errorf("Write with a cancelled context = %v, want context.Canceled", err)
	}
	if err := w.Commit(); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit with a cancelled context = %v, want context.Canceled", err)
	}
	if got := readStream(t, s, "k"); string(got) != "x" {
		t.Errorf("stream = %q, want %q", got, "x")
	}
}

func TestEmptyValueIsAHit(t *testing.T) {
	s := newStore(t, t.TempDir(), nil)
	for _, v := range [][]byte{nil, {}} {
		set(t, s, "empty", v, core.Meta{})
		got, err := s.Get(t.Context(), "empty")
		if err != nil {
			t.Fatalf("Get of an empty value: %v", err)
		}
		if got == nil || len(got) != 0 {
			t.Errorf("Get of an empty value = %#v, want a non-nil empty slice", got)
		}
	}
}

func TestLongMetaFields(t *testing.T) {
	ctx := t.Context()
	s := newStore(t, t.TempDir(), nil)
	meta := core.Meta{URL: "https://example.com/?q=" + strings.Repeat("x", 10_000), Method: "GET", Status: 200}
	set(t, s, "k", []byte("v"), meta)
	for item, err := range s.List(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if item.Meta.URL != meta.URL {
			t.Errorf("listed URL of %d bytes, want %d", len(item.Meta.URL), len(meta.URL))
		}
	}
	if err := s.Set(ctx, "k", nil, core.Meta{URL: strings.Repeat("x", 2<<20)}); err == nil {
		t.Error("Set with a 2 MiB URL succeeded")
	}
}

// TestConcurrentWithCap mixes every operation from many goroutines on a
// small cap, under -race: no error but misses, and the cap holds after.
func TestConcurrentWithCap(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	const maxBytes = 200_000
	s := newStore(t, dir, &filestore.Options{MaxBytes: maxBytes, SweepInterval: time.Millisecond, SweepBatch: 50})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 60 {
				key := fmt.Sprintf("k%d", (g*7+i)%24)
				var err error
				switch i % 6 {
				case 0, 1:
					err = s.Set(ctx, key, make([]byte, 1000*(i%20)), core.Meta{})
				case 2:
					_, err = s.Get(ctx, key)
				case 3:
					var w core.StreamWriter
					if w, err = s.CreateStream(ctx, key, core.Meta{}); err == nil {
						if _, err = w.Write(make([]byte, 5000)); err == nil {
							err = w.Commit()
						} else {
							_ = w.Abort()
						}
					}
				case 4:
					var rc io.ReadCloser
					if rc, _, err = s.OpenStream(ctx, key); err == nil {
						_, err = io.Copy(io.Discard, rc)
						rc.Close()
					}
				case 5:
					if i%12 == 5 {
						err = s.Delete(ctx, key)
					} else {
						for _, e := range s.List(ctx) {
							if e != nil {
								err = e
							}
						}
					}
				}
				if err != nil && !errors.Is(err, core.ErrNotFound) {
					t.Errorf("goroutine %d op %d: %v", g, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := diskBytes(t, dir); n > maxBytes {
		t.Errorf("files take %d bytes, above MaxBytes %d", n, maxBytes)
	}
	if got, want := s.IndexedBytes(), diskBytes(t, dir); got != want {
		t.Errorf("index counts %d bytes, files take %d", got, want)
	}
}

// clock is an injected clock for expiry and last access.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newStore(t testing.TB, dir string, opts *filestore.Options) *filestore.Store {
	t.Helper()
	s, err := filestore.New(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newClockStore(t *testing.T, dir string, opts *filestore.Options, c *clock) *filestore.Store {
	t.Helper()
	s, err := filestore.NewWithClock(dir, opts, c.now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func set(t testing.TB, s *filestore.Store, key string, value []byte, meta core.Meta) {
	t.Helper()
	if err := s.Set(context.Background(), key, value, meta); err != nil {
		t.Fatalf("Set(%q, %d bytes): %v", key, len(value), err)
	}
}

func writeStream(t testing.TB, s *filestore.Store, key string, data []byte, meta core.Meta) {
	t.Helper()
	w, err := s.CreateStream(context.Background(), key, meta)
	if err != nil {
		t.Fatalf("CreateStream(%q): %v", key, err)
	}
	if _, err := w.Write(data); err != nil {
		_ = w.Abort()
		t.Fatalf("Write: %v", err)
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func readStream(t *testing.T, s *filestore.Store, key string) []byte {
	t.Helper()
	rc, _, err := s.OpenStream(t.Context(), key)
	if err != nil {
		t.Fatalf("OpenStream(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func listKeys(t *testing.T, s *filestore.Store) []string {
	t.Helper()
	var keys []string
	for item, err := range s.List(t.Context()) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		keys = append(keys, item.Key)
	}
	// List yields in hash order; sort for comparisons.
	slices.Sort(keys)
	return keys
}

// keyPath is the documented path of the value (or stream) file of key.
func keyPath(dir, key string, stream bool) string {
	h := sha256.Sum256([]byte(key))
	p := filepath.Join(dir, hex.EncodeToString(h[:1]), hex.EncodeToString(h[:]))
	if stream {
		p += ".s"
	}
	return p
}

// walkFiles returns every regular file under root, by path relative to it.
func walkFiles(t testing.TB, root string) map[string]fs.FileInfo {
	t.Helper()
	files := map[string]fs.FileInfo{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		files[rel] = fi
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// diskBytes sums the sizes of the value and stream files under dir.
func diskBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	for rel, fi := range walkFiles(t, dir) {
		if !strings.Contains(rel, ".tmp-") {
			n += fi.Size()
		}
	}
	return n
}
