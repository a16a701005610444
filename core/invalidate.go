package core

import "context"

// InvalidationKind says what an Invalidation reports.
type InvalidationKind int

const (
	// InvalidateKey reports that the value of Invalidation.Key was
	// overwritten or deleted by another writer of the store.
	InvalidateKey InvalidationKind = iota
	// InvalidateAll reports that any key may have changed (the store was
	// cleared).
	InvalidateAll
	// SubscriptionLost reports that the subscription is interrupted: events
	// may be missed from now until SubscriptionRestored, so a copy of any
	// key may be stale.
	SubscriptionLost
	// SubscriptionRestored reports that the subscription delivers events
	// again after SubscriptionLost. Events that happened in between are not
	// delivered.
	SubscriptionRestored
)

// Invalidation is one event of an Invalidator's subscription.
type Invalidation struct {
	Kind InvalidationKind
	// Key is the changed key for InvalidateKey, empty otherwise.
	Key string
}

// Invalidator is implemented by shared stores that can tell a process when
// another process changes an entry, so that a copy kept in front of the
// store (package stores/tiered) is dropped instead of served stale.
//
// Contract:
//   - Subscribe returns once the subscription is active: every Set, Delete
//     or Clear made through another value of the store (another process)
//     that completes after Subscribe returns is reported to fn, after the
//     change is visible to Get. Changes made through the subscribing value
//     itself need not be reported.
//   - fn is called from one goroutine at a time, in the order of the events;
//     it must not block for long.
//   - When the subscription can no longer guarantee delivery (a lost
//     connection) it reports SubscriptionLost as soon as it notices, keeps
//     trying to resubscribe, and reports SubscriptionRestored once active
//     again. Events between the loss and its notice are the staleness
//     window of a copy; an implementation documents how it bounds it.
//   - stop ends the subscription; fn is not called after stop returns.
type Invalidator interface {
	Subscribe(ctx context.Context, fn func(Invalidation)) (stop func(), err error)
}
