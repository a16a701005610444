package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hoardhttp/hoard/core"
)

// Invalidations (core.Invalidator): with Options.Publish, every Set, Delete
// and Clear also publishes what it changed on the channel InvalidationChannel
// names, in the same round trip (a pipeline). A message is the kind ('k' for
// a key, 'a' for all), the writing Store's random id, a space, and the key.

// invalidationSuffix follows the key prefix in the channel's name.
const invalidationSuffix = "~invalidations"

// resubscribeDelay is the pause between two failed reads of a lost
// subscription, while go-redis reconnects.
const resubscribeDelay = 50 * time.Millisecond

var _ core.Invalidator = (*Store)(nil)

// InvalidationChannel returns the pub/sub channel of the store's
// invalidations: the key prefix, then "~invalidations".
func (s *Store) InvalidationChannel() string { return s.prefix + invalidationSuffix }

// Publishes reports whether the store publishes its changes
// (Options.Publish).
func (s *Store) Publishes() bool { return s.publish }

// newID returns a random id for a Store's messages.
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// publishKey queues the invalidation of key on p, if the store publishes.
func (s *Store) publishKey(ctx context.Context, p redis.Pipeliner, key string) {
	if s.publish {
		p.Publish(ctx, s.InvalidationChannel(), "k"+s.id+" "+key)
	}
}

// Subscribe implements core.Invalidator over Redis pub/sub. It fails with an
// error wrapping core.ErrNotSupported unless Options.Publish is set (a
// subscriber relies on every writer publishing). The messages of this Store
// value's own writes are not delivered.
//
// A subscription runs on its own connection. When reading it fails (the
// connection was closed or killed, the server restarted) fn gets
// core.SubscriptionLost at once; go-redis reconnects and subscribes again,
// and fn gets core.SubscriptionRestored when the server confirms. A
// connection that dies silently (no reset reaches this host) is noticed only
// when TCP gives up on it.
func (s *Store) Subscribe(ctx context.Context, fn func(core.Invalidation)) (func(), error) {
	if !s.publish {
		return nil, fmt.Errorf("redisstore: Subscribe: %w (Options.Publish is not set)", core.ErrNotSupported)
	}
	if err := s.check(ctx, "subscribe", ""); err != nil {
		return nil, err
	}
	ps := s.client.Subscribe(ctx, s.InvalidationChannel())
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		return nil, s.failed(ctx, "subscribe", "", err)
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go s.receive(ps, fn, done, stopped)
	var once bool
	return func() {
		if once {
			return
		}
		once = true
		close(done)
		ps.Close()
		<-stopped
	}, nil
}

// receive delivers the messages of ps to fn until done is closed.
func (s *Store) receive(ps *redis.PubSub, fn func(core.Invalidation), done, stopped chan struct{}) {
	defer close(stopped)
	ctx := context.Background()
	lost := false
	for {
		msg, err := ps.Receive(ctx)
		select {
		case <-done:
			return
		default:
		}
		if err != nil {
			if !lost {
				lost = true
				slog.Debug("redisstore: invalidation subscription lost", "channel", s.InvalidationChannel(), "err", err)
				fn(core.Invalidation{Kind: core.SubscriptionLost})
			}
			select {
			case <-done:
				return
			case <-time.After(resubscribeDelay):
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if lost && m.Kind == "subscribe" {
				lost = false
				fn(core.Invalidation{Kind: core.SubscriptionRestored})
			}
		case *redis.Message:
			if ev, ok := s.parse(m.Payload); ok && !lost {
				fn(ev)
			}
		}
	}
}

// parse decodes one message, reporting false for this store's own and for
// one it does not understand.
func (s *Store) parse(payload string) (core.Invalidation, bool) {
	if len(payload) < 1+len(s.id)+1 {
		return core.Invalidation{}, false
	}
	kind, id, key, ok := payload[0], payload[1:1+len(s.id)], payload[2+len(s.id):], payload[1+len(s.id)] == ' '
	if !ok || id == s.id {
		return core.Invalidation{}, false
	}
	switch kind {
	case 'k':
		return core.Invalidation{Kind: core.InvalidateKey, Key: key}, true
	case 'a':
		return core.Invalidation{Kind: core.InvalidateAll}, true
	}
	return core.Invalidation{}, false
}

// publishAll publishes the invalidation of every key, after Clear.
func (s *Store) publishAll(ctx context.Context) error {
	if !s.publish {
		return nil
	}
	if err := s.client.Publish(ctx, s.InvalidationChannel(), "a"+s.id+" ").Err(); err != nil {
		return s.failed(ctx, "clear (publish)", "", err)
	}
	return nil
}
