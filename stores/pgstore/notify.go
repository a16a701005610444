package pgstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hoardhttp/hoard/core"
)

// Invalidations (core.Invalidator) over PostgreSQL's LISTEN/NOTIFY: with
// Options.Notify, every Set, Delete, DeleteURL and Clear also sends
// pg_notify on the channel InvalidationChannel names, in the same
// transaction as the change, so that the notification is delivered when,
// and only if, the change commits (after it is visible to every reader).
//
// A payload is the kind ('k' for keys, 'a' for all), the writing Store's
// random id, a space, and for 'k' the changed keys, each base64url-encoded
// (keys are arbitrary bytes; a payload is text) and separated by spaces.
// A change whose payload would exceed PostgreSQL's limit (maxPayload) is
// sent as 'a': every key may have changed.

const (
	// channelSuffix follows the table's name in the channel's name.
	channelSuffix = "_invalidations"
	// maxChannel is PostgreSQL's identifier limit (NAMEDATALEN - 1): a
	// longer channel name is hashed (hoard_inv_<hash>).
	maxChannel = 63
	// maxPayload is the longest payload NOTIFY takes (it must be shorter
	// than 8000 bytes in the default configuration).
	maxPayload = 7999
	// notifyQuery sends one notification inside the caller's transaction.
	notifyQuery = `SELECT pg_notify($1, $2)`
)

// Listener timing: an idle listener pings the server every pingEvery and
// gives the ping pingTimeout, so that a connection that died silently is
// noticed within their sum; a lost connection is reopened after retryMin,
// doubling up to retryMax between attempts.
var (
	pingEvery   = 5 * time.Second
	pingTimeout = 5 * time.Second
	retryMin    = 50 * time.Millisecond
	retryMax    = 5 * time.Second
)

var _ core.Invalidator = (*Store)(nil)

// channelName is the NOTIFY channel of the store of the table shown
// (schema.table or table).
func channelName(shown string) string {
	if ch := shown + channelSuffix; len(ch) <= maxChannel {
		return ch
	}
	sum := sha256.Sum256([]byte(shown))
	return "hoard_inv_" + hex.EncodeToString(sum[:16])
}

// newID returns a random id for a Store's notifications.
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// InvalidationChannel returns the NOTIFY channel of the store's
// invalidations: the table's name (with its schema, if given) followed by
// "_invalidations", or "hoard_inv_" and a hash of the table's name when that
// would be longer than PostgreSQL's 63-byte identifier limit.
func (s *Store) InvalidationChannel() string { return s.channel }

// Notifies reports whether the store sends its changes on the channel
// (Options.Notify).
func (s *Store) Notifies() bool { return s.notify }

// payload is the notification of keys; all (or keys too many for one
// payload) makes it the "every key may have changed" one.
func (s *Store) payload(all bool, keys ...[]byte) string {
	if !all {
		n := 1 + len(s.id)
		for _, k := range keys {
			n += 1 + base64.RawURLEncoding.EncodedLen(len(k))
		}
		if n <= maxPayload && len(keys) > 0 {
			var b strings.Builder
			b.Grow(n)
			b.WriteByte('k')
			b.WriteString(s.id)
			for _, k := range keys {
				b.WriteByte(' ')
				b.WriteString(base64.RawURLEncoding.EncodeToString(k))
			}
			return b.String()
		}
	}
	return "a" + s.id + " "
}

// queueNotify queues the notification of keys on b, if the store notifies.
func (s *Store) queueNotify(b *pgx.Batch, keys ...[]byte) {
	if s.notify {
		b.Queue(notifyQuery, s.channel, s.payload(false, keys...))
	}
}

// notifyTx sends the notification of keys (or of every key, with all) in
// tx, if the store notifies.
func (s *Store) notifyTx(ctx context.Context, tx pgx.Tx, all bool, keys ...[]byte) error {
	if !s.notify || (!all && len(keys) == 0) {
		return nil
	}
	_, err := tx.Exec(ctx, notifyQuery, s.channel, s.payload(all, keys...))
	return err
}

// parse decodes one payload into fn's events, skipping this store's own
// and any it does not understand.
func (s *Store) parse(payload string, fn func(core.Invalidation)) {
	if len(payload) < 1+len(s.id)+1 || payload[1+len(s.id)] != ' ' || payload[1:1+len(s.id)] == s.id {
		return
	}
	switch payload[0] {
	case 'a':
		fn(core.Invalidation{Kind: core.InvalidateAll})
	case 'k':
		for _, f := range strings.Fields(payload[2+len(s.id):]) {
			key, err := base64.RawURLEncoding.DecodeString(f)
			if err != nil {
				// A key this store cannot read: assume any changed.
				fn(core.Invalidation{Kind: core.InvalidateAll})
				return
			}
			fn(core.Invalidation{Kind: core.InvalidateKey, Key: string(key)})
		}
	}
}

// Subscribe implements core.Invalidator over LISTEN/NOTIFY. It fails with an
// error wrapping core.ErrNotSupported unless Options.Notify is set (a
// subscriber relies on every writer notifying). The notifications of this
// Store value's own changes are not delivered.
//
// A subscription runs on a connection of its own (opened with the pool's
// connection settings, outside the pool), which LISTENs before Subscribe
// returns. The connection pings the server after 5 s without a
// notification; when it fails (the server closed or terminated it, a ping
// got no answer within 5 s, the server restarted) fn gets
// core.SubscriptionLost at once, and the connection is reopened, after
// 50 ms and then up to 5 s between attempts, and fn gets
// core.SubscriptionRestored once it LISTENs again. A connection that dies
// silently is thus noticed within about 10 s. Closing the Store ends its
// subscriptions, each reporting core.SubscriptionLost (unless it is lost
// already) as its last event.
func (s *Store) Subscribe(ctx context.Context, fn func(core.Invalidation)) (func(), error) {
	if !s.notify {
		return nil, fmt.Errorf("pgstore: Subscribe: %w (Options.Notify is not set)", core.ErrNotSupported)
	}
	if err := s.check(ctx, "subscribe", ""); err != nil {
		return nil, err
	}
	octx, cancel := core.OpenContext(ctx)
	conn, err := s.listen(octx)
	cancel()
	if err != nil {
		return nil, s.fail(ctx, "subscribe", s.channel, err)
	}
	lctx, cancel := context.WithCancel(s.base)
	l := &listener{cancel: cancel, stopped: make(chan struct{})}
	if !s.listeners.add(l) {
		cancel()
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, ErrClosed
	}
	go s.receive(lctx, conn, fn, l)
	return func() {
		l.stop(false)
		s.listeners.remove(l)
	}, nil
}

// listener is one subscription's goroutine.
type listener struct {
	cancel  context.CancelFunc
	stopped chan struct{} // closed when the goroutine has returned
	closing atomic.Bool   // the store is closing: report the loss
	once    sync.Once
}

// stop ends the goroutine and waits for it; closing says it ends because
// the store closes, which fn is told as core.SubscriptionLost.
func (l *listener) stop(closing bool) {
	l.once.Do(func() {
		l.closing.Store(closing)
		l.cancel()
		<-l.stopped
	})
}

// listeners are a Store's running subscriptions.
type listeners struct {
	mu     sync.Mutex
	closed bool
	set    map[*listener]bool
}

// add records l, or reports false once the store is closed.
func (ls *listeners) add(l *listener) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.closed {
		return false
	}
	if ls.set == nil {
		ls.set = map[*listener]bool{}
	}
	ls.set[l] = true
	return true
}

func (ls *listeners) remove(l *listener) {
	ls.mu.Lock()
	delete(ls.set, l)
	ls.mu.Unlock()
}

// close ends every subscription, reporting it lost to its fn.
func (ls *listeners) close() {
	ls.mu.Lock()
	ls.closed = true
	set := ls.set
	ls.set = nil
	ls.mu.Unlock()
	for l := range set {
		l.stop(true)
	}
}

// listen opens the listening connection.
func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return conn, nil
}

// receive delivers the notifications of conn to fn until ctx is done,
// reopening the connection when it is lost.
func (s *Store) receive(ctx context.Context, conn *pgx.Conn, fn func(core.Invalidation), l *listener) {
	defer close(l.stopped)
	lost := false
	defer func() {
		if conn != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_ = conn.Close(cctx)
			cancel()
		}
		if l.closing.Load() && !lost {
			fn(core.Invalidation{Kind: core.SubscriptionLost})
		}
	}()
	for {
		err := s.wait(ctx, conn, fn)
		if ctx.Err() != nil {
			return
		}
		slog.Debug("pgstore: invalidation listener lost", "channel", s.channel, "err", err)
		fn(core.Invalidation{Kind: core.SubscriptionLost})
		lost = true
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_ = conn.Close(cctx)
		cancel()
		conn = nil
		for delay := retryMin; conn == nil; delay = min(2*delay, retryMax) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			octx, cancel := context.WithTimeout(ctx, retryMax)
			conn, err = s.listen(octx)
			cancel()
			if err != nil {
				conn = nil
				if ctx.Err() != nil {
					return
				}
				slog.Debug("pgstore: reopening the invalidation listener", "channel", s.channel, "err", err)
			}
		}
		lost = false
		fn(core.Invalidation{Kind: core.SubscriptionRestored})
	}
}

// wait delivers conn's notifications to fn until ctx is done or conn
// fails, pinging the server when it has been quiet for pingEvery.
func (s *Store) wait(ctx context.Context, conn *pgx.Conn, fn func(core.Invalidation)) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, pingEvery)
		n, err := conn.WaitForNotification(wctx)
		quiet := errors.Is(wctx.Err(), context.DeadlineExceeded)
		cancel()
		if n != nil && ctx.Err() == nil {
			s.parse(n.Payload, fn)
		}
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil:
			continue
		case !quiet || conn.IsClosed():
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return err
		}
	}
}

// queued returns n, plus one for the notification queueNotify adds to a
// batch when the store notifies.
func (s *Store) queued(n int) int {
	if s.notify {
		return n + 1
	}
	return n
}
