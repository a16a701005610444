package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Every call the Cache makes into its store goes through call (or, for a
// listing, admit and record): the one place where Close's gate, the circuit
// breaker, the per-operation timeout, error accounting and rate-limited
// logging are applied.

// errBreakerOpen is the error of a store call the circuit breaker skipped.
var errBreakerOpen = fmt.Errorf("core: circuit breaker open, the store failed repeatedly: %w", ErrUnavailable)

// errStoreTimeout marks a store call that ran out of its per-operation
// timeout while the caller's context was still live.
var errStoreTimeout = errors.New("core: store operation timed out")

// DefaultStoreTimeout is the per-operation store timeout when neither
// WithStoreTimeout nor the store (TimeoutHinter) says otherwise: a network
// store that has not answered a small read or write in this long is taken as
// failing (measured in BENCHMARKS.md, "Store outages").
const DefaultStoreTimeout = 300 * time.Millisecond

// TimeoutHinter is implemented by stores whose per-operation timeout should
// differ from DefaultStoreTimeout: an in-process store needs none (zero), a
// disk store may need a longer one. WithStoreTimeout overrides the hint.
type TimeoutHinter interface {
	// StoreTimeout returns the timeout for each operation; zero for none.
	StoreTimeout() time.Duration
}

// probeKey is the key the background probe reads while the breaker is
// half-open; a miss (ErrNotFound) is a success.
const probeKey = "hoard:breaker-probe"

// Store error log rate limit: at most logBurst lines per logInterval.
const (
	logInterval = 10 * time.Second
	logBurst    = 5
)

// logLimiter bounds the store-error log lines per interval and counts what
// it suppressed, reported on the next line let through.
type logLimiter struct {
	mu         sync.Mutex
	now        func() time.Time
	start      time.Time
	n          int
	suppressed int64
}

// take reports whether a line may be logged now, and how many were
// suppressed since the last one.
func (l *logLimiter) take() (ok bool, suppressed int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.start) >= logInterval || now.Before(l.start) {
		l.start, l.n = now, 0
	}
	if l.n >= logBurst {
		l.suppressed++
		return false, 0
	}
	l.n++
	s := l.suppressed
	l.suppressed = 0
	return true, s
}

// flush returns and resets the count of suppressed lines.
func (l *logLimiter) flush() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.suppressed
	l.suppressed = 0
	return s
}

// storeTimeout resolves the per-operation timeout.
func storeTimeout(cfg *config, s Store) time.Duration {
	if cfg.storeTimeoutSet {
		return cfg.storeTimeout
	}
	if h, ok := s.(TimeoutHinter); ok {
		return h.StoreTimeout()
	}
	return DefaultStoreTimeout
}

// admit lets a store call in: it fails with ErrClosed after Close and with
// errBreakerOpen while the breaker is not closed. A nil error must be
// followed by c.gate.leave and by record.
func (c *Cache) admit(ctx context.Context) error {
	if !c.gate.enter() {
		return ErrClosed
	}
	ok, probe, t := c.breaker.allow()
	if ok {
		return nil
	}
	c.gate.leave()
	if t != nil {
		c.logTransition(ctx, t)
	}
	if probe {
		go c.probe()
	}
	return errBreakerOpen
}

// callMode says how call bounds and reports a store call.
type callMode uint8

const (
	// onRequest: a call made for a request, bounded by the store timeout;
	// a failure is counted in Stats().StoreErrors and logged (rate-limited).
	onRequest callMode = 0
	// unbounded: no store timeout (the call hands out something that lives
	// on ctx, or bounds itself).
	unbounded callMode = 1 << iota
	// quiet: the failure is returned to the caller, neither counted nor
	// logged (it still counts for the breaker).
	quiet
	// managed is a management call's mode: bounded by the caller's context
	// alone, its errors returned.
	managed = unbounded | quiet
)

// call makes the store call fn under admit and record, bounded by the store
// timeout unless mode says otherwise. It returns fn's error, or ErrClosed or
// errBreakerOpen when fn was not called; a timeout wraps errStoreTimeout.
func (c *Cache) call(ctx context.Context, op, key string, mode callMode, fn func(context.Context) error) error {
	if err := c.admit(ctx); err != nil {
		return err
	}
	defer c.gate.leave()
	sctx := ctx
	if mode&unbounded == 0 && c.timeout > 0 {
		cc := newCallContext(ctx, c.timeout)
		defer cc.finish()
		sctx = cc
	}
	o, start := c.opStart(ctx)
	err := fn(sctx)
	if err != nil && sctx != ctx && sctx.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("%w after %v: %w", errStoreTimeout, c.timeout, err)
	}
	o.opDone(observedOp(op), start, err)
	c.record(ctx, op, key, mode, err)
	return err
}

// observedOp is the StoreOp.Op name of a store call's op, or "" for a call
// an Event does not report (a listing, a clear, one write into a stream).
func observedOp(op string) string {
	switch op {
	case "get":
		return OpGet
	case "set":
		return OpSet
	case "delete":
		return OpDelete
	case "open stream":
		return OpOpenStream
	case "create stream":
		return OpCreateStream
	case "commit stream":
		return OpCommitStream
	case "abort stream":
		return OpAbortStream
	}
	return ""
}

// record accounts for the outcome of a store call: a success, a miss or a
// corrupt entry (the store answered) resets the breaker's failure count; a
// failure is told to the breaker and, unless mode is quiet, counted and
// logged (rate-limited); a call the caller gave up on counts neither way.
func (c *Cache) record(ctx context.Context, op, key string, mode callMode, err error) {
	switch {
	case err == nil, errors.Is(err, ErrNotFound), errors.Is(err, ErrCorrupt):
		c.breaker.success()
		return
	case ctx.Err() != nil:
		return // the caller gave up; the store did not fail
	}
	if mode&quiet == 0 {
		c.storeFailed(ctx, op, key, err)
	}
	if t := c.breaker.failure(); t != nil {
		c.logTransition(ctx, t)
	}
}

// storeFailed counts and logs (rate-limited) a failed store or codec
// operation; the request fails open.
func (c *Cache) storeFailed(ctx context.Context, op, key string, err error) {
	if ctx.Err() != nil {
		return // the caller gave up; the store did not fail
	}
	c.stats.storeErrors.Add(1)
	ok, suppressed := c.logLimit.take()
	if !ok {
		return
	}
	attrs := []slog.Attr{slog.String("op", op), slog.String("key", key), slog.Any("error", err)}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int64("suppressed", suppressed))
	}
	c.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "hoard: store error; request fails open", attrs...)
}

// logTransition logs a change of the breaker's state, once per change.
func (c *Cache) logTransition(ctx context.Context, t *transition) {
	ctx = context.WithoutCancel(ctx)
	switch t.to {
	case BreakerOpen:
		c.cfg.logger.LogAttrs(ctx, slog.LevelError, "hoard: store circuit breaker open; requests skip the store",
			slog.String("from", t.from.String()), slog.Duration("retry_in", t.wait))
	case BreakerHalfOpen:
		c.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "hoard: store circuit breaker half-open; probing the store")
	case BreakerClosed:
		attrs := []slog.Attr{}
		if s := c.logLimit.flush(); s > 0 {
			attrs = append(attrs, slog.Int64("suppressed", s))
		}
		c.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "hoard: store circuit breaker closed; the store answers again", attrs...)
	}
}

// probe reads probeKey, bounded by the store timeout (or by the maximum
// backoff when there is none), and reports the outcome to the breaker. It
// runs in the background: no caller waits for it.
func (c *Cache) probe() {
	ok := false
	if c.gate.enter() {
		d := c.timeout
		if d <= 0 {
			d = c.breaker.cfg.MaxBackoff
		}
		ctx, cancel := context.WithTimeout(c.bgCtx, d)
		_, err := c.store.Get(ctx, probeKey)
		cancel()
		c.gate.leave()
		ok = err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt)
		if !ok {
			c.storeFailed(c.bgCtx, "probe", probeKey, err)
		}
	}
	if t := c.breaker.probed(ok); t != nil {
		c.logTransition(c.bgCtx, t)
	}
}
