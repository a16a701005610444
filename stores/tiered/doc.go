// Package tiered is a core.Store made of two tiers: an in-process L1 (a
// memstore) in front of a shared L2 (Redis, PostgreSQL, SQLite, files, ...).
//
// Get reads L1, then L2, keeping what it read from L2 in L1. Set and Delete
// go to L2 first, then to L1; a failed L2 write deletes L1's copy, so L1
// never holds a value L2 refused. This process's writes of one key are
// serialised, and a value read from L2 is kept in L1 only if no write or
// invalidation of its key happened between the read and the L1 write.
//
// Coherence across processes: when L2 implements core.Invalidator, another
// process's Set, Delete or Clear drops this process's L1 copy as soon as the
// event arrives, and a lost subscription drops all of L1 and bypasses it
// (every Get goes to L2) until the subscription is restored. Without an
// invalidator, an L1 copy lives at most Options.MaxL1Age (DefaultMaxL1Age,
// one second): that is the bound on serving a value another process has
// overwritten or deleted. An Invalidator that is not set up to publish (a
// redisstore without Options.Publish, a pgstore without Options.Notify)
// says core.ErrNotSupported from Subscribe, and counts as none.
//
// A value read from L2 has no known deletion time (Get does not return its
// Meta), so its L1 copy lives MaxL1Age; a value written through the Store
// keeps its Meta.Expires in L1, capped at MaxL1Age.
//
// Leases (core.Leaser) are L2's: with core.WithLeaseWait, processes that
// share L2 (each with its own L1) coalesce identical misses into one origin
// request through L2's lease on the key, as they would over L2 alone
// (redisstore and pgstore implement core.Leaser). Over an L2 without
// leases, Lease says core.ErrNotSupported and the Cache takes no leases.
//
// Streams (core.Streamer) go to L2 only; listing, clearing and the timeout
// hint are L2's. A Store implements core.LocalGetter over an in-process L1:
// the Cache serves an L1 hit without a store timeout context, while every
// read that reaches L2 keeps L2's timeout.
package tiered
