package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hoardhttp/hoard/core"
)

// Scheme is the DSN scheme the package registers with core.RegisterStore:
// core.OpenStore(ctx, "dynamodb://table?region=eu-west-1") opens a *Store.
const Scheme = "dynamodb"

// DefaultCreateTimeout bounds the wait for a table to become ACTIVE when
// Options.CreateTimeout is 0.
const DefaultCreateTimeout = 2 * time.Minute

// MaxPrefixLen is the longest Options.Prefix accepted, in bytes.
const MaxPrefixLen = 256

// TTLAttribute is the attribute that holds an item's deletion time in epoch
// seconds: the attribute to enable DynamoDB's Time to Live on.
const TTLAttribute = "ttl"

// ErrClosed is returned by every method of a Store after Close.
var ErrClosed = errors.New("dynamostore: closed")

// errNotFound is what Get returns on a miss.
var errNotFound = fmt.Errorf("dynamostore: %w", core.ErrNotFound)

// Attribute names of the items the store writes. Expressions always refer to
// them through ExpressionAttributeNames, since several are reserved words.
const (
	attrPK      = "pk"      // S: Options.Prefix + encoded key (+ chunk suffix)
	attrKind    = "kind"    // S: kindEntry or kindChunk
	attrValue   = "val"     // B: the value (inline entry) or a chunk's bytes
	attrGen     = "gen"     // S: generation of the chunks of a chunked entry
	attrChunks  = "chunks"  // N: number of chunks of a chunked entry
	attrSize    = "size"    // N: length of the value
	attrURL     = "url"     // S: Meta.URL
	attrMethod  = "method"  // S: Meta.Method
	attrStatus  = "status"  // N: Meta.Status
	attrCreated = "created" // N: Meta.Created, Unix nanoseconds
	attrExpires = "expires" // N: Meta.Expires, Unix nanoseconds
	attrTTL     = TTLAttribute

	kindEntry = "e"
	kindChunk = "c"
)

const (
	// maxItemBytes is DynamoDB's item size limit (400 KB, counted as 400 KiB;
	// names and values of all attributes).
	maxItemBytes = 400 << 10
	// defaultItemBudget is the largest item the store writes: the limit
	// less a margin for its own rounding of attribute overheads.
	defaultItemBudget = maxItemBytes - 2<<10
	// defaultChunkSize is the payload of one chunk item.
	defaultChunkSize = 350 << 10
	// itemOverhead is what the store counts for the attribute names and the
	// numbers of an entry, besides the value, the key, the URL and the method.
	itemOverhead = 256
	// batchWriteMax is BatchWriteItem's limit of requests per call.
	batchWriteMax = 25
	// batchGetMax keeps a BatchGetItem answer of full chunks under its 16 MB
	// limit.
	batchGetMax = 32
	// maxReadAttempts bounds how often Get reads a chunked entry whose
	// chunks were replaced while it read them.
	maxReadAttempts = 3
	// maxBatchRounds bounds the retries of unprocessed batch requests.
	maxBatchRounds = 12
	// recreateInterval is the least time between two attempts to recreate a
	// table that disappeared.
	recreateInterval = time.Second
)

// API is the part of *dynamodb.Client the store uses. *dynamodb.Client
// implements it; a wrapper (for instrumentation, say) may too.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// Options configures a Store. Table is required. Each field but Logger is
// mirrored by a DSN parameter (see the package documentation).
type Options struct {
	// Table is the name of the DynamoDB table (3 to 255 characters among
	// a-z, A-Z, 0-9, '_', '-' and '.'). Its partition key must be a string
	// attribute named "pk", with no sort key.
	// DSN: the host, as in dynamodb://table.
	Table string
	// Prefix is prepended to every partition key the store writes, so that
	// several caches can share a table; List and Clear see only the items
	// under it. It must be valid UTF-8 of at most MaxPrefixLen bytes. Use a
	// separator at its end ("app1/"), so that no prefix is the beginning of
	// another store's. Empty means the store owns every hoard item of the
	// table. DSN: prefix.
	Prefix string
	// CreateTable makes New create the table when it does not exist (on
	// demand capacity, partition key "pk"), wait until it is ACTIVE and try
	// to enable Time to Live on TTLAttribute; and makes the store recreate
	// the table in the background if it disappears later (the requests of
	// that moment fail open). DSN: create_table=true.
	CreateTable bool
	// CreateTimeout bounds the wait for a created table to become ACTIVE.
	// 0 means DefaultCreateTimeout. DSN: create_timeout (a Go duration).
	CreateTimeout time.Duration
	// Logger receives the store's debug messages and warnings (a failed
	// clean-up of replaced chunks, a table recreated). nil means
	// slog.Default(). No DSN parameter: a store opened from a DSN logs to
	// slog.Default().
	Logger *slog.Logger
	// Lazy makes New skip its check of the table (and, with CreateTable,
	// its creation), for programs that must start while DynamoDB is out
	// of reach: until it answers, operations fail and the cache fails open;
	// with CreateTable, an operation that finds the table missing starts
	// its creation in the background. DSN: lazy=true.
	Lazy bool
}

// Store is a core.Store on a DynamoDB table. It also implements core.Lister,
// core.Clearer and io.Closer. Create it with New; the zero value is not
// usable.
type Store struct {
	api           API
	table         string
	prefix        string
	create        bool
	createTimeout time.Duration
	log           *slog.Logger

	// itemBudget and chunkSize are the item limit and the chunk payload;
	// tests lower them to exercise chunking with small values.
	itemBudget int
	chunkSize  int

	// life is cancelled by Close; it bounds background table recreation.
	life     context.Context
	stopLife context.CancelFunc
	closed   atomic.Bool

	mu           sync.Mutex // guards the fields below and wg.Add
	recreating   bool
	lastRecreate time.Time
	wg           sync.WaitGroup
}

var (
	_ core.Store   = (*Store)(nil)
	_ core.Lister  = (*Store)(nil)
	_ core.Clearer = (*Store)(nil)
	_ io.Closer    = (*Store)(nil)
)

func init() {
	core.RegisterStore(Scheme, openURL)
}

// New returns a Store on the table opts.Table through client. It checks
// the table with DescribeTable, within ctx and bounded by
// core.DefaultOpenTimeout when ctx has no deadline, so that a table that
// does not exist, credentials the server refuses and an endpoint that does
// not answer fail here rather than on every request; with opts.CreateTable
// it creates a missing table instead and waits, bounded by ctx and
// opts.CreateTimeout, until it is ACTIVE. Its errors wrap
// core.ErrInvalidConfig (invalid options; a missing table; no credentials,
// or credentials or a request the server refuses) or core.ErrUnavailable
// (the endpoint could not be reached, did not answer in time, or answered
// that it is overloaded or failing). With opts.Lazy, New performs no I/O.
func New(ctx context.Context, client API, opts *Options) (*Store, error) {
	if client == nil {
		return nil, core.InvalidConfig(errors.New("dynamostore: nil client"))
	}
	if opts == nil {
		return nil, core.InvalidConfig(errors.New("dynamostore: Options.Table is required"))
	}
	if err := validTable(opts.Table); err != nil {
		return nil, core.InvalidConfig(err)
	}
	if len(opts.Prefix) > MaxPrefixLen || !utf8.ValidString(opts.Prefix) {
		return nil, core.InvalidConfig(fmt.Errorf("dynamostore: Prefix must be valid UTF-8 of at most %d bytes", MaxPrefixLen))
	}
	if opts.CreateTimeout < 0 {
		return nil, core.InvalidConfig(fmt.Errorf("dynamostore: CreateTimeout is %v; want 0 (the default) or more", opts.CreateTimeout))
	}
	s := &Store{
		api:           client,
		table:         opts.Table,
		prefix:        opts.Prefix,
		create:        opts.CreateTable,
		createTimeout: opts.CreateTimeout,
		log:           opts.Logger,
		itemBudget:    defaultItemBudget,
		chunkSize:     defaultChunkSize,
	}
	if s.createTimeout == 0 {
		s.createTimeout = DefaultCreateTimeout
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	switch {
	case opts.Lazy:
	case s.create:
		cctx, cancel := context.WithTimeout(ctx, s.createTimeout)
		err := s.ensureTable(cctx)
		err = s.openErr(cctx, err)
		cancel()
		if err != nil {
			return nil, err
		}
	default:
		octx, cancel := core.OpenContext(ctx)
		err := s.checkTable(octx)
		err = s.openErr(octx, err)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	s.life, s.stopLife = context.WithCancel(context.WithoutCancel(ctx))
	return s, nil
}

// validTable checks a DynamoDB table name.
func validTable(name string) error {
	if len(name) < 3 || len(name) > 255 {
		return fmt.Errorf("dynamostore: table name %q must have 3 to 255 characters", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("dynamostore: table name %q: character %q not allowed (a-z, A-Z, 0-9, _ - .)", name, c)
		}
	}
	return nil
}

// Table returns the name of the store's table.
func (s *Store) Table() string { return s.table }

// Prefix returns the store's key prefix.
func (s *Store) Prefix() string { return s.prefix }

// pk is the partition key of the entry of key.
func (s *Store) pk(key string) string { return s.prefix + encodeKey(key) }

// begin checks what every operation checks first.
func (s *Store) begin(ctx context.Context, op, key string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return opError(op, key, err)
	}
	return nil
}

// opError wraps err once with the operation and the key.
func opError(op, key string, err error) error {
	if key == "" {
		return fmt.Errorf("dynamostore: %s: %w", op, err)
	}
	return fmt.Errorf("dynamostore: %s %q: %w", op, key, err)
}

// fail turns an error of the DynamoDB client into the store's error: wrapped
// once, and wrapping ctx.Err() when the context ended (whatever the client
// made of it). A missing table starts its recreation when CreateTable is set.
func (s *Store) fail(ctx context.Context, op, key string, err error) error {
	var rnf *types.ResourceNotFoundException
	if s.create && errors.As(err, &rnf) {
		s.recreate()
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %w", cerr, err)
	}
	return opError(op, key, err)
}

// entry is a decoded entry item.
type entry struct {
	value  []byte // inline value (nil for a chunked entry)
	gen    string // generation of the chunks, "" when inline
	chunks int    // number of chunks, 0 when inline
	meta   core.Meta
}

// Get returns the value stored under key. A missing key, and one whose
// Meta.Expires has passed (whether or not DynamoDB's TTL has deleted it yet),
// gives an error wrapping core.ErrNotFound. Reads are strongly consistent. A
// chunked value is read manifest first, then the chunks of the generation it
// names; when a concurrent Set or Delete replaced them meanwhile, Get reads
// the manifest again (a bounded number of times), so it never mixes two
// values.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.begin(ctx, "get", key); err != nil {
		return nil, err
	}
	pk := s.pk(key)
	for attempt := 1; ; attempt++ {
		out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      &s.table,
			Key:            keyOf(pk),
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return nil, s.fail(ctx, "get", key, err)
		}
		if out.Item == nil {
			return nil, errNotFound
		}
		e, err := decodeEntry(out.Item)
		if err != nil {
			return nil, opError("get", key, err)
		}
		if expired(e.meta.Expires, time.Now()) {
			return nil, errNotFound
		}
		if e.chunks == 0 {
			if e.value == nil {
				e.value = []byte{}
			}
			return e.value, nil
		}
		value, complete, err := s.readChunks(ctx, pk, e)
		if err != nil {
			return nil, s.fail(ctx, "get", key, err)
		}
		if complete {
			return value, nil
		}
		if attempt == maxReadAttempts {
			return nil, opError("get", key, fmt.Errorf("chunks of generation %s incomplete: %w", e.gen, core.ErrNotFound))
		}
	}
}

// expired reports whether a deletion time has passed at now.
func expired(expires, now time.Time) bool {
	return !expires.IsZero() && !expires.After(now)
}

// Set stores value under key with meta, replacing any previous value. A
// meta.Expires that is not in the future deletes the key. A value too large
// for one item is written as chunks first and its manifest last, so that a
// reader sees either the old value or the new one; the chunks of the value
// it replaced are deleted afterwards.
func (s *Store) Set(ctx context.Context, key string, value []byte, meta core.Meta) error {
	if err := s.begin(ctx, "set", key); err != nil {
		return err
	}
	if expired(meta.Expires, time.Now()) {
		return s.remove(ctx, "set", key)
	}
	pk := s.pk(key)
	item := map[string]types.AttributeValue{
		attrPK:     str(pk),
		attrKind:   str(kindEntry),
		attrSize:   num(int64(len(value))),
		attrStatus: num(int64(meta.Status)),
	}
	if meta.URL != "" {
		item[attrURL] = str(meta.URL)
	}
	if meta.Method != "" {
		item[attrMethod] = str(meta.Method)
	}
	if !meta.Created.IsZero() {
		item[attrCreated] = num(meta.Created.UnixNano())
	}
	var ttl types.AttributeValue
	if !meta.Expires.IsZero() {
		item[attrExpires] = num(meta.Expires.UnixNano())
		ttl = num(ttlSeconds(meta.Expires))
		item[attrTTL] = ttl
	}
	var gen string
	var chunks int
	if len(value)+len(pk)+len(meta.URL)+len(meta.Method)+itemOverhead <= s.itemBudget {
		if len(value) > 0 {
			item[attrValue] = &types.AttributeValueMemberB{Value: value}
		}
	} else {
		gen = newGeneration()
		chunks = (len(value) + s.chunkSize - 1) / s.chunkSize
		if err := s.writeChunks(ctx, pk, gen, value, ttl); err != nil {
			s.dropChunks(ctx, key, pk, gen, chunks)
			return s.fail(ctx, "set", key, err)
		}
		item[attrGen] = str(gen)
		item[attrChunks] = num(int64(chunks))
	}
	out, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:    &s.table,
		Item:         item,
		ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		if chunks > 0 {
			s.dropChunks(ctx, key, pk, gen, chunks)
		}
		return s.fail(ctx, "set", key, err)
	}
	s.dropReplaced(ctx, key, pk, out.Attributes, gen)
	return nil
}

// ttlSeconds is the TTL attribute of a deletion time: epoch seconds, rounded
// up so that DynamoDB never deletes an item before its Meta.Expires.
func ttlSeconds(t time.Time) int64 {
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	return sec
}

// newGeneration names the chunks of one Set.
func newGeneration() string {
	return strconv.FormatUint(rand.Uint64(), 36)
}

// Delete removes key and its chunks. Deleting a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.begin(ctx, "delete", key); err != nil {
		return err
	}
	return s.remove(ctx, "delete", key)
}

func (s *Store) remove(ctx context.Context, op, key string) error {
	pk := s.pk(key)
	out, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:    &s.table,
		Key:          keyOf(pk),
		ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return s.fail(ctx, op, key, err)
	}
	s.dropReplaced(ctx, key, pk, out.Attributes, "")
	return nil
}

// dropReplaced deletes the chunks of old, the entry item a write replaced,
// unless they are those of generation kept.
func (s *Store) dropReplaced(ctx context.Context, key, pk string, old map[string]types.AttributeValue, kept string) {
	if old == nil {
		return
	}
	e, err := decodeEntry(old)
	if err != nil || e.chunks == 0 || e.gen == kept {
		return
	}
	s.dropChunks(ctx, key, pk, e.gen, e.chunks)
}

// dropChunks deletes the chunks of a generation no entry refers to (any
// more, or after a failed Set). A failure is only logged: the chunks are
// unreachable, carry the ttl of their entry, and Clear removes them.
func (s *Store) dropChunks(ctx context.Context, key, pk, gen string, n int) {
	level := slog.LevelWarn
	err := ctx.Err()
	if err == nil {
		reqs := make([]types.WriteRequest, 0, n)
		for i := range n {
			reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: keyOf(chunkKey(pk, gen, i))}})
		}
		err = s.batchWrite(ctx, reqs)
	} else {
		level = slog.LevelDebug // the caller gave up; the failure is reported to it
	}
	if err != nil {
		s.log.LogAttrs(ctx, level, "dynamostore: unreferenced chunks left in the table",
			slog.String("table", s.table), slog.String("key", key), slog.String("generation", gen),
			slog.Int("chunks", n), slog.Any("error", err))
	}
}

// writeChunks writes value as chunks of generation gen.
func (s *Store) writeChunks(ctx context.Context, pk, gen string, value []byte, ttl types.AttributeValue) error {
	reqs := make([]types.WriteRequest, 0, (len(value)+s.chunkSize-1)/s.chunkSize)
	for i := 0; i*s.chunkSize < len(value); i++ {
		item := map[string]types.AttributeValue{
			attrPK:    str(chunkKey(pk, gen, i)),
			attrKind:  str(kindChunk),
			attrValue: &types.AttributeValueMemberB{Value: value[i*s.chunkSize : min((i+1)*s.chunkSize, len(value))]},
		}
		if ttl != nil {
			item[attrTTL] = ttl
		}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	return s.batchWrite(ctx, reqs)
}

// readChunks reads the chunks of e. complete is false when one is missing
// or the sizes do not add up: a concurrent write replaced them.
func (s *Store) readChunks(ctx context.Context, pk string, e entry) (value []byte, complete bool, err error) {
	parts := make([][]byte, e.chunks)
	want := make(map[string]int, e.chunks)
	for i := range e.chunks {
		want[chunkKey(pk, e.gen, i)] = i
	}
	names := map[string]string{"#pk": attrPK, "#v": attrValue}
	for start := 0; start < e.chunks; start += batchGetMax {
		keys := make([]map[string]types.AttributeValue, 0, batchGetMax)
		for i := start; i < min(start+batchGetMax, e.chunks); i++ {
			keys = append(keys, keyOf(chunkKey(pk, e.gen, i)))
		}
		pending := map[string]types.KeysAndAttributes{s.table: {
			Keys:                     keys,
			ConsistentRead:           aws.Bool(true),
			ProjectionExpression:     aws.String("#pk, #v"),
			ExpressionAttributeNames: names,
		}}
		for round := 0; len(pending) > 0; round++ {
			if round > 0 {
				if err := backoff(ctx, round); err != nil {
					return nil, false, err
				}
			}
			if round == maxBatchRounds {
				return nil, false, errors.New("BatchGetItem left keys unprocessed")
			}
			out, err := s.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
			if err != nil {
				return nil, false, err
			}
			for _, item := range out.Responses[s.table] {
				k, _ := item[attrPK].(*types.AttributeValueMemberS)
				v, _ := item[attrValue].(*types.AttributeValueMemberB)
				if k == nil || v == nil {
					continue
				}
				if i, ok := want[k.Value]; ok {
					parts[i] = v.Value
				}
			}
			pending = out.UnprocessedKeys
		}
	}
	total := 0
	for _, p := range parts {
		if p == nil {
			return nil, false, nil
		}
		total += len(p)
	}
	if int64(total) != e.meta.Size {
		return nil, false, nil
	}
	value = make([]byte, 0, total)
	for _, p := range parts {
		value = append(value, p...)
	}
	return value, true, nil
}

// batchWrite sends reqs with BatchWriteItem, batchWriteMax at a time,
// retrying unprocessed requests with a bounded backoff.
func (s *Store) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	for start := 0; start < len(reqs); start += batchWriteMax {
		pending := map[string][]types.WriteRequest{s.table: reqs[start:min(start+batchWriteMax, len(reqs))]}
		for round := 0; len(pending) > 0; round++ {
			if round > 0 {
				if err := backoff(ctx, round); err != nil {
					return err
				}
			}
			if round == maxBatchRounds {
				return errors.New("BatchWriteItem left requests unprocessed")
			}
			out, err := s.api.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return err
			}
			pending = out.UnprocessedItems
		}
	}
	return nil
}

// backoff waits before retry round (1-based) of unprocessed batch requests:
// 25 ms doubling up to 1 s, or until ctx ends.
func backoff(ctx context.Context, round int) error {
	d := min(25*time.Millisecond<<min(round-1, 6), time.Second)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// List yields every live entry under the store's prefix with its Meta, from
// a paginated, strongly consistent Scan of the table that reads entry items
// only (not chunks, not values). Entries whose Meta.Expires has passed are
// not yielded. A Scan reads the whole table, whatever the prefix: on a large
// shared table it costs accordingly. On error List yields a zero core.Listed
// with the error and stops.
func (s *Store) List(ctx context.Context) iter.Seq2[core.Listed, error] {
	return func(yield func(core.Listed, error) bool) {
		if err := s.begin(ctx, "list", ""); err != nil {
			yield(core.Listed{}, err)
			return
		}
		in := s.scanInput(true)
		for {
			out, err := s.api.Scan(ctx, in)
			if err != nil {
				yield(core.Listed{}, s.fail(ctx, "list", "", err))
				return
			}
			now := time.Now()
			for _, item := range out.Items {
				l, ok := s.listed(item)
				if !ok || expired(l.Meta.Expires, now) {
					continue
				}
				if !yield(l, nil) {
					return
				}
			}
			if len(out.LastEvaluatedKey) == 0 {
				return
			}
			if err := ctx.Err(); err != nil {
				yield(core.Listed{}, opError("list", "", err))
				return
			}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
	}
}

// scanInput is a Scan of the store's items: entries only with their meta
// (entries), or entries and chunks, keys only (for Clear).
func (s *Store) scanInput(entries bool) *dynamodb.ScanInput {
	names := map[string]string{"#pk": attrPK, "#kind": attrKind}
	values := map[string]types.AttributeValue{":e": str(kindEntry)}
	var filter, projection string
	if entries {
		filter = "#kind = :e"
		projection = "#pk, #size, #url, #method, #status, #created, #expires"
		names["#size"], names["#url"], names["#method"] = attrSize, attrURL, attrMethod
		names["#status"], names["#created"], names["#expires"] = attrStatus, attrCreated, attrExpires
	} else {
		filter = "#kind IN (:e, :c)"
		projection = "#pk"
		values[":c"] = str(kindChunk)
	}
	if s.prefix != "" {
		filter = "begins_with(#pk, :prefix) AND " + filter
		values[":prefix"] = str(s.prefix)
	}
	return &dynamodb.ScanInput{
		TableName:                 &s.table,
		ConsistentRead:            aws.Bool(true),
		FilterExpression:          &filter,
		ProjectionExpression:      &projection,
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
}

// listed decodes a scanned entry item; ok is false for an item that is not
// one of the store's entries.
func (s *Store) listed(item map[string]types.AttributeValue) (core.Listed, bool) {
	pk, _ := item[attrPK].(*types.AttributeValueMemberS)
	if pk == nil || len(pk.Value) < len(s.prefix) || pk.Value[:len(s.prefix)] != s.prefix {
		return core.Listed{}, false
	}
	key, err := decodeKey(pk.Value[len(s.prefix):])
	if err != nil || key == "" {
		return core.Listed{}, false
	}
	e, err := decodeEntry(item)
	if err != nil {
		return core.Listed{}, false
	}
	return core.Listed{Key: key, Meta: e.meta}, true
}

// Clear deletes every item under the store's prefix (entries and chunks),
// found by a paginated Scan and deleted with BatchWriteItem. Other items of
// the table are left alone. Entries written while Clear runs may survive it.
func (s *Store) Clear(ctx context.Context) error {
	if err := s.begin(ctx, "clear", ""); err != nil {
		return err
	}
	in := s.scanInput(false)
	for {
		out, err := s.api.Scan(ctx, in)
		if err != nil {
			return s.fail(ctx, "clear", "", err)
		}
		reqs := make([]types.WriteRequest, 0, len(out.Items))
		for _, item := range out.Items {
			if pk, ok := item[attrPK].(*types.AttributeValueMemberS); ok {
				reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: keyOf(pk.Value)}})
			}
		}
		if err := s.batchWrite(ctx, reqs); err != nil {
			return s.fail(ctx, "clear", "", err)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// Close stops a background recreation of the table, if one runs, and waits
// for it. It does not close the client, which the caller owns. After Close
// every other method returns ErrClosed; closing again returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	s.stopLife()
	s.wg.Wait()
	return nil
}

// keyOf is the primary key of the item whose partition key is pk.
func keyOf(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(pk)}
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// decodeEntry decodes an entry item (or the projection of one).
func decodeEntry(item map[string]types.AttributeValue) (entry, error) {
	var e entry
	if k, ok := item[attrKind].(*types.AttributeValueMemberS); ok && k.Value != kindEntry {
		return e, fmt.Errorf("item of kind %q is not an entry", k.Value)
	}
	var err error
	getNum := func(name string) int64 {
		v, ok := item[name].(*types.AttributeValueMemberN)
		if !ok {
			return 0
		}
		n, perr := strconv.ParseInt(v.Value, 10, 64)
		if perr != nil && err == nil {
			err = fmt.Errorf("attribute %s: %w", name, perr)
		}
		return n
	}
	getStr := func(name string) string {
		v, _ := item[name].(*types.AttributeValueMemberS)
		if v == nil {
			return ""
		}
		return v.Value
	}
	if v, ok := item[attrValue].(*types.AttributeValueMemberB); ok {
		e.value = v.Value
	}
	e.gen = getStr(attrGen)
	e.chunks = int(getNum(attrChunks))
	e.meta.Size = getNum(attrSize)
	e.meta.URL = getStr(attrURL)
	e.meta.Method = getStr(attrMethod)
	e.meta.Status = int(getNum(attrStatus))
	if ns := getNum(attrCreated); ns != 0 {
		e.meta.Created = time.Unix(0, ns)
	}
	if ns := getNum(attrExpires); ns != 0 {
		e.meta.Expires = time.Unix(0, ns)
	}
	if err != nil {
		return entry{}, err
	}
	if e.chunks < 0 || e.chunks > 0 && e.gen == "" {
		return entry{}, errors.New("malformed chunk manifest")
	}
	return e, nil
}
