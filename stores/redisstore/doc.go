// Package redisstore is a core.Store over Redis, through go-redis v9
// (github.com/redis/go-redis/v9): one cache shared by every process and
// host that points at the same server, Sentinel group or Cluster.
//
// New takes a redis.UniversalClient, so a *redis.Client, a failover
// (Sentinel) client from redis.NewFailoverClient, a *redis.ClusterClient
// and a *redis.Ring all work. Create the client with ContextTimeoutEnabled
// set so that core.WithStoreTimeout can cut off a server that does not
// answer; the DSN opener does this for you.
//
// # Options
//
// New takes an *Options; nil means defaults.
//
//	| Options field | DSN parameter | default | meaning                                         |
//	|---------------|---------------|---------|-------------------------------------------------|
//	| KeyPrefix     | prefix        | hoard:  | prepended to every key: the store's namespace   |
//	| ScanCount     | scan_count    | 1000    | SCAN COUNT hint and batch size of List and Clear |
//	| Lazy          | lazy          | false   | open without checking the server                |
//	| Publish       | publish       | false   | publish changes; enables Subscribe (core.Invalidator) |
//
// # URLs
//
// Importing the package registers the schemes "redis" and "rediss" (TLS),
// and "redis+cluster" and "rediss+cluster" (below), with
// core.RegisterStore, so core.OpenStore accepts
//
//	redis://127.0.0.1:6379/0
//	redis://user:password@cache.internal:6379/2?prefix=myapp:&scan_count=500
//	rediss://cache.internal:6380/0?prefix=myapp:
//
// The path is the database number. prefix, scan_count and lazy configure
// the store; the others are go-redis's connection parameters (dial_timeout,
// read_timeout, write_timeout, pool_size, max_retries, protocol,
// client_name, skip_verify, ...; see redis.ParseURL). An unknown parameter
// is an error that lists them all, as are a repeated parameter, a fragment
// and a DSN without the two slashes (redis:host would reach localhost). The
// client the opener makes belongs to the store, which closes it in Close.
// For Sentinel, a Ring or a client you configure in code, use New.
//
// The schemes "redis+cluster" and "rediss+cluster" (TLS) open a Redis
// Cluster through a *redis.ClusterClient. The host and each addr parameter
// are seed nodes, as in go-redis's redis.ParseClusterURL; the client learns
// the other nodes from them:
//
//	redis+cluster://10.0.0.1:6379?addr=10.0.0.2:6379&addr=10.0.0.3:6379&prefix=myapp:
//	rediss+cluster://user:password@10.0.0.1:6380?read_only=true
//
// A cluster has only database 0: the path is empty, "/" or "/0". prefix,
// scan_count and lazy configure the store; the other parameters are
// go-redis's cluster options (read_only, route_by_latency, route_randomly,
// max_redirects, pool_size, read_timeout, ...; see redis.ParseClusterURL),
// and addr is the only one that may be repeated.
//
// # Opening and errors
//
// New (and so core.OpenStore) checks the server with a PING before it
// returns, within the caller's context, bounded by core.DefaultOpenTimeout
// when it has no deadline. The PING makes go-redis dial, authenticate and
// select the database, so an unreachable server, a database number the
// server does not have, a wrong password, and TLS (rediss://) against a
// plain server fail at once, with the address in the message:
//
//	redisstore: checking the server at 127.0.0.1:6379 (database 99): ERR DB index is out of range
//
// The errors of New and of the opener wrap core.ErrInvalidConfig for a DSN
// or option that is wrong and for a server that answers with an error or
// fails the TLS handshake's checks, and core.ErrUnavailable for a server
// that cannot be reached or does not answer in time. A program that must
// start while Redis is down sets Lazy (lazy=true): New then sends nothing,
// operations fail until the server is back, and the cache fails open
// meanwhile.
//
// # Layout in Redis
//
// Each entry is one string key, KeyPrefix followed by the core's key, whose
// value is a small header (format version, the entry's core.Meta) followed
// by the encoded entry. A hit is therefore one GET, and List reads each
// entry's Meta with a short GETRANGE. Keys are binary-safe: the core's keys
// are used as they are.
//
// # Expiry
//
// A non-zero Meta.Expires becomes the key's TTL, set by the same SET that
// writes the value (PX, or EX for whole seconds, with the time left until
// Expires by this process's clock, rounded up to a millisecond),
// so Redis evicts the entry itself; a relative TTL keeps working when the
// server's clock and the client's disagree, and on servers older than 6.2.
// Get also compares Expires, kept in the header, with this process's clock,
// so an entry is never returned after its Expires. A zero Expires keeps the
// entry until Redis evicts it under its maxmemory policy (volatile-* policies
// evict only keys with a TTL); an Expires that is not in the future deletes
// the key.
//
// # Listing and clearing
//
// List and Clear walk the keyspace with SCAN MATCH <prefix>* (never KEYS),
// on every master of a Cluster and every shard of a Ring, a batch of
// ScanCount keys per round trip; Clear removes what it finds with UNLINK and
// touches no key outside the prefix. SCAN visits the whole database, so a
// cache that shares a large database pays for the size of that database when
// listing or clearing; give it a database (or a server) of its own if that
// matters. A prefix must not be a prefix of another application's keys.
//
// # Redis Cluster
//
// Each entry is one key, so every command the store sends is on one slot and
// a cache's entries spread over every master; List and Clear SCAN each master
// (ClusterClient.ForEachMaster), and Clear's UNLINKs are single-key commands
// in one pipeline, which go-redis splits by node. A KeyPrefix with a hash tag
// ("{myapp}:") puts every entry in one slot, and so on one master.
//
// When a node fails to answer (not an error reply), the store asks go-redis
// to reload the cluster's slot map in the background (ReloadState, one
// reload at a time). go-redis follows MOVED replies by itself but otherwise
// reloads its map only when it is 10 s old; with the reload, the store uses a
// promoted replica as soon as the cluster has elected it. Meanwhile requests
// for the dead master's slots fail open to the origin.
//
// # Large values
//
// The store does not implement core.Streamer: every entry is one Redis
// value, read and written whole (Redis values are limited to 512 MB, and the
// core stores bodies up to core.WithMaxBodySize, 64 MiB by default).
//
// # Invalidations
//
// With Options.Publish (publish=true), every Set, Delete and Clear also
// publishes what it changed on the pub/sub channel InvalidationChannel
// (the key prefix, then "~invalidations"), in the same pipeline, and
// Subscribe implements core.Invalidator: a tiered store (package
// stores/tiered) in another process then drops its in-memory copy of a
// changed key. Every process writing the namespace must set it. A message
// is 'k' (a key) or 'a' (everything), the writing Store value's random id,
// a space, and the key; a subscriber skips its own Store value's messages.
//
// # Leases
//
// The Store implements core.Leaser, for core.WithLeaseWait (identical
// misses in different processes cost one origin request): the lease on key
// k is the Redis key KeyPrefix+"~lease~"+k, taken with SET NX PX and a
// random token, and released by a script that deletes it only while it
// holds that token. Every command is single-key, so a Cluster needs
// nothing more; a lease lapses after its ttl by the server's clock. List
// and Clear leave lease keys alone. A tiered store (package stores/tiered)
// in front of this one leases through it.
//
// # Concurrency and errors
//
// A *Store is safe for concurrent use; each method is one command or one
// pipeline, and SET replaces a value and its TTL atomically. Errors are
// prefixed "redisstore:", carry the operation and key, and wrap the
// go-redis error (and ctx.Err() when the context is done); a miss wraps
// core.ErrNotFound. Get returns a slice that shares memory with the reply,
// which neither the caller nor the store modifies, as core.Store requires.
//
// Redis 4.0 or later is needed (UNLINK).
package redisstore
