// Package memstore is an in-process, size-bounded core.Store built on
// ristretto v2 (github.com/dgraph-io/ristretto/v2): a TinyLFU admission
// policy with sampled-LFU eviction, so the hot part of the cache stays in
// memory and total size never exceeds a byte budget.
//
// Nothing survives the process; use it for tests, short-lived programs, or as
// the fast tier in front of nothing at all.
//
// # Options
//
// New takes an *Options; nil means defaults.
//
//	| Options field | DSN parameter | default | meaning                                   |
//	|---------------|---------------|---------|-------------------------------------------|
//	| MaxBytes      | max_bytes     | 64 MiB  | upper bound on the sum of stored values   |
//
// # URLs
//
// Importing the package registers the scheme "mem" with core.RegisterStore,
// so core.OpenStore accepts
//
//	mem://
//	mem://?max_bytes=64MiB
//
// max_bytes takes the sizes core.ParseSize understands ("1000000", "64MiB",
// "100MB"); 0 means the default. A host, a path, user information or a
// fragment in the DSN is an error, and so is any parameter other than
// max_bytes.
//
// # Errors
//
// The errors of New and of the DSN opener wrap core.ErrInvalidConfig (an
// invalid option or DSN) or, when the context given to core.OpenStore has
// ended, core.ErrUnavailable; there is no server to check. Errors of
// operations are prefixed "memstore:" and carry the operation.
//
// # Size and eviction
//
// Each entry costs the length of its value in bytes (at least 1, so empty
// values are not free). When a write would exceed MaxBytes, ristretto evicts
// the least frequently used entries it samples, or rejects the new entry if it
// is colder than all of them. A rejected or dropped write is not an error: Set
// returns nil and a later Get misses, as with any cache. A value larger than
// MaxBytes is never stored.
//
// # Expiry
//
// Meta.Expires becomes a native ristretto TTL: Get misses from that instant
// and the entry's memory is reclaimed by ristretto's periodic cleanup. A zero
// Expires keeps the entry until it is evicted; an Expires that is not in the
// future deletes the key.
//
// # Concurrency
//
// A *Store is safe for concurrent use. Writes to the same key are serialised.
// ristretto applies writes from its own goroutine, and Set does not wait for
// it: until then Get finds the entry in the store's index, so a Set is
// visible to every Get that starts after it returns (unless the entry is
// later rejected by ristretto's admission policy or evicted), and a Delete or
// overwrite is never undone by an earlier write applied late. List waits for
// the queued writes and lists exactly what ristretto holds. Get returns the
// stored slice itself, without a copy: neither the
// store nor the caller may modify it, as the core.Store contract requires.
//
// Store also implements core.Lister, core.Clearer and io.Closer. After Close
// every method returns ErrClosed.
package memstore
