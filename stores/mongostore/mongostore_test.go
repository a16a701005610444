package mongostore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
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
// its own collections in it, with random names, and drops them.
const testDatabase = "hoard_test"

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
// client, and drops them at Close.
type harness struct {
	client *mongo.Client
	mu     sync.Mutex
	names  []string
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
	return mongostore.New(ctx, h.client, &mongostore.Options{Database: testDatabase, Collection: name})
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
	}
}

func (h *harness) Close() {
	h.mu.Lock()
	names := h.names
	h.names = nil
	h.mu.Unlock()
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
		})
	}
	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := core.OpenStore(ctx, "mongodb://127.0.0.1:1/"); !errors.Is(err, context.Canceled) {
			t.Errorf("OpenStore with a cancelled context = %v, want context.Canceled", err)
		}
	})
}

func TestNewErrors(t *testing.T) {
	if _, err := mongostore.New(t.Context(), nil, nil); err == nil {
		t.Error("New with a nil client succeeded")
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
			if _, err := mongostore.New(t.Context(), client, opts); err == nil || !strings.HasPrefix(err.Error(), "mongostore: ") {
				t.Errorf("New(%+v) = %v, want a mongostore error", *opts, err)
			}
		})
	}
}
