package mongostore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/auth"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/hoardhttp/hoard/core"
)

// Defaults applied to zero Options fields.
const (
	// DefaultDatabase is the database used when Options.Database is empty.
	DefaultDatabase = "hoard"
	// DefaultCollection is the collection used when Options.Collection is
	// empty.
	DefaultCollection = "hoard"
	// DefaultChunkSize is the GridFS chunk size used when Options.ChunkSize
	// is 0: 255 KiB, the size GridFS tools use.
	DefaultChunkSize = 255 << 10
	// DefaultSweepInterval is the period of the background sweep when
	// Options.SweepInterval is 0.
	DefaultSweepInterval = time.Minute
	// DefaultStreamTimeout bounds each stream operation when
	// Options.StreamTimeout is 0.
	DefaultStreamTimeout = 30 * time.Second
	// MaxChunkSize is the largest Options.ChunkSize accepted: 8 MiB, well
	// below the 16 MiB limit of a MongoDB document.
	MaxChunkSize = 8 << 20
	// MinChunkSize is the smallest Options.ChunkSize accepted: 1 KiB.
	MinChunkSize = 1 << 10
)

// sweepBatch bounds the work of one sweep: at most this many expired
// entries, expired GridFS files, stream-only documents and files checked for
// a reference are handled per run.
const sweepBatch = 500

// orphanGrace is how old the leftovers of a writer that died after
// committing a stream must be before the sweep removes them: a document that
// holds only a stream (the core writes the value immediately after the
// commit) and a GridFS file that no document refers to. A few minutes leave
// room for a slow write.
const orphanGrace = 5 * time.Minute

// writerGrace is how long a stream writer may go without writing a chunk
// before the sweep takes the chunks of its unfinished stream (no files
// document yet) for the remains of a writer that died.
const writerGrace = time.Hour

// ErrClosed is returned by every method of a Store after Close.
var ErrClosed = errors.New("mongostore: closed")

// errNotFound is what Get and OpenStream return on a miss: core.ErrNotFound
// with the package prefix, built once so that a miss does not allocate.
var errNotFound = fmt.Errorf("mongostore: %w", core.ErrNotFound)

// Options configures a Store. A nil *Options means all defaults. Each field
// is mirrored by a DSN parameter (see the package documentation).
type Options struct {
	// Database is the database holding the collections. Empty means the
	// database named in the connection URI's path, else DefaultDatabase.
	// DSN parameter: database.
	Database string
	// Collection is the collection holding the entries: the store's
	// namespace. Stores with different collections never see each other's
	// entries. Empty means DefaultCollection.
	// DSN parameter: collection.
	Collection string
	// GridFS is the name of the GridFS bucket holding large bodies (the
	// collections <GridFS>.files and <GridFS>.chunks). Empty means the
	// collection name, so that a namespace's entries and bodies sit side by
	// side. Two stores must not share a bucket unless they share the
	// collection too.
	// DSN parameter: gridfs.
	GridFS string
	// ChunkSize is the size of the GridFS chunks a stream is cut into, in
	// bytes, between MinChunkSize and MaxChunkSize. 0 means
	// DefaultChunkSize. A stream writer holds one chunk in memory.
	// DSN parameter: chunk_size (for example chunk_size=1MiB).
	ChunkSize int
	// SweepInterval is the period of the background sweep that removes
	// expired entries and bodies (needed where the server has no TTL
	// indexes, and for GridFS files, which TTL indexes do not reach). 0
	// means DefaultSweepInterval; a negative value disables the background
	// sweep (call Sweep yourself).
	// DSN parameter: sweep_interval (a Go duration such as 30s; "off"
	// disables it).
	SweepInterval time.Duration
	// StreamTimeout bounds each database operation a stream writer or
	// reader performs (one chunk written, one batch of chunks read). Those
	// run while the caller reads a response body, outside the core's
	// per-operation store timeout. 0 means DefaultStreamTimeout; a negative
	// value means no bound beyond the context and the client's own timeouts.
	// DSN parameter: stream_timeout (a Go duration; "off" for no bound).
	StreamTimeout time.Duration
	// Lazy makes New skip its check of the server, for programs that must
	// start while MongoDB is down: the indexes are then created in the
	// background once the server answers, and until then operations fail
	// and the cache fails open.
	// DSN parameter: lazy=true.
	Lazy bool
}

// Store is a core.Store that keeps entries as documents of a MongoDB
// collection and large bodies in a GridFS bucket. It also implements
// core.Lister, core.Clearer, core.Streamer and io.Closer. Create it with New
// or core.OpenStore; the zero value is not usable.
type Store struct {
	client     *mongo.Client
	ownsClient bool
	database   string
	collection string
	bucket     string
	entries    *mongo.Collection
	files      *mongo.Collection
	chunks     *mongo.Collection

	chunkSize     int
	streamTimeout time.Duration
	nativeTTL     atomic.Bool
	now           func() time.Time // the store's clock; time.Now outside tests
	logger        *slog.Logger
	// where names the servers in open errors ("" when New was given a
	// client, whose driver errors name them).
	where string

	// life is the context of background work (the sweeper, the removal of
	// replaced GridFS files, disconnecting an owned client): New's context
	// without its cancellation, cancelled by Close.
	life       context.Context
	cancelLife context.CancelFunc
	sweeper    sync.WaitGroup
	// fileCursor is where the sweep's check for GridFS files without a
	// document resumes (the zero id: from the start).
	// chunkCursor is where the check for chunks of unfinished streams
	// resumes (a files_id).
	fileCursorMu sync.Mutex
	fileCursor   bson.ObjectID
	chunkCursor  bson.ObjectID
	closed       atomic.Bool
	closeOnce    sync.Once
	closeErr     error
}

var (
	_ core.Store    = (*Store)(nil)
	_ core.Lister   = (*Store)(nil)
	_ core.Clearer  = (*Store)(nil)
	_ core.Streamer = (*Store)(nil)
	_ io.Closer     = (*Store)(nil)
)

// Field names of an entry document.
const (
	fID      = "_id"
	fURL     = "url"
	fMethod  = "method"
	fStatus  = "status"
	fCreated = "created"
	fExpires = "expires"
	fSize    = "size"
	fValue   = "value"
	fStream  = "stream"
	// fPending is set (to the commit time) on a document that a stream's
	// Commit created, until Set writes its value.
	fPending = "pending"
	// Fields of the stream sub-document.
	fStreamFile    = "file"
	fStreamSize    = "size"
	fStreamExpires = "expires"
)

// codeNotImplemented is the server error code for an unsupported feature
// (FerretDB answers it to TTL indexes).
const codeNotImplemented = 238

// New returns a Store over client configured by opts (nil means defaults).
// It checks the server with a ping, bounded by ctx and, when ctx has no
// deadline, by core.DefaultOpenTimeout (so an unreachable server fails in
// seconds, not after the driver's 30 s server selection); creates the
// indexes it needs (a TTL index on the deletion time when the server
// supports one, a plain index otherwise), bounded the same way; and starts
// the background sweep. Its errors wrap core.ErrInvalidConfig (invalid
// options; the server refused a command or the credentials) or
// core.ErrUnavailable (no server could be reached, or it did not answer in
// time). With opts.Lazy it contacts nothing and creates the indexes in the
// background once the server answers. The client stays the caller's: Close
// does not disconnect it.
func New(ctx context.Context, client *mongo.Client, opts *Options) (*Store, error) {
	return newStore(ctx, client, opts, time.Now, "")
}

// newStore is New with the store's clock, which tests replace, and a
// description of the servers for error messages.
func newStore(ctx context.Context, client *mongo.Client, opts *Options, now func() time.Time, where string) (*Store, error) {
	if client == nil {
		return nil, core.InvalidConfig(errors.New("mongostore: New: nil client"))
	}
	if err := ctx.Err(); err != nil {
		return nil, core.Unavailable(fmt.Errorf("mongostore: New: %w", err))
	}
	cfg, err := resolve(opts)
	if err != nil {
		return nil, core.InvalidConfig(err)
	}
	db := client.Database(cfg.Database)
	s := &Store{
		client:        client,
		database:      cfg.Database,
		collection:    cfg.Collection,
		bucket:        cfg.GridFS,
		entries:       db.Collection(cfg.Collection),
		files:         db.Collection(cfg.GridFS + ".files"),
		chunks:        db.Collection(cfg.GridFS + ".chunks"),
		chunkSize:     cfg.ChunkSize,
		streamTimeout: cfg.StreamTimeout,
		now:           now,
		logger:        slog.Default(),
		where:         where,
	}
	if !cfg.Lazy {
		if err := s.open(ctx); err != nil {
			return nil, err
		}
	}
	s.life, s.cancelLife = context.WithCancel(context.WithoutCancel(ctx))
	if cfg.Lazy {
		s.sweeper.Add(1)
		go s.indexLoop()
	}
	if cfg.SweepInterval > 0 {
		s.sweeper.Add(1)
		go s.sweepLoop(cfg.SweepInterval)
	}
	return s, nil
}

// open checks the server and creates the indexes, each bounded by
// core.OpenContext.
func (s *Store) open(ctx context.Context) error {
	pctx, cancel := core.OpenContext(ctx)
	err := s.client.Ping(pctx, readpref.Primary())
	if err != nil {
		err = s.openErr(pctx, "checking the server", err)
	}
	cancel()
	if err != nil {
		return err
	}
	ictx, cancel := core.OpenContext(ctx)
	defer cancel()
	if err := s.createIndexes(ictx); err != nil {
		return s.openErr(ictx, "creating indexes", err)
	}
	return nil
}

// openErr wraps an error of open once, naming the servers, and classifies
// it: no server reached in time is unavailable; a server that refused the
// credentials or a command is a configuration error.
func (s *Store) openErr(ctx context.Context, what string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w (%w)", cerr, err)
	}
	where := ""
	if s.where != "" {
		where = " at " + s.where
	}
	err = fmt.Errorf("mongostore: %s%s: %w", what, where, trimmed(err))
	var (
		ae  *auth.Error
		sse topology.ServerSelectionError
	)
	switch {
	case errors.As(err, &ae):
		return core.InvalidConfig(err)
	case ctx.Err() != nil, mongo.IsTimeout(err), mongo.IsNetworkError(err), errors.As(err, &sse):
		return core.Unavailable(err)
	}
	return core.InvalidConfig(err)
}

// trimmed returns err, or for a driver error whose message starts with a
// space (the driver's errors without a name do) err with that space
// dropped from its message, errors.Is and errors.As still reaching it.
func trimmed(err error) error {
	if err == nil || !strings.HasPrefix(err.Error(), " ") {
		return err
	}
	return trimmedError{err}
}

type trimmedError struct{ err error }

func (e trimmedError) Error() string { return strings.TrimLeft(e.err.Error(), " ") }
func (e trimmedError) Unwrap() error { return e.err }

// indexLoop creates the indexes of a store opened lazily, retrying with a
// growing pause (up to a minute) until the server answers or Close.
func (s *Store) indexLoop() {
	defer s.sweeper.Done()
	pause := time.Second
	for {
		ctx, cancel := core.OpenContext(s.life)
		err := s.createIndexes(ctx)
		cancel()
		if err == nil || s.life.Err() != nil {
			return
		}
		var ce mongo.CommandError
		if errors.As(err, &ce) {
			// The server answered and refused: trying again will not help.
			s.logger.LogAttrs(s.life, slog.LevelWarn, "mongostore: creating indexes failed; the store works without them, more slowly",
				slog.String("collection", s.collection), slog.Any("error", err))
			return
		}
		s.logger.LogAttrs(s.life, slog.LevelDebug, "mongostore: creating indexes; retrying",
			slog.String("collection", s.collection), slog.Duration("pause", pause), slog.Any("error", err))
		t := time.NewTimer(pause)
		select {
		case <-s.life.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(2*pause, time.Minute)
	}
}

// resolve validates opts and applies the defaults.
func resolve(opts *Options) (Options, error) {
	var cfg Options
	if opts != nil {
		cfg = *opts
	}
	if cfg.Database == "" {
		cfg.Database = DefaultDatabase
	}
	if cfg.Collection == "" {
		cfg.Collection = DefaultCollection
	}
	if cfg.GridFS == "" {
		cfg.GridFS = cfg.Collection
	}
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	if cfg.StreamTimeout == 0 {
		cfg.StreamTimeout = DefaultStreamTimeout
	}
	if strings.ContainsAny(cfg.Database, "/\\. \"$\x00") || len(cfg.Database) > 63 {
		return cfg, fmt.Errorf("mongostore: invalid Database %q (at most 63 bytes, none of / \\ . space \" $ NUL)", cfg.Database)
	}
	for _, n := range []struct{ field, name string }{{"Collection", cfg.Collection}, {"GridFS", cfg.GridFS}} {
		if strings.ContainsAny(n.name, "$\x00") || strings.HasPrefix(n.name, "system.") || !utf8.ValidString(n.name) {
			return cfg, fmt.Errorf("mongostore: invalid %s %q (no $ or NUL, valid UTF-8, not system.*)", n.field, n.name)
		}
	}
	if cfg.ChunkSize < MinChunkSize || cfg.ChunkSize > MaxChunkSize {
		return cfg, fmt.Errorf("mongostore: ChunkSize is %d; want 0 (the default) or %d to %d", cfg.ChunkSize, MinChunkSize, MaxChunkSize)
	}
	return cfg, nil
}

// createIndexes creates the indexes of the entries and of the GridFS bucket.
// They are idempotent; New calls it every time.
func (s *Store) createIndexes(ctx context.Context) error {
	ttl := mongo.IndexModel{
		Keys:    bson.D{{Key: fExpires, Value: 1}},
		Options: options.Index().SetExpireAfterSeconds(0),
	}
	_, err := s.entries.Indexes().CreateOne(ctx, ttl)
	var ce mongo.CommandError
	switch {
	case err == nil:
		s.nativeTTL.Store(true)
	case !errors.As(err, &ce):
		// Not the server's answer (a network error, a timeout): nothing is
		// known about TTL indexes.
		return fmt.Errorf("the TTL index on %s.%s: %w", s.collection, fExpires, err)
	default:
		// The server refused a TTL index (FerretDB answers NotImplemented;
		// a server may also hold a conflicting index on the field): the
		// store filters on expires in Get and the sweeper deletes what
		// expired, helped by a plain index.
		if ce.Code != codeNotImplemented {
			s.logger.LogAttrs(ctx, slog.LevelInfo, "mongostore: no TTL index; expired entries are swept instead",
				slog.String("collection", s.collection), slog.Any("error", err))
		}
		if _, err := s.entries.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: fExpires, Value: 1}}}); err != nil {
			return fmt.Errorf("the index on %s.%s: %w", s.collection, fExpires, err)
		}
	}
	// The GridFS indexes: chunks by file and position (what every GridFS
	// reader expects), files by deletion time (for the sweeper).
	if _, err := s.chunks.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "files_id", Value: 1}, {Key: "n", Value: 1}},
		Options: options.Index().SetUnique(true),
	}); err != nil {
		return fmt.Errorf("the index of %s.chunks: %w", s.bucket, err)
	}
	if _, err := s.files.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: "metadata.expires", Value: 1}},
	}); err != nil {
		return fmt.Errorf("the index of %s.files: %w", s.bucket, err)
	}
	// The sweep finds documents that hold only a stream, and the document
	// that refers to a GridFS file.
	for _, field := range []string{fPending, fStream + "." + fStreamFile} {
		if _, err := s.entries.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: field, Value: 1}}}); err != nil {
			return fmt.Errorf("the index on %s.%s: %w", s.collection, field, err)
		}
	}
	return nil
}

// Database reports the name of the database the store uses.
func (s *Store) Database() string { return s.database }

// Collection reports the name of the collection holding the entries.
func (s *Store) Collection() string { return s.collection }

// GridFS reports the name of the GridFS bucket holding large bodies.
func (s *Store) GridFS() string { return s.bucket }

// NativeTTL reports whether the server accepted a TTL index on the entries'
// deletion time, so that it removes expired entries itself. Either way Get
// never returns an expired entry.
func (s *Store) NativeTTL() bool { return s.nativeTTL.Load() }

// docID is the _id of key's document: the key itself when it is valid
// UTF-8 (readable in Mongo tools), its bytes as BSON binary otherwise (BSON
// strings must be UTF-8). Distinct keys have distinct ids.
func docID(key string) any {
	if utf8.ValidString(key) {
		return key
	}
	return bson.Binary{Subtype: bson.TypeBinaryGeneric, Data: []byte(key)}
}

// keyOf turns a document _id back into its key.
func keyOf(v bson.RawValue) (string, bool) {
	if s, ok := v.StringValueOK(); ok {
		return s, true
	}
	if _, data, ok := v.BinaryOK(); ok {
		return string(data), true
	}
	return "", false
}

// expired reports whether a deletion time t has passed at now; the zero time
// never expires.
func expired(t, now time.Time) bool { return !t.IsZero() && !now.Before(t) }

// dateOf reads an optional BSON date.
func dateOf(v bson.RawValue) time.Time {
	if dt, ok := v.DateTimeOK(); ok {
		return time.UnixMilli(dt)
	}
	return time.Time{}
}

// intOf reads a BSON integer of either width, or a double.
func intOf(v bson.RawValue) (int64, bool) {
	switch v.Type {
	case bson.TypeInt32:
		return int64(v.Int32()), true
	case bson.TypeInt64:
		return v.Int64(), true
	case bson.TypeDouble:
		return int64(v.Double()), true
	}
	return 0, false
}

// check returns the error an operation must fail with before it starts: a
// done ctx or a closed store.
func (s *Store) check(ctx context.Context, op, key string) error {
	if err := ctx.Err(); err != nil {
		return opError(op, key, err)
	}
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// opError wraps a backend error once with the operation and key.
func opError(op, key string, err error) error {
	err = trimmed(err)
	if key == "" {
		return fmt.Errorf("mongostore: %s: %w", op, err)
	}
	return fmt.Errorf("mongostore: %s %q: %w", op, key, err)
}

var getOpts = options.FindOne().SetProjection(bson.D{{Key: fValue, Value: 1}, {Key: fExpires, Value: 1}})

// Get returns the value stored under key. A missing key, a key holding only
// a stream, and a key whose deletion time has passed (whether or not the
// server has removed it yet) give an error wrapping core.ErrNotFound. The
// returned slice is the driver's freshly read reply, not shared with
// anything else.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.check(ctx, "get", key); err != nil {
		return nil, err
	}
	raw, err := s.entries.FindOne(ctx, bson.D{{Key: fID, Value: docID(key)}}, getOpts).Raw()
	if err != nil {
		if errors.Is(err, mongo.ErrNoDocuments) {
			return nil, errNotFound
		}
		return nil, opError("get", key, err)
	}
	if expired(dateOf(raw.Lookup(fExpires)), s.now()) {
		return nil, errNotFound
	}
	_, data, ok := raw.Lookup(fValue).BinaryOK()
	if !ok {
		return nil, errNotFound
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

var upsert = options.UpdateOne().SetUpsert(true)

// Set stores value under key with meta's fields as queryable fields of the
// document, replacing any previous value (a stream of the key is kept). A
// meta.Expires that has passed deletes the key, value and stream.
func (s *Store) Set(ctx context.Context, key string, value []byte, meta core.Meta) error {
	if err := s.check(ctx, "set", key); err != nil {
		return err
	}
	if expired(meta.Expires, s.now()) {
		if err := s.remove(ctx, key); err != nil {
			return opError("set", key, err)
		}
		return nil
	}
	if value == nil {
		value = []byte{}
	}
	set := bson.D{
		{Key: fURL, Value: meta.URL},
		{Key: fMethod, Value: meta.Method},
		{Key: fStatus, Value: meta.Status},
		{Key: fSize, Value: int64(len(value))},
		{Key: fValue, Value: bson.Binary{Subtype: bson.TypeBinaryGeneric, Data: value}},
	}
	unset := bson.D{{Key: fPending, Value: ""}}
	if meta.Created.IsZero() {
		unset = append(unset, bson.E{Key: fCreated, Value: ""})
	} else {
		set = append(set, bson.E{Key: fCreated, Value: meta.Created})
	}
	if meta.Expires.IsZero() {
		unset = append(unset, bson.E{Key: fExpires, Value: ""})
	} else {
		set = append(set, bson.E{Key: fExpires, Value: meta.Expires})
	}
	update := bson.D{{Key: "$set", Value: set}, {Key: "$unset", Value: unset}}
	filter := bson.D{{Key: fID, Value: docID(key)}}
	_, err := s.entries.UpdateOne(ctx, filter, update, upsert)
	// Two upserts of a new key raced and the other inserted first: the
	// document exists now, so the update applies to it. With deletes of the
	// key racing too, the retry can meet another such race (seen with
	// FerretDB in CI), each one a write of another writer that succeeded:
	// a few attempts, bounded.
	for attempt := 1; attempt < setUpsertAttempts && mongo.IsDuplicateKeyError(err); attempt++ {
		_, err = s.entries.UpdateOne(ctx, filter, update, upsert)
	}
	if err != nil {
		return opError("set", key, err)
	}
	return nil
}

// Delete removes key: its value and its stream. Deleting a missing key is
// not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.check(ctx, "delete", key); err != nil {
		return err
	}
	if err := s.remove(ctx, key); err != nil {
		return opError("delete", key, err)
	}
	return nil
}

// remove deletes key's document and then the GridFS file it points at.
// findOneAndDelete tells atomically which file that was, so a concurrent
// Commit never loses its file to this removal.
func (s *Store) remove(ctx context.Context, key string) error {
	raw, err := s.entries.FindOneAndDelete(ctx, bson.D{{Key: fID, Value: docID(key)}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		return err
	}
	if fid, ok := streamFile(raw); ok {
		if err := s.deleteFiles(ctx, fid); err != nil {
			return fmt.Errorf("removing its GridFS file: %w", err)
		}
	}
	return nil
}

// streamFile returns the GridFS file id an entry document points at.
func streamFile(doc bson.Raw) (bson.ObjectID, bool) {
	v, err := doc.LookupErr(fStream, fStreamFile)
	if err != nil {
		return bson.ObjectID{}, false
	}
	return v.ObjectIDOK()
}

// deleteFiles removes GridFS files, the files documents first so that
// readers stop finding them before their chunks go.
func (s *Store) deleteFiles(ctx context.Context, ids ...bson.ObjectID) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := s.files.DeleteMany(ctx, bson.D{{Key: fID, Value: bson.D{{Key: "$in", Value: ids}}}}); err != nil {
		return err
	}
	_, err := s.chunks.DeleteMany(ctx, bson.D{{Key: "files_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	return err
}

var listOpts = options.Find().SetProjection(bson.D{{Key: fValue, Value: 0}, {Key: fStream, Value: 0}})

// List yields every live entry with its Meta, in no particular order, from a
// cursor over the collection: entries written meanwhile may or may not
// appear. Expired entries and keys holding only a stream are not yielded. On
// error List yields a zero core.Listed with the error and stops.
func (s *Store) List(ctx context.Context) iter.Seq2[core.Listed, error] {
	return s.ListFilter(ctx, core.ListFilter{})
}

// ListFilter is List restricted to the items f selects, by a query on the
// url (an anchored regular expression per prefix), method and status
// fields, so that only those documents leave the server
// (core.FilterLister).
func (s *Store) ListFilter(ctx context.Context, f core.ListFilter) iter.Seq2[core.Listed, error] {
	return func(yield func(core.Listed, error) bool) {
		if err := s.check(ctx, "list", ""); err != nil {
			yield(core.Listed{}, err)
			return
		}
		cur, err := s.entries.Find(ctx, listQuery(f), listOpts)
		if err != nil {
			yield(core.Listed{}, opError("list", "", err))
			return
		}
		defer cur.Close(context.WithoutCancel(ctx))
		now := s.now()
		for cur.Next(ctx) {
			doc := cur.Current
			key, ok := keyOf(doc.Lookup(fID))
			if !ok {
				continue // not a document this package wrote
			}
			meta := core.Meta{
				Expires: dateOf(doc.Lookup(fExpires)),
				Created: dateOf(doc.Lookup(fCreated)),
			}
			if expired(meta.Expires, now) {
				continue
			}
			meta.URL, _ = doc.Lookup(fURL).StringValueOK()
			meta.Method, _ = doc.Lookup(fMethod).StringValueOK()
			status, _ := intOf(doc.Lookup(fStatus))
			meta.Status = int(status)
			meta.Size, _ = intOf(doc.Lookup(fSize))
			if !yield(core.Listed{Key: key, Meta: meta}, nil) {
				return
			}
		}
		if err := cur.Err(); err != nil {
			yield(core.Listed{}, opError("list", "", err))
		}
	}
}

// listQuery is the query of ListFilter.
func listQuery(f core.ListFilter) bson.D {
	q := bson.D{{Key: fValue, Value: bson.D{{Key: "$exists", Value: true}}}}
	if len(f.URLPrefixes) > 0 {
		var or bson.A
		for _, p := range f.URLPrefixes {
			or = append(or, bson.D{{Key: fURL, Value: bson.Regex{Pattern: "^" + regexp.QuoteMeta(p)}}})
		}
		q = append(q, bson.E{Key: "$or", Value: or})
	}
	if f.Method != "" {
		q = append(q, bson.E{Key: fMethod, Value: f.Method})
	}
	if len(f.Statuses) > 0 {
		q = append(q, bson.E{Key: fStatus, Value: bson.D{{Key: "$in", Value: f.Statuses}}})
	}
	return q
}

// Clear removes every entry and every GridFS file of the store's collection
// and bucket, and nothing else.
func (s *Store) Clear(ctx context.Context) error {
	if err := s.check(ctx, "clear", ""); err != nil {
		return err
	}
	for _, c := range []*mongo.Collection{s.entries, s.files, s.chunks} {
		if _, err := c.DeleteMany(ctx, bson.D{}); err != nil {
			return opError("clear", "", fmt.Errorf("%s: %w", c.Name(), err))
		}
	}
	return nil
}

// Drop removes the store's collection and GridFS bucket from the database,
// indexes included: for tests and tools that created a namespace for a
// while. The store must not be used afterwards except to Close it.
func (s *Store) Drop(ctx context.Context) error {
	if err := s.check(ctx, "drop", ""); err != nil {
		return err
	}
	for _, c := range []*mongo.Collection{s.entries, s.files, s.chunks} {
		if err := c.Drop(ctx); err != nil {
			return opError("drop", "", fmt.Errorf("%s: %w", c.Name(), err))
		}
	}
	return nil
}

// Close stops the background sweep and, for a store opened with
// core.OpenStore, disconnects the client it created. After Close every
// other method returns ErrClosed; closing again returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.cancelLife()
		s.sweeper.Wait()
		if s.ownsClient {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(s.life), 10*time.Second)
			defer cancel()
			if err := s.client.Disconnect(ctx); err != nil {
				s.closeErr = fmt.Errorf("mongostore: close: %w", err)
			}
		}
	})
	return s.closeErr
}

// setUpsertAttempts bounds the upserts of one Set that meet a concurrent
// insert of the same key (a duplicate key error).
const setUpsertAttempts = 5

// sweepMinTimeout is the least time a background sweep may take.
const sweepMinTimeout = 5 * time.Second

// sweepLoop runs Sweep every interval until Close.
func (s *Store) sweepLoop(interval time.Duration) {
	defer s.sweeper.Done()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-s.life.Done():
			return
		case <-tick.C:
		}
		// Bounded by the interval, but never below sweepMinTimeout: with a
		// short interval and a slow server (a 10 ms interval against a
		// 28 ms round trip, seen in CI) the driver refused every sweep as
		// one that could not finish in time, and none ever ran. A sweep
		// that outlasts the interval makes the ticker drop the ticks missed.
		ctx, cancel := context.WithTimeout(s.life, max(interval, sweepMinTimeout))
		_, err := s.Sweep(ctx)
		cancel()
		if err != nil && s.life.Err() == nil {
			s.logger.LogAttrs(s.life, slog.LevelWarn, "mongostore: sweep failed; retrying at the next interval",
				slog.String("collection", s.collection), slog.Any("error", err))
		}
	}
}

var sweepFindOpts = options.Find().
	SetProjection(bson.D{{Key: fID, Value: 1}, {Key: fStream + "." + fStreamFile, Value: 1}}).
	SetLimit(sweepBatch)

var sweepFilesOpts = options.Find().SetProjection(bson.D{{Key: fID, Value: 1}}).SetLimit(sweepBatch)

// Sweep removes entries whose deletion time has passed, with their GridFS
// files, and GridFS files whose own deletion time has passed (bodies of
// entries the server's TTL monitor removed, or of streams replaced while
// the store could not delete them). It also removes the leftovers of a
// writer that died: documents holding only a stream whose value was never
// written, with their files, and GridFS files no document refers to, once
// they are five minutes old; the chunks of a stream never committed, once
// its last chunk is an hour old. It does a bounded amount of work, at most
// 500 of each kind, and returns how many entries, files and unfinished
// streams it removed. The background sweep calls it every Options.SweepInterval; call
// it yourself when that is disabled.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	if err := s.check(ctx, "sweep", ""); err != nil {
		return 0, err
	}
	now := s.now()
	due := bson.D{{Key: "$lte", Value: now}}
	cur, err := s.entries.Find(ctx, bson.D{{Key: fExpires, Value: due}}, sweepFindOpts)
	if err != nil {
		return 0, opError("sweep", "", err)
	}
	var plain []any
	var streamed []any
	for cur.Next(ctx) {
		id := cur.Current.Lookup(fID)
		if _, ok := streamFile(cur.Current); ok {
			streamed = append(streamed, id)
		} else {
			plain = append(plain, id)
		}
	}
	err = cur.Err()
	cur.Close(context.WithoutCancel(ctx))
	if err != nil {
		return 0, opError("sweep", "", err)
	}
	removed := 0
	if len(plain) > 0 {
		// The conditions are checked again: an entry written since the
		// query above is not removed.
		res, err := s.entries.DeleteMany(ctx, bson.D{
			{Key: fID, Value: bson.D{{Key: "$in", Value: plain}}},
			{Key: fExpires, Value: due},
			{Key: fStream, Value: bson.D{{Key: "$exists", Value: false}}},
		})
		if err != nil {
			return removed, opError("sweep", "", err)
		}
		removed += int(res.DeletedCount)
	}
	for _, id := range streamed {
		raw, err := s.entries.FindOneAndDelete(ctx, bson.D{{Key: fID, Value: id}, {Key: fExpires, Value: due}}).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue
		}
		if err != nil {
			return removed, opError("sweep", "", err)
		}
		removed++
		if fid, ok := streamFile(raw); ok {
			if err := s.deleteFiles(ctx, fid); err != nil {
				return removed, opError("sweep", "", err)
			}
		}
	}
	// GridFS files past their own deletion time.
	fcur, err := s.files.Find(ctx, bson.D{{Key: "metadata.expires", Value: due}}, sweepFilesOpts)
	if err != nil {
		return removed, opError("sweep", "", err)
	}
	var fids []bson.ObjectID
	for fcur.Next(ctx) {
		if id, ok := fcur.Current.Lookup(fID).ObjectIDOK(); ok {
			fids = append(fids, id)
		}
	}
	err = fcur.Err()
	fcur.Close(context.WithoutCancel(ctx))
	if err != nil {
		return removed, opError("sweep", "", err)
	}
	if err := s.deleteFiles(ctx, fids...); err != nil {
		return removed, opError("sweep", "", err)
	}
	removed += len(fids)
	cutoff := now.Add(-orphanGrace)
	n, err := s.sweepPending(ctx, cutoff)
	removed += n
	if err != nil {
		return removed, opError("sweep", "", err)
	}
	n, err = s.sweepUnreferenced(ctx, cutoff)
	removed += n
	if err != nil {
		return removed, opError("sweep", "", err)
	}
	n, err = s.sweepUnfinished(ctx, now.Add(-writerGrace))
	removed += n
	if err != nil {
		return removed, opError("sweep", "", err)
	}
	return removed, nil
}

var sweepPendingOpts = options.Find().
	SetProjection(bson.D{{Key: fID, Value: 1}}).
	SetLimit(sweepBatch)

// sweepPending removes the documents that a stream's Commit created before
// cutoff and that never received a value (a writer died between the two),
// with their GridFS files, and returns how many it removed.
func (s *Store) sweepPending(ctx context.Context, cutoff time.Time) (int, error) {
	old := bson.D{{Key: "$lte", Value: cutoff}}
	cur, err := s.entries.Find(ctx, bson.D{{Key: fPending, Value: old}}, sweepPendingOpts)
	if err != nil {
		return 0, err
	}
	var found []bson.RawValue
	for cur.Next(ctx) {
		found = append(found, cur.Current.Lookup(fID))
	}
	err = cur.Err()
	cur.Close(context.WithoutCancel(ctx))
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, id := range found {
		// Checked again: a value written since the query keeps its
		// document.
		raw, err := s.entries.FindOneAndDelete(ctx, bson.D{{Key: fID, Value: id}, {Key: fPending, Value: old}}).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue
		}
		if err != nil {
			return removed, err
		}
		removed++
		if fid, ok := streamFile(raw); ok {
			if err := s.deleteFiles(ctx, fid); err != nil {
				return removed, err
			}
		}
	}
	return removed, nil
}

var (
	sweepScanOpts = options.Find().
			SetProjection(bson.D{{Key: fID, Value: 1}, {Key: "uploadDate", Value: 1}, {Key: "metadata.key", Value: 1}}).
			SetSort(bson.D{{Key: fID, Value: 1}}).
			SetLimit(sweepBatch)
	sweepRefOpts = options.Find().SetProjection(bson.D{{Key: fStream + "." + fStreamFile, Value: 1}})
)

var (
	sweepChunkScanOpts = options.Find().
				SetProjection(bson.D{{Key: "files_id", Value: 1}}).
				SetSort(bson.D{{Key: "files_id", Value: 1}, {Key: "n", Value: 1}}).
				SetLimit(sweepBatch)
	lastChunkOpts = options.FindOne().
			SetProjection(bson.D{{Key: fID, Value: 1}}).
			SetSort(bson.D{{Key: "files_id", Value: 1}, {Key: "n", Value: -1}})
)

// sweepUnfinished checks the next sweepBatch streams that have chunks
// (resuming where the previous sweep stopped) and removes the chunks of
// those without a files document whose last chunk was written before
// cutoff: a writer that died before Commit. A chunk's id carries the time it
// was written. It returns how many streams it removed.
func (s *Store) sweepUnfinished(ctx context.Context, cutoff time.Time) (int, error) {
	s.fileCursorMu.Lock()
	defer s.fileCursorMu.Unlock()
	cur, err := s.chunks.Find(ctx, bson.D{
		{Key: "files_id", Value: bson.D{{Key: "$gt", Value: s.chunkCursor}}},
		{Key: "n", Value: 0},
	}, sweepChunkScanOpts)
	if err != nil {
		return 0, err
	}
	var streams []bson.ObjectID
	for cur.Next(ctx) {
		if id, ok := cur.Current.Lookup("files_id").ObjectIDOK(); ok {
			streams = append(streams, id)
		}
	}
	err = cur.Err()
	cur.Close(context.WithoutCancel(ctx))
	if err != nil {
		return 0, err
	}
	if len(streams) < sweepBatch {
		s.chunkCursor = bson.ObjectID{}
	} else {
		s.chunkCursor = streams[len(streams)-1]
	}
	if len(streams) == 0 {
		return 0, nil
	}
	fcur, err := s.files.Find(ctx, bson.D{{Key: fID, Value: bson.D{{Key: "$in", Value: streams}}}},
		options.Find().SetProjection(bson.D{{Key: fID, Value: 1}}))
	if err != nil {
		return 0, err
	}
	committed := make(map[bson.ObjectID]bool)
	for fcur.Next(ctx) {
		if id, ok := fcur.Current.Lookup(fID).ObjectIDOK(); ok {
			committed[id] = true
		}
	}
	err = fcur.Err()
	fcur.Close(context.WithoutCancel(ctx))
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, id := range streams {
		if committed[id] {
			continue
		}
		raw, err := s.chunks.FindOne(ctx, bson.D{{Key: "files_id", Value: id}}, lastChunkOpts).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue
		}
		if err != nil {
			return removed, err
		}
		last, ok := raw.Lookup(fID).ObjectIDOK()
		if !ok || last.Timestamp().After(cutoff) {
			continue // still being written, or not a chunk this store wrote
		}
		if _, err := s.chunks.DeleteMany(ctx, bson.D{{Key: "files_id", Value: id}}); err != nil {
			return removed, err
		}
		removed++
	}
	return removed, nil
}

// sweepUnreferenced checks the next sweepBatch GridFS files of the bucket
// (resuming where the previous sweep stopped) and removes those that the
// store wrote before cutoff and that no document refers to: their document
// was removed but their deletion failed, or a writer died between writing
// the file and pointing its key at it. It returns how many it removed.
// Files the store did not write (no metadata.key) are left alone.
func (s *Store) sweepUnreferenced(ctx context.Context, cutoff time.Time) (int, error) {
	s.fileCursorMu.Lock()
	defer s.fileCursorMu.Unlock()
	cur, err := s.files.Find(ctx, bson.D{{Key: fID, Value: bson.D{{Key: "$gt", Value: s.fileCursor}}}}, sweepScanOpts)
	if err != nil {
		return 0, err
	}
	var last bson.ObjectID
	seen := 0
	var old []bson.ObjectID
	for cur.Next(ctx) {
		id, ok := cur.Current.Lookup(fID).ObjectIDOK()
		if !ok {
			continue
		}
		last, seen = id, seen+1
		_, ours := cur.Current.Lookup("metadata", "key").StringValueOK()
		if !ours {
			_, _, ours = cur.Current.Lookup("metadata", "key").BinaryOK()
		}
		if up := dateOf(cur.Current.Lookup("uploadDate")); ours && !up.IsZero() && !up.After(cutoff) {
			old = append(old, id)
		}
	}
	err = cur.Err()
	cur.Close(context.WithoutCancel(ctx))
	if err != nil {
		return 0, err
	}
	if seen < sweepBatch {
		s.fileCursor = bson.ObjectID{} // the end: start again next time
	} else {
		s.fileCursor = last
	}
	if len(old) == 0 {
		return 0, nil
	}
	rcur, err := s.entries.Find(ctx, bson.D{{Key: fStream + "." + fStreamFile, Value: bson.D{{Key: "$in", Value: old}}}}, sweepRefOpts)
	if err != nil {
		return 0, err
	}
	referenced := make(map[bson.ObjectID]bool)
	for rcur.Next(ctx) {
		if fid, ok := streamFile(rcur.Current); ok {
			referenced[fid] = true
		}
	}
	err = rcur.Err()
	rcur.Close(context.WithoutCancel(ctx))
	if err != nil {
		return 0, err
	}
	var orphans []bson.ObjectID
	for _, id := range old {
		if !referenced[id] {
			orphans = append(orphans, id)
		}
	}
	if err := s.deleteFiles(ctx, orphans...); err != nil {
		return 0, err
	}
	return len(orphans), nil
}
