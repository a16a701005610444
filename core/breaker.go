package core

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// BreakerState is the state of the circuit breaker the cache keeps around
// its store.
type BreakerState int32

const (
	// BreakerClosed: store calls go ahead (the normal state).
	BreakerClosed BreakerState = iota
	// BreakerOpen: the store failed repeatedly; requests go straight to the
	// origin without touching it until the backoff has passed.
	BreakerOpen
	// BreakerHalfOpen: the backoff has passed and one probe of the store is
	// running in the background; requests still skip the store until it
	// succeeds.
	BreakerHalfOpen
)

// String returns "closed", "open" or "half-open".
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return fmt.Sprintf("BreakerState(%d)", int32(s))
}

// Breaker settings used where BreakerSettings leaves a field zero.
const (
	DefaultBreakerFailures   = 5
	DefaultBreakerBackoff    = 250 * time.Millisecond
	DefaultBreakerMaxBackoff = 2 * time.Second
)

// BreakerSettings configure the circuit breaker (see WithBreaker). A zero
// field takes its default.
type BreakerSettings struct {
	// Failures is the number of consecutive failed or timed-out store calls
	// that opens the breaker (default DefaultBreakerFailures). A call that
	// succeeds, or finds nothing (ErrNotFound) or a corrupt entry, resets the
	// count; a call abandoned because the caller's context ended does not
	// count either way.
	Failures int
	// Backoff is how long the breaker stays open after it first opens
	// (default DefaultBreakerBackoff). Each failed probe doubles it, up to
	// MaxBackoff; a successful probe resets it. Every wait is jittered: it
	// lasts between half and all of the current backoff, so that processes
	// sharing a store do not probe it in step.
	Backoff time.Duration
	// MaxBackoff caps the backoff (default DefaultBreakerMaxBackoff). It
	// bounds the time between a store's recovery and the cache using it
	// again: at most MaxBackoff plus one probe.
	MaxBackoff time.Duration
	// Disabled turns the breaker off: every store call goes ahead, however
	// many failed before (each still bounded by the store timeout).
	Disabled bool
}

func (s BreakerSettings) check() error {
	switch {
	case s.Failures < 0:
		return fmt.Errorf("core: WithBreaker: negative Failures %d", s.Failures)
	case s.Backoff < 0:
		return fmt.Errorf("core: WithBreaker: negative Backoff %v", s.Backoff)
	case s.MaxBackoff < 0:
		return fmt.Errorf("core: WithBreaker: negative MaxBackoff %v", s.MaxBackoff)
	}
	return nil
}

func (s BreakerSettings) withDefaults() BreakerSettings {
	if s.Failures == 0 {
		s.Failures = DefaultBreakerFailures
	}
	if s.Backoff == 0 {
		s.Backoff = DefaultBreakerBackoff
	}
	if s.MaxBackoff == 0 {
		s.MaxBackoff = DefaultBreakerMaxBackoff
	}
	if s.MaxBackoff < s.Backoff {
		s.MaxBackoff = s.Backoff
	}
	return s
}

// BreakerStats is the breaker part of Stats.
type BreakerStats struct {
	State          BreakerState // the state at the time of the snapshot
	Opens          int64        // times the breaker opened (from closed or after a failed probe)
	ShortCircuited int64        // store calls skipped because the breaker was not closed
	Probes         int64        // background probes of the store run while half-open
}

// breaker is the circuit breaker's state machine. It makes no store call
// itself: allow tells the caller when a probe is due, and the caller reports
// it with probed. now and jitter are injected for tests.
type breaker struct {
	cfg    BreakerSettings
	now    func() time.Time
	jitter func() float64 // in [0, 1)

	mu    sync.Mutex
	state BreakerState
	// fails counts consecutive failures while closed. It is written under
	// mu and read without it by success, so that a successful call (every
	// hit) takes no lock when nothing failed.
	fails   atomic.Int64
	backoff time.Duration // the current backoff
	until   time.Time     // end of the open period

	stateA       atomic.Int32 // state, for lock-free reads
	opens, short atomic.Int64
	probes       atomic.Int64
}

func newBreaker(s BreakerSettings) *breaker {
	s = s.withDefaults()
	return &breaker{cfg: s, now: time.Now, jitter: rand.Float64, backoff: s.Backoff}
}

// transition is a change of state, for the log.
type transition struct {
	from, to BreakerState
	wait     time.Duration // the open period, when to is BreakerOpen
}

func (b *breaker) set(s BreakerState) {
	b.state = s
	b.stateA.Store(int32(s))
}

// allow reports whether a store call may go ahead. When it may not, it
// counts the call as short-circuited; probe is true for the one caller that
// moved the breaker to half-open and must run the probe (and report it with
// probed).
func (b *breaker) allow() (ok, probe bool, t *transition) {
	if b.cfg.Disabled || BreakerState(b.stateA.Load()) == BreakerClosed {
		return true, false, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerClosed:
		return true, false, nil
	case BreakerOpen:
		if !b.now().Before(b.until) {
			b.set(BreakerHalfOpen)
			b.probes.Add(1)
			b.short.Add(1)
			return false, true, &transition{from: BreakerOpen, to: BreakerHalfOpen}
		}
	}
	b.short.Add(1)
	return false, false, nil
}

// success records a store call that worked.
func (b *breaker) success() {
	if b.cfg.Disabled || BreakerState(b.stateA.Load()) != BreakerClosed || b.fails.Load() == 0 {
		return // outside closed, only the probe decides; or nothing to reset
	}
	b.mu.Lock()
	if b.state == BreakerClosed {
		b.fails.Store(0)
	}
	b.mu.Unlock()
}

// failure records a store call that failed or timed out; it returns the
// transition when this failure opened the breaker.
func (b *breaker) failure() *transition {
	if b.cfg.Disabled {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != BreakerClosed {
		return nil // a call admitted before it opened
	}
	if b.fails.Add(1) < int64(b.cfg.Failures) {
		return nil
	}
	b.backoff = b.cfg.Backoff
	return b.open(BreakerClosed)
}

// open moves to open for a jittered backoff; b.mu is held.
func (b *breaker) open(from BreakerState) *transition {
	wait := b.backoff/2 + time.Duration(b.jitter()*float64(b.backoff/2))
	b.until = b.now().Add(wait)
	b.fails.Store(0)
	b.set(BreakerOpen)
	b.opens.Add(1)
	return &transition{from: from, to: BreakerOpen, wait: wait}
}

// probed records the outcome of the probe allow asked for: success closes
// the breaker, failure opens it again with twice the backoff (capped).
func (b *breaker) probed(ok bool) *transition {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != BreakerHalfOpen {
		return nil
	}
	if ok {
		b.backoff = b.cfg.Backoff
		b.fails.Store(0)
		b.set(BreakerClosed)
		return &transition{from: BreakerHalfOpen, to: BreakerClosed}
	}
	b.backoff = min(2*b.backoff, b.cfg.MaxBackoff)
	return b.open(BreakerHalfOpen)
}

func (b *breaker) stats() BreakerStats {
	return BreakerStats{
		State: BreakerState(b.stateA.Load()), Opens: b.opens.Load(),
		ShortCircuited: b.short.Load(), Probes: b.probes.Load(),
	}
}
