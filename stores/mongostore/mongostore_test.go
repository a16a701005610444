package mongostore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/mongostore"
)

// testDatabase holds every collection the tests create; each test creates
// its own collections in it, with random names, and drops them. It is this
// test process's own (see TestDatabase).
var testDatabase = mongostore.TestDatabase

// mongoURL returns the server the tests use, skipping (or failing, under
// HOARD_REQUIRE_SERVICES=1) when HOARD_TEST_MONGO_URL is unset.
func mongoURL(t testing.TB) string {
	t.Helper()
	return conformance.RequireService(t, "HOARD_TEST_MONGO_URL")
}

// connect returns a client of uri, disconnected at the end of the test.
func connect(t testing.TB, uri string) *mongo.Client {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatalf("mongo.Connect(%q): %v", uri, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Disconnect(ctx)
	})
	return client
}

// uniqueName returns a fresh collection name.
func uniqueName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "t_" + hex.EncodeToString(b[:])
}

// dropNamespace drops a collection and its GridFS bucket (named like it).
func dropNamespace(client *mongo.Client, db, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for _, c := range []string{name, name + ".files", name + ".chunks"} {
		if err := client.Database(db).Collection(c).Drop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// newStore makes a store over a fresh collection of client, dropped (with
// its bucket) when the test ends.
func newStore(t testing.TB, client *mongo.Client, opts *mongostore.Options) *mongostore.Store {
	t.Helper()
	o := mongostore.Options{}
	if opts != nil {
		o = *opts
	}
	if o.Database == "" {
		o.Database = testDatabase
	}
	if o.Collection == "" {
		o.Collection = uniqueName()
	}
	st, err := mongostore.New(t.Context(), client, &o)
	if err != nil {
		t.Fatalf("mongostore.New: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := dropNamespace(client, o.Database, o.Collection); err != nil {
			t.Errorf("dropping the test collections: %v", err)
		}
	})
	return st
}

// harness gives the conformance suite stores over fresh collections of one
// client, and at Close closes them (their sweeps stop before the client is
// disconnected) and drops their collections.
type harness struct {
	client *mongo.Client
	mu     sync.Mutex
	names  []string
	stores []*mongostore.Store
}

func newHarness(_ context.Context, t *testing.T) (conformance.StoreHarness, error) {
	uri := mongoURL(t)
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return nil, err
	}
	return &harness{client: client}, nil
}

func (h *harness) MakeStore(ctx context.Context) (core.Store, error) {
	name := uniqueName()
	h.mu.Lock()
	h.names = append(h.names, name)
	h.mu.Unlock()
	// New bounds its server check and index creation by
	// core.DefaultOpenTimeout (5 s) when ctx has no deadline. The test
	// server is one FerretDB shared by make test's parallel jobs, and
	// while the LargeBody job writes its 1 GiB into it, creating a new
	// collection's indexes has been seen to wait longer than that; what
	// the scenarios check starts once the store is open.
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Minute)
		defer cancel()
	}
	st, err := mongostore.New(ctx, h.client, &mongostore.Options{Database: testDatabase, Collection: name})
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.stores = append(h.stores, st)
	h.mu.Unlock()
	return st, nil
}

func (h *harness) Capabilities() conformance.Capabilities {
	return conformance.Capabilities{
		// Get filters on the deletion time with the store's clock, so an
		// entry stops being returned at Meta.Expires with or without a
		// server TTL index.
		NativeTTL: true,
		List:      true,
		Clear:     true,
		// Values live in one document (16 MiB at most, with the other
		// fields); the core streams larger bodies to GridFS.
		MaxValueSize: 8 << 20,
		Streaming:    true,
		StreamSeek:   true,
	}
}

func (h *harness) Close() {
	h.mu.Lock()
	names, stores := h.names, h.stores
	h.names, h.stores = nil, nil
	h.mu.Unlock()
	for _, st := range stores {
		_ = st.Close() // idempotent: a scenario may have closed it
	}
	for _, name := range names {
		_ = dropNamespace(h.client, testDatabase, name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = h.client.Disconnect(ctx)
}

func TestConformance(t *testing.T) {
	conformance.RunStoreTests(t, newHarness)
}

func TestDocumentsAreQueryable(t *testing.T) {
	client := connect(t, mongoURL(t))
	st := newStore(t, client, nil)
	ctx := t.Context()
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	expires := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	meta := core.Meta{URL: "https://example.com/a", Method: "GET", Status: 404, Created: created, Expires: expires}
	if err := st.Set(ctx, "GET https://example.com/a", []byte("encoded"), meta); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ID      string    `bson:"_id"`
		URL     string    `bson:"url"`
		Method  string    `bson:"method"`
		Status  int       `bson:"status"`
		Created time.Time `bson:"created"`
		Expires time.Time `bson:"expires"`
		Size    int64     `bson:"size"`
		Value   []byte    `bson:"value"`
	}
	coll := client.Database(testDatabase).Collection(st.Collection())
	if err := coll.FindOne(ctx, bson.D{{Key: "status", Value: 404}}).Decode(&doc); err != nil {
		t.Fatalf("finding the entry by status: %v", err)
	}
	if doc.ID != "GET https://example.com/a" || doc.URL != meta.URL || doc.Method != "GET" || doc.Size != 7 || string(doc.Value) != "encoded" {
		t.Errorf("document = %+v", doc)
	}
	if !doc.Created.Equal(created) || !doc.Expires.Equal(expires) {
		t.Errorf("created, expires = %v, %v; want %v, %v", doc.Created, doc.Expires, created, expires)
	}
	// A key that is not valid UTF-8 is stored under a binary _id.
	odd := "GET \xff\xfe"
	if err := st.Set(ctx, odd, []byte("x"), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	n, err := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: bson.Binary{Data: []byte(odd)}}})
	if err != nil || n != 1 {
		t.Errorf("documents with the binary _id of %q = %d, %v; want 1", odd, n, err)
	}
}

func TestNamespacesAreIsolated(t *testing.T) {
	client := connect(t, mongoURL(t))
	a := newStore(t, client, nil)
	b := newStore(t, client, nil)
	ctx := t.Context()
	for _, st := range []*mongostore.Store{a, b} {
		if err := st.Set(ctx, "k", []byte(st.Collection()), core.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, "k"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get after Clear: %v, want ErrNotFound", err)
	}
	got, err := b.Get(ctx, "k")
	if err != nil || string(got) != b.Collection() {
		t.Errorf("Get from the other namespace after Clear = %q, %v; want %q", got, err, b.Collection())
	}
}

func TestOpenStore(t *testing.T) {
	base := mongoURL(t)
	client := connect(t, base)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	with := func(params string) string {
		v := *u
		v.Path = "/"
		v.RawQuery = params
		return v.String()
	}
	tests := []struct {
		name       string
		params     string
		database   string
		gridfs     string // "" means the collection
		pathDB     string
		collection bool // a collection parameter is added
	}{
		{name: "collection", params: "database=" + testDatabase, database: testDatabase, collection: true},
		{name: "gridfs bucket", params: "database=" + testDatabase + "&gridfs=BUCKET", database: testDatabase, gridfs: "BUCKET", collection: true},
		{name: "database from the path", pathDB: testDatabase, database: testDatabase, collection: true},
		{name: "driver options pass through", params: "database=" + testDatabase + "&maxPoolSize=5&appName=hoard&sweep_interval=off&stream_timeout=10s&chunk_size=64KiB", database: testDatabase, collection: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := uniqueName()
			params := tc.params
			if tc.collection {
				if params != "" {
					params += "&"
				}
				params += "collection=" + name
			}
			gridfs := tc.gridfs
			if gridfs == "" {
				gridfs = name
			} else {
				gridfs = name + gridfs
				params = strings.Replace(params, "gridfs=BUCKET", "gridfs="+gridfs, 1)
			}
			dsn := with(params)
			if tc.pathDB != "" {
				v := *u
				v.Path = "/" + tc.pathDB
				v.RawQuery = params
				dsn = v.String()
			}
			st, err := core.OpenStore(t.Context(), dsn)
			if err != nil {
				t.Fatalf("OpenStore(%q): %v", dsn, err)
			}
			ms := st.(*mongostore.Store)
			t.Cleanup(func() {
				_ = ms.Close()
				_ = dropNamespace(client, tc.database, name)
				if gridfs != name {
					_ = dropNamespace(client, tc.database, gridfs)
				}
			})
			if ms.Database() != tc.database || ms.Collection() != name || ms.GridFS() != gridfs {
				t.Errorf("opened database %q, collection %q, bucket %q; want %q, %q, %q",
					ms.Database(), ms.Collection(), ms.GridFS(), tc.database, name, gridfs)
			}
			if err := st.Set(t.Context(), "k", []byte("v"), core.Meta{}); err != nil {
				t.Fatal(err)
			}
			if got, err := st.Get(t.Context(), "k"); err != nil || string(got) != "v" {
				t.Errorf("Get = %q, %v", got, err)
			}
			if err := ms.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if _, err := st.Get(t.Context(), "k"); !errors.Is(err, mongostore.ErrClosed) {
				t.Errorf("Get after Close = %v, want ErrClosed", err)
			}
		})
	}
}

func TestOpenStoreErrors(t *testing.T) {
	// These fail before any connection is made: no server needed.
	tests := []struct {
		dsn  string
		want string
	}{
		{"mongodb://127.0.0.1:1/?colection=x", `unknown parameter "colection"`},
		{"mongodb://127.0.0.1:1/?collection=a&collection=b", "given 2 times"},
		{"mongodb://127.0.0.1:1/?sweep_interval=soon", "sweep_interval"},
		{"mongodb://127.0.0.1:1/?stream_timeout=-1s", "stream_timeout"},
		{"mongodb://127.0.0.1:1/?chunk_size=1TB", "chunk_size"},
		{"mongodb://127.0.0.1:1/?chunk_size=12", "ChunkSize"},
		{"mongodb://127.0.0.1:1/?collection=a$b", "invalid Collection"},
		{"mongodb://127.0.0.1:1/?database=a.b", "invalid Database"},
		{"mongodb://127.0.0.1:1/#frag", "fragment"},
		{"mongodb://127.0.0.1:1/?lazy=soon", "lazy"},
		{"mongodb://127.0.0.1:1/?bogus=1", `"mongodb://127.0.0.1:1/?bogus=1"`},
		{"mongodb://127.0.0.1:1/?maxPoolSize=many", "maxPoolSize"},
	}
	for _, tc := range tests {
		t.Run(tc.dsn, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			st, err := core.OpenStore(ctx, tc.dsn)
			if err == nil {
				st.(*mongostore.Store).Close()
				t.Fatalf("OpenStore(%q) succeeded", tc.dsn)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "mongostore: ") {
				t.Errorf("OpenStore(%q) = %v; want a mongostore error mentioning %q", tc.dsn, err, tc.want)
			}
			if !errors.Is(err, core.ErrInvalidConfig) {
				t.Errorf("OpenStore(%q) = %v; want an error wrapping core.ErrInvalidConfig", tc.dsn, err)
			}
		})
	}
	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := core.OpenStore(ctx, "mongodb://127.0.0.1:1/"); !errors.Is(err, context.Canceled) || !errors.Is(err, core.ErrUnavailable) {
			t.Errorf("OpenStore with a cancelled context = %v, want context.Canceled and core.ErrUnavailable", err)
		}
	})
}

func TestNewErrors(t *testing.T) {
	if _, err := mongostore.New(t.Context(), nil, nil); !errors.Is(err, core.ErrInvalidConfig) {
		t.Errorf("New with a nil client = %v, want an error wrapping core.ErrInvalidConfig", err)
	}
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:1/"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	for _, opts := range []*mongostore.Options{
		{Database: "a/b"},
		{Collection: "system.x"},
		{GridFS: "x\x00"},
		{ChunkSize: 100},
		{ChunkSize: 64 << 20},
	} {
		t.Run(fmt.Sprintf("%+v", *opts), func(t *testing.T) {
			if _, err := mongostore.New(t.Context(), client, opts); err == nil || !strings.HasPrefix(err.Error(), "mongostore: ") || !errors.Is(err, core.ErrInvalidConfig) {
				t.Errorf("New(%+v) = %v, want a mongostore error wrapping core.ErrInvalidConfig", *opts, err)
			}
		})
	}
}

// logRecorder collects the messages logged through slog.Default while a
// test runs.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, rec.Message)
	r.mu.Unlock()
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func recordLogs(t *testing.T) *logRecorder {
	r := &logRecorder{}
	prev := slog.Default()
	slog.SetDefault(slog.New(r))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return r
}

// TestOpenChecksServer: OpenStore and New check the server within a short
// bound, and their errors name the address and say it is unavailable,
// without a misleading log line about TTL indexes; lazy=true opens without
// a server.
func TestOpenChecksServer(t *testing.T) {
	closed := conformance.ClosedAddr(t)
	hanging := conformance.HangingServer(t)
	tests := []struct {
		name    string
		dsn     string
		timeout time.Duration // 0: the default bound
		want    []string
	}{
		{"nothing listens", "mongodb://" + closed + "/", 0, []string{"mongostore: checking the server at " + closed, "refused"}},
		{"server never answers", "mongodb://" + hanging + "/", time.Second, []string{hanging, "deadline exceeded"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs := recordLogs(t)
			ctx := t.Context()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			start := time.Now()
			st, err := core.OpenStore(ctx, tc.dsn)
			if err == nil {
				st.(*mongostore.Store).Close()
				t.Fatalf("OpenStore(%q) succeeded, want an error", tc.dsn)
			}
			if d := time.Since(start); d > core.DefaultOpenTimeout+2*time.Second {
				t.Errorf("OpenStore took %v, want at most about %v", d, core.DefaultOpenTimeout)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want it to contain %q", err, w)
				}
			}
			if !errors.Is(err, core.ErrUnavailable) {
				t.Errorf("error %q, want one wrapping core.ErrUnavailable", err)
			}
			logs.mu.Lock()
			defer logs.mu.Unlock()
			if len(logs.msgs) > 0 {
				t.Errorf("OpenStore logged %q, want nothing (the error says it all)", logs.msgs)
			}
		})
	}
	t.Run("lazy", func(t *testing.T) {
		st, err := core.OpenStore(t.Context(), "mongodb://"+closed+"/?lazy=true&serverSelectionTimeoutMS=200")
		if err != nil {
			t.Fatalf("OpenStore with lazy=true: %v", err)
		}
		defer st.(*mongostore.Store).Close()
		if _, err := st.Get(t.Context(), "k"); err == nil || errors.Is(err, core.ErrNotFound) {
			t.Errorf("Get on a lazy store without a server = %v, want the connection error", err)
		}
	})
	t.Run("New", func(t *testing.T) {
		client, err := mongo.Connect(options.Client().ApplyURI("mongodb://" + closed + "/"))
		if err != nil {
			t.Fatal(err)
		}
		defer client.Disconnect(context.Background())
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := mongostore.New(ctx, client, nil); !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), closed) {
			t.Errorf("New over an unreachable server = %v, want ErrUnavailable naming %s", err, closed)
		}
		st, err := mongostore.New(t.Context(), client, &mongostore.Options{Lazy: true})
		if err != nil {
			t.Fatalf("New with Lazy over an unreachable server = %v, want nil", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}
