package mongostore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
)

// clock is an injectable clock for the store, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

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

// newClockedStore makes a store over a fresh collection with an injected
// clock, dropped with its bucket when the test ends.
func newClockedStore(t *testing.T, opts Options) (*Store, *clock) {
	t.Helper()
	uri := conformance.RequireService(t, "HOARD_TEST_MONGO_URL")
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	opts.Database = TestDatabase
	opts.Collection = "t_" + hex.EncodeToString(b[:])
	c := &clock{t: time.Now()}
	st, err := newStore(t.Context(), client, &opts, c.now, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, coll := range []*mongo.Collection{st.entries, st.files, st.chunks} {
			_ = coll.Drop(ctx)
		}
		_ = client.Disconnect(ctx)
	})
	return st, c
}

// ids lists the _id of every document of coll, sorted (keys for entries,
// hex object ids for GridFS files).
func ids(t *testing.T, coll *mongo.Collection) []string {
	t.Helper()
	cur, err := coll.Find(t.Context(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(t.Context())
	var out []string
	for cur.Next(t.Context()) {
		v := cur.Current.Lookup("_id")
		if k, ok := keyOf(v); ok {
			out = append(out, k)
		} else if oid, ok := v.ObjectIDOK(); ok {
			out = append(out, oid.Hex())
		}
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// writeStream commits data as the stream of key.
func writeStream(t *testing.T, st *Store, key string, data []byte, meta core.Meta) {
	t.Helper()
	w, err := st.CreateStream(t.Context(), key, meta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		_ = w.Abort()
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSweep(t *testing.T) {
	st, clk := newClockedStore(t, Options{SweepInterval: -1, ChunkSize: MinChunkSize})
	ctx := t.Context()
	now := clk.now()
	hour := now.Add(time.Hour)
	day := now.Add(24 * time.Hour)
	body := make([]byte, 3*MinChunkSize+1) // several chunks

	set := func(key string, expires time.Time) {
		t.Helper()
		if err := st.Set(ctx, key, []byte(key), core.Meta{Expires: expires, Size: int64(len(key))}); err != nil {
			t.Fatal(err)
		}
	}
	set("short", hour)
	set("short-streamed", hour)
	writeStream(t, st, "short-streamed", body, core.Meta{Expires: hour})
	writeStream(t, st, "short-stream-only", body, core.Meta{Expires: hour})
	set("long", day)
	writeStream(t, st, "long", body, core.Meta{Expires: day})
	set("forever", time.Time{})
	// A body whose entry the server's TTL monitor removed: its file is
	// left behind with its own deletion time.
	writeStream(t, st, "ttl-removed", body, core.Meta{Expires: hour})
	if _, err := st.entries.DeleteOne(ctx, bson.D{{Key: "_id", Value: "ttl-removed"}}); err != nil {
		t.Fatal(err)
	}
	if n := len(ids(t, st.files)); n != 4 {
		t.Fatalf("%d GridFS files before the sweep, want 4", n)
	}

	// Nothing is due yet.
	if n, err := st.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("Sweep before any deletion time = %d, %v; want 0, nil", n, err)
	}

	clk.advance(2 * time.Hour)
	// Expired entries are not served before the sweep removes them.
	for _, key := range []string{"short", "short-streamed"} {
		if _, err := st.Get(ctx, key); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("Get(%q) after its deletion time = %v, want ErrNotFound", key, err)
		}
	}
	for _, key := range []string{"short-streamed", "short-stream-only"} {
		if _, _, err := st.OpenStream(ctx, key); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("OpenStream(%q) after its deletion time = %v, want ErrNotFound", key, err)
		}
	}

	n, err := st.Sweep(ctx)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	// short, short-streamed, short-stream-only, and the file of ttl-removed.
	if n != 4 {
		t.Errorf("Sweep removed %d, want 4", n)
	}
	if got, want := ids(t, st.entries), []string{"forever", "long"}; !equal(got, want) {
		t.Errorf("entries after the sweep = %q, want %q", got, want)
	}
	raw, err := st.entries.FindOne(ctx, bson.D{{Key: "_id", Value: "long"}}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	longFile, _ := streamFile(raw)
	if got := ids(t, st.files); !equal(got, []string{longFile.Hex()}) {
		t.Errorf("GridFS files after the sweep = %q, want only the live one %s", got, longFile.Hex())
	}
	var chunkFiles []string
	cur, err := st.chunks.Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	for cur.Next(ctx) {
		if id, ok := cur.Current.Lookup("files_id").ObjectIDOK(); !ok || id != longFile {
			chunkFiles = append(chunkFiles, id.Hex())
		}
	}
	cur.Close(ctx)
	if len(chunkFiles) != 0 {
		t.Errorf("chunks of removed files left behind: %q", chunkFiles)
	}
	rc, size, err := st.OpenStream(ctx, "long")
	if err != nil || size != int64(len(body)) {
		t.Errorf("OpenStream(long) after the sweep = %d, %v", size, err)
	} else {
		rc.Close()
	}

	// A second sweep finds nothing.
	if n, err := st.Sweep(ctx); err != nil || n != 0 {
		t.Errorf("second Sweep = %d, %v; want 0, nil", n, err)
	}
}

func TestSweepRechecksExpiry(t *testing.T) {
	// An entry rewritten with a later deletion time between the sweep's
	// query and its delete must survive: the delete checks again.
	st, clk := newClockedStore(t, Options{SweepInterval: -1})
	ctx := t.Context()
	if err := st.Set(ctx, "k", []byte("old"), core.Meta{Expires: clk.now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Minute)
	if err := st.Set(ctx, "k", []byte("new"), core.Meta{Expires: clk.now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n, err := st.Sweep(ctx); err != nil || n != 0 {
		t.Errorf("Sweep = %d, %v; want 0, nil", n, err)
	}
	if got, err := st.Get(ctx, "k"); err != nil || string(got) != "new" {
		t.Errorf("Get = %q, %v; want the rewritten value", got, err)
	}
}

func TestBackgroundSweep(t *testing.T) {
	st, clk := newClockedStore(t, Options{SweepInterval: 10 * time.Millisecond})
	ctx := t.Context()
	for _, key := range []string{"a", "b", "c"} {
		if err := st.Set(ctx, key, []byte(key), core.Meta{Expires: clk.now().Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	clk.advance(time.Hour)
	// The background sweep runs every 10ms; poll, bounded.
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := st.entries.CountDocuments(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d expired entries still stored 10s after their deletion time", n)
		}
		<-tick.C
	}
	// Close stops the sweeper and returns (the test would hang otherwise).
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Sweep(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Sweep after Close = %v, want ErrClosed", err)
	}
}

func TestTTLIndex(t *testing.T) {
	st, _ := newClockedStore(t, Options{SweepInterval: -1})
	cur, err := st.entries.Indexes().List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(t.Context())
	found := false
	for cur.Next(t.Context()) {
		keys, err := cur.Current.LookupErr("key")
		if err != nil {
			continue
		}
		if _, err := keys.Document().LookupErr(fExpires); err != nil {
			continue
		}
		found = true
		_, hasTTL := intOf(cur.Current.Lookup("expireAfterSeconds"))
		if hasTTL != st.NativeTTL() {
			t.Errorf("index on %s has a TTL: %v; NativeTTL() = %v", fExpires, hasTTL, st.NativeTTL())
		}
	}
	if !found {
		t.Errorf("no index on %s", fExpires)
	}
	t.Logf("NativeTTL = %v", st.NativeTTL())
}

// TestLazyCreatesIndexes: a store opened lazily creates its indexes in the
// background once the server answers.
func TestLazyCreatesIndexes(t *testing.T) {
	st, _ := newClockedStore(t, Options{SweepInterval: -1, Lazy: true})
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := 0
		cur, err := st.entries.Indexes().List(t.Context())
		if err == nil {
			for cur.Next(t.Context()) {
				n++
			}
			cur.Close(t.Context())
		}
		if n >= 4 { // _id, expires, pending, stream.file
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d indexes on the entries after 20s (last error %v), want at least 4", n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
