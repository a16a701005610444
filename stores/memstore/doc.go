// Package memstore is an in-process, size-bounded core.Store built on otter
// v2 (github.com/maypok86/otter/v2): a concurrent hash table with a
// W-TinyLFU eviction policy (a small recency window in front of a main space
// guarded by a frequency sketch), so the hot part of the cache stays in
// memory and total size stays within a byte budget.
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
// values are not free). When the sum exceeds MaxBytes, otter evicts the
// entries its policy judges least likely to be used again; a new entry
// always enters (into the recency window), and may be the one evicted later
// if it is not read again. Eviction is not an error: a later Get misses, as
// with any cache. A value larger than MaxBytes (or than 4 GiB) is never
// stored. Reads and writes are recorded in buffers that are applied to the
// policy in batches, on the goroutine that fills one; List applies them
// first, so what it lists fits in MaxBytes.
//
// # Expiry
//
// Meta.Expires becomes the entry's deadline in otter: Get misses from that
// instant, and otter's timer wheel reclaims the memory (on later operations,
// and once a second on a goroutine of its own). A zero Expires keeps the
// entry until it is evicted; an Expires that is not in the future deletes the
// key.
//
// # Concurrency
//
// A *Store is safe for concurrent use. A write is done when Set or Delete
// returns: a Get that starts after it sees it, and writes of one key are
// applied in the order they return. Get returns the stored slice itself,
// without a copy: neither the store nor the caller may modify it, as the
// core.Store contract requires.
//
// Store also implements core.Lister, core.Clearer and io.Closer. After Close
// every method returns ErrClosed.
package memstore
