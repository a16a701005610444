package redisstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hoardhttp/hoard/core"
)

// DefaultKeyPrefix is the namespace used when Options.KeyPrefix is empty.
const DefaultKeyPrefix = "hoard:"

// DefaultScanCount is the SCAN COUNT hint and batch size used when
// Options.ScanCount is 0.
const DefaultScanCount = 1000

// ErrClosed is returned by every method of a Store after Close.
var ErrClosed = errors.New("redisstore: closed")

// errNotFound is what Get returns on a miss: core.ErrNotFound with the
// package prefix, built once so that a miss does not allocate.
var errNotFound = fmt.Errorf("redisstore: %w", core.ErrNotFound)

// Options configures a Store. A nil *Options means all defaults. Each field
// is mirrored by a DSN parameter (see the package documentation).
type Options struct {
	// KeyPrefix is prepended to every key the store writes, and bounds what
	// List and Clear see and remove: the store's namespace. Empty means
	// DefaultKeyPrefix ("hoard:"). In a Redis Cluster, a prefix with a hash
	// tag such as "{hoard}:" keeps every entry in one slot.
	// DSN parameter: prefix.
	KeyPrefix string
	// ScanCount is the COUNT hint given to SCAN by List and Clear, and the
	// number of keys they read or delete per round trip. 0 means
	// DefaultScanCount; a negative value is an error.
	// DSN parameter: scan_count.
	ScanCount int
	// Lazy makes New skip its check of the server (a PING), for programs
	// that must start while Redis is down: until it is back, operations
	// fail and the cache fails open.
	// DSN parameter: lazy=true.
	Lazy bool
	// Publish makes every Set, Delete and Clear also publish what it
	// changed (in the same round trip), and enables Subscribe
	// (core.Invalidator), so that a tiered store in another process drops
	// its in-memory copy. Every process writing the namespace must set it.
	Publish bool
}

// Store is a core.Store over a Redis server, Sentinel group or Cluster,
// through a go-redis UniversalClient. It also implements core.Lister,
// core.Clearer and io.Closer. Create it with New, or with core.OpenStore
// and a redis:// or rediss:// DSN; the zero value is not usable.
type Store struct {
	client    redis.UniversalClient
	prefix    string
	match     string // SCAN MATCH pattern: the escaped prefix, then *
	scanCount int
	// ownsClient is true when the store made the client (from a DSN), and
	// so closes it in Close.
	ownsClient bool
	// publish is Options.Publish; id tells this value's messages apart.
	publish   bool
	id        string
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var (
	_ core.Store   = (*Store)(nil)
	_ core.Lister  = (*Store)(nil)
	_ core.Clearer = (*Store)(nil)
	_ io.Closer    = (*Store)(nil)
)

// New returns a Store that keeps its entries in client under the key prefix
// of opts (nil means defaults). client may be a *redis.Client, a failover
// (Sentinel) client, a *redis.ClusterClient or a *redis.Ring.
//
// Unless opts.Lazy is set, New checks the server with a PING within ctx
// (bounded by core.DefaultOpenTimeout when ctx has no deadline), so that an
// unreachable server, a database number it does not have, credentials it
// refuses or TLS against a plain server fail here, with the address in the
// message, rather than on every request. Its errors wrap
// core.ErrInvalidConfig (invalid options; the server answered with an
// error; a TLS handshake or certificate failure) or core.ErrUnavailable
// (the server could not be reached, or did not answer in time). With Lazy,
// New sends nothing, and a server that is down makes operations fail (and
// the cache fail open) until it is back.
//
// The caller keeps ownership of client: Close does not close it. For the
// core's per-operation timeout (core.WithStoreTimeout) to cut off a slow
// server, create the client with ContextTimeoutEnabled set; without it
// go-redis applies only its own ReadTimeout and WriteTimeout.
func New(ctx context.Context, client redis.UniversalClient, opts *Options) (*Store, error) {
	if client == nil {
		return nil, core.InvalidConfig(errors.New("redisstore: New: nil client"))
	}
	s := &Store{client: client, prefix: DefaultKeyPrefix, scanCount: DefaultScanCount, id: newID()}
	lazy := false
	if opts != nil {
		if opts.KeyPrefix != "" {
			s.prefix = opts.KeyPrefix
		}
		switch {
		case opts.ScanCount < 0:
			return nil, core.InvalidConfig(fmt.Errorf("redisstore: ScanCount is %d; want 0 (the default) or more", opts.ScanCount))
		case opts.ScanCount > 0:
			s.scanCount = opts.ScanCount
		}
		lazy = opts.Lazy
		s.publish = opts.Publish
	}
	s.match = globEscape(s.prefix) + "*"
	if !lazy {
		if err := ping(ctx, client); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// ping checks the server with one PING (which makes go-redis dial,
// authenticate and SELECT the database) and classifies its failure.
func ping(ctx context.Context, client redis.UniversalClient) error {
	ctx, cancel := core.OpenContext(ctx)
	defer cancel()
	err := client.Ping(ctx).Err()
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w (%w)", cerr, err)
	}
	hint := ""
	var nerr net.Error
	if usesTLS(client) && (errors.Is(err, context.DeadlineExceeded) || errors.As(err, &nerr) && nerr.Timeout()) {
		hint = " (no answer to the TLS handshake: if the server does not speak TLS, use redis:// rather than rediss://)"
	}
	err = fmt.Errorf("redisstore: checking the server at %s: %w%s", addrOf(client), err, hint)
	var (
		reply   redis.Error
		record  tls.RecordHeaderError
		cert    *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
	)
	switch {
	case ctx.Err() != nil:
		return core.Unavailable(err)
	case errors.As(err, &reply), errors.As(err, &record), errors.As(err, &cert),
		errors.As(err, &unknown), errors.As(err, &host):
		// The server answered, and refused what it was asked (a database
		// it does not have, credentials, TLS): retrying will not help.
		return core.InvalidConfig(err)
	}
	return core.Unavailable(err)
}

// usesTLS reports whether client connects with TLS.
func usesTLS(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case *redis.Client:
		return c.Options().TLSConfig != nil
	case *redis.ClusterClient:
		return c.Options().TLSConfig != nil
	case *redis.Ring:
		return c.Options().TLSConfig != nil
	}
	return false
}

// addrOf describes the servers of client for error messages.
func addrOf(client redis.UniversalClient) string {
	switch c := client.(type) {
	case *redis.Client:
		o := c.Options()
		return fmt.Sprintf("%s (database %d)", o.Addr, o.DB)
	case *redis.ClusterClient:
		return "cluster " + strings.Join(c.Options().Addrs, ", ")
	case *redis.Ring:
		var addrs []string
		for _, a := range c.Options().Addrs {
			addrs = append(addrs, a)
		}
		slices.Sort(addrs)
		return "ring " + strings.Join(addrs, ", ")
	}
	return fmt.Sprintf("%T", client)
}

// KeyPrefix reports the prefix of every key the store writes.
func (s *Store) KeyPrefix() string { return s.prefix }

// ScanCount reports the SCAN COUNT hint and batch size of List and Clear.
func (s *Store) ScanCount() int { return s.scanCount }

// Client returns the go-redis client the store uses.
func (s *Store) Client() redis.UniversalClient { return s.client }

// Get returns the value stored under key with one GET. The returned slice
// shares memory with the client's reply and must not be modified. A missing
// key, a key whose Meta.Expires has passed (by this process's clock, even if
// the server has not expired it yet) and a value this package cannot read
// give an error wrapping core.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.check(ctx, "get", key); err != nil {
		return nil, err
	}
	data, err := s.client.Get(ctx, s.prefix+key).Bytes()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return nil, errNotFound
		}
		return nil, s.failed(ctx, "get", key, err)
	}
	at, hdr, needed, err := bodyOffset(data)
	if err == nil && needed == 0 {
		var exp int64
		if exp, err = expiresAt(hdr); err == nil {
			if exp != 0 && time.Now().UnixNano() >= exp {
				return nil, errNotFound
			}
			return data[at:], nil
		}
	}
	// A value the store cannot read is a miss, so the core writes a new one
	// over it.
	return nil, fmt.Errorf("redisstore: get %q: %w: %w", key, core.ErrNotFound, errCorrupt)
}

// Set stores value under key with one SET, replacing any previous value and
// its TTL. A non-zero meta.Expires becomes the key's TTL (the time left
// until it by this process's clock, rounded up to a millisecond); one that
// is not in the future deletes the key. Set copies value.
func (s *Store) Set(ctx context.Context, key string, value []byte, meta core.Meta) error {
	if err := s.check(ctx, "set", key); err != nil {
		return err
	}
	var ttl time.Duration
	if !meta.Expires.IsZero() {
		ttl = time.Until(meta.Expires)
		if ttl <= 0 {
			if err := s.unlink(ctx, key); err != nil {
				return s.failed(ctx, "set (delete expired)", key, err)
			}
			return nil
		}
		// Never before Expires on the server; Get enforces Expires itself.
		ttl = (ttl + time.Millisecond - 1).Truncate(time.Millisecond)
	}
	var err error
	if s.publish {
		_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, s.prefix+key, encode(value, meta), ttl)
			s.publishKey(ctx, p, key)
			return nil
		})
	} else {
		err = s.client.Set(ctx, s.prefix+key, encode(value, meta), ttl).Err()
	}
	if err != nil {
		return s.failed(ctx, "set", key, err)
	}
	return nil
}

// unlink deletes key, and publishes that it did when the store publishes.
func (s *Store) unlink(ctx context.Context, key string) error {
	if !s.publish {
		return s.client.Unlink(ctx, s.prefix+key).Err()
	}
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Unlink(ctx, s.prefix+key)
		s.publishKey(ctx, p, key)
		return nil
	})
	return err
}

// Delete removes key with UNLINK. Deleting a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.check(ctx, "delete", key); err != nil {
		return err
	}
	if err := s.unlink(ctx, key); err != nil {
		return s.failed(ctx, "delete", key, err)
	}
	return nil
}

// List yields every key under the store's prefix with its Meta, walking the
// keyspace with SCAN MATCH (never KEYS), on every master of a Cluster and
// every shard of a Ring, and reading each batch's headers in one pipelined
// round trip of GETRANGE. Each key is yielded once even if SCAN returns it
// twice; keys written or deleted during the walk may or may not appear.
// Expired entries and values this package cannot read are skipped. On
// error List yields a zero core.Listed with the error and stops.
//
// SCAN visits the whole database, so listing a small namespace in a large
// database costs time in proportion to the database; the memory List uses
// grows with the number of keys yielded.
func (s *Store) List(ctx context.Context) iter.Seq2[core.Listed, error] {
	return func(yield func(core.Listed, error) bool) {
		if err := s.check(ctx, "list", ""); err != nil {
			yield(core.Listed{}, err)
			return
		}
		seen := make(map[string]struct{})
		err := s.scan(ctx, "list", func(keys []string) (bool, error) {
			items, err := s.readMeta(ctx, keys)
			if err != nil {
				return false, err
			}
			now := time.Now()
			for _, it := range items {
				if _, dup := seen[it.Key]; dup {
					continue
				}
				seen[it.Key] = struct{}{}
				if !it.Meta.Expires.IsZero() && !now.Before(it.Meta.Expires) {
					continue
				}
				if !yield(it, nil) {
					return false, nil
				}
			}
			return true, nil
		})
		if err != nil {
			yield(core.Listed{}, err)
		}
	}
}

// Clear removes every key under the store's prefix, and nothing else: SCAN
// MATCH on the prefix, then one pipelined round trip of UNLINK per batch.
// Keys written while Clear runs may survive it.
func (s *Store) Clear(ctx context.Context) error {
	if err := s.check(ctx, "clear", ""); err != nil {
		return err
	}
	err := s.scan(ctx, "clear", func(keys []string) (bool, error) {
		pipe := s.client.Pipeline()
		for _, k := range keys {
			// One key per command: a Cluster refuses multi-key commands
			// across slots, and a pipeline is one round trip anyway.
			pipe.Unlink(ctx, k)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return false, s.failed(ctx, "clear", "", err)
		}
		return true, nil
	})
	// Even a failed Clear may have removed keys.
	return errors.Join(err, s.publishAll(ctx))
}

// Close marks the store closed: every method then returns ErrClosed. It
// closes the client only if the store made it (core.OpenStore); a client
// given to New stays open. Closing again returns the first result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.ownsClient {
			if err := s.client.Close(); err != nil {
				s.closeErr = fmt.Errorf("redisstore: close: %w", err)
			}
		}
	})
	return s.closeErr
}

// check returns the error an operation must return before it starts: a
// done ctx, or a closed store.
func (s *Store) check(ctx context.Context, op, key string) error {
	if err := ctx.Err(); err != nil {
		return opErr(ctx, op, key, err)
	}
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// failed is opErr for an operation the server or the network failed. Over a
// Redis Cluster, an error that is not the server's reply (a node that does
// not answer: a dead master, say) also asks go-redis to reload the cluster's
// slot map in the background: go-redis follows MOVED replies by itself, but
// left alone it keeps sending a dead master's slots to the dead master
// until its map is 10 s old, well after a replica has taken over. The reload
// is at most one at a time (go-redis's ReloadState).
func (s *Store) failed(ctx context.Context, op, key string, err error) error {
	if c, ok := s.client.(*redis.ClusterClient); ok {
		var reply redis.Error
		if !errors.As(err, &reply) {
			c.ReloadState(ctx)
		}
	}
	return opErr(ctx, op, key, err)
}

// opErr wraps a failed operation's error once, with the operation and key;
// when ctx is done it wraps ctx.Err() too, so callers can match it.
func opErr(ctx context.Context, op, key string, err error) error {
	where := "redisstore: " + op
	if key != "" {
		where += fmt.Sprintf(" %q", key)
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%s: %w (%w)", where, cerr, err)
	}
	return fmt.Errorf("%s: %w", where, err)
}

// scan calls batch with every non-empty batch of full keys (prefix
// included, lease keys left out) that SCAN MATCH returns under the prefix,
// node by node, until
// batch returns false or an error.
func (s *Store) scan(ctx context.Context, op string, batch func(keys []string) (bool, error)) error {
	nodes, err := s.nodes(ctx)
	if err != nil {
		return s.failed(ctx, op, "", err)
	}
	for _, node := range nodes {
		var cursor uint64
		for {
			if err := ctx.Err(); err != nil {
				return opErr(ctx, op, "", err)
			}
			keys, next, err := node.Scan(ctx, cursor, s.match, int64(s.scanCount)).Result()
			if err != nil {
				return s.failed(ctx, op, "", err)
			}
			if keys = s.withoutLeases(keys); len(keys) > 0 {
				more, err := batch(keys)
				if err != nil || !more {
					return err
				}
			}
			if next == 0 {
				break
			}
			cursor = next
		}
	}
	return nil
}

// nodes returns the clients to SCAN: every master of a Cluster, every shard
// of a Ring, or the client itself.
func (s *Store) nodes(ctx context.Context) ([]redis.Cmdable, error) {
	var (
		mu  sync.Mutex
		out []redis.Cmdable
	)
	collect := func(_ context.Context, c *redis.Client) error {
		mu.Lock()
		out = append(out, c)
		mu.Unlock()
		return nil
	}
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		if err := c.ForEachMaster(ctx, collect); err != nil {
			return nil, err
		}
	case *redis.Ring:
		if err := c.ForEachShard(ctx, collect); err != nil {
			return nil, err
		}
	default:
		out = append(out, s.client)
	}
	return out, nil
}

// readMeta reads the headers of keys (full keys, prefix included) in one
// pipelined round trip of GETRANGE (and one more for the rare header longer
// than listProbe). Keys gone meanwhile, keys of another type and values
// this package cannot read are left out.
func (s *Store) readMeta(ctx context.Context, keys []string) ([]core.Listed, error) {
	probe := func(keys []string, size []int) ([]*redis.StringCmd, error) {
		pipe := s.client.Pipeline()
		cmds := make([]*redis.StringCmd, len(keys))
		for i, k := range keys {
			n := listProbe
			if size != nil {
				n = size[i]
			}
			cmds[i] = pipe.GetRange(ctx, k, 0, int64(n-1))
		}
		if _, err := pipe.Exec(ctx); err != nil && !onlyServerErrors(cmds) {
			return nil, s.failed(ctx, "list", "", err)
		}
		return cmds, nil
	}
	cmds, err := probe(keys, nil)
	if err != nil {
		return nil, err
	}
	out := make([]core.Listed, 0, len(keys))
	var (
		longKeys []string
		longSize []int
	)
	add := func(k string, data []byte) {
		h, needed, err := decodeHeader(data)
		switch {
		case err != nil || len(data) == 0:
		case needed > 0:
			longKeys = append(longKeys, k)
			longSize = append(longSize, needed)
		default:
			out = append(out, core.Listed{Key: strings.TrimPrefix(k, s.prefix), Meta: h.meta})
		}
	}
	for i, cmd := range cmds {
		if data, err := cmd.Bytes(); err == nil {
			add(keys[i], data)
		}
	}
	if len(longKeys) == 0 {
		return out, nil
	}
	keys, sizes := longKeys, longSize
	longKeys, longSize = nil, nil
	if cmds, err = probe(keys, sizes); err != nil {
		return nil, err
	}
	for i, cmd := range cmds {
		if data, err := cmd.Bytes(); err == nil {
			add(keys[i], data)
		}
	}
	return out, nil
}

// onlyServerErrors reports whether every failed command failed with an
// error reply from the server (such as WRONGTYPE for a key of another
// type), rather than with a connection or context error.
func onlyServerErrors(cmds []*redis.StringCmd) bool {
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			var rerr redis.Error
			if !errors.As(err, &rerr) {
				return false
			}
		}
	}
	return true
}

// globEscape escapes the characters SCAN MATCH treats as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
