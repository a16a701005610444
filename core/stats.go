package core

import "sync/atomic"

// Stats counts what the cache did since it was created. Read it with
// Cache.Stats; the counters are cumulative.
type Stats struct {
	Hits          int64 // fresh responses served from the store
	StaleHits     int64 // stale responses served (stale-while-revalidate, stale-if-error, max-stale)
	Misses        int64 // requests forwarded with nothing usable stored
	Revalidations int64 // conditional or refresh requests sent for a stored response
	NotModified   int64 // revalidations answered 304
	Stores        int64 // entries written
	Invalidations int64 // keys deleted after unsafe methods
	Collapsed     int64 // requests that waited for an identical one in flight (counted when they start waiting)
	Background    int64 // background stale-while-revalidate refreshes started
	StoreErrors   int64 // failed or timed-out store operations (the request failed open); calls the open breaker skipped are counted in Breaker.ShortCircuited
	CorruptErrors int64 // entries that failed to decode or the store's integrity check, sat under a key they were not written for, or whose streamed body failed its checks (deleted; a miss when detected before the body was served)
	// Breaker is the state and counters of the circuit breaker around the
	// store (see WithBreaker).
	Breaker BreakerStats
}

type counters struct {
	hits, staleHits, misses, revalidations, notModified, stores, invalidations,
	collapsed, background, storeErrors, corrupt atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Hits: c.hits.Load(), StaleHits: c.staleHits.Load(), Misses: c.misses.Load(),
		Revalidations: c.revalidations.Load(), NotModified: c.notModified.Load(),
		Stores: c.stores.Load(), Invalidations: c.invalidations.Load(),
		Collapsed: c.collapsed.Load(), Background: c.background.Load(),
		StoreErrors: c.storeErrors.Load(), CorruptErrors: c.corrupt.Load(),
	}
}
