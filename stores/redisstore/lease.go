package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hoardhttp/hoard/core"
)

// Leases (core.Leaser, for core.WithLeaseWait): the lease on a key is the
// Redis key <prefix>~lease~<key>, holding a random token, set with
// SET NX PX (taken only when absent, lapsing after the ttl by the server's
// clock) and released by a script that deletes it only while it still
// holds the releaser's token. Each is a single-key command, so it works
// unchanged on a Cluster (the lease key lives in whatever slot its name
// hashes to; with a hash-tagged prefix such as "{hoard}:", in the
// entries' slot) and on a Ring. List and Clear skip lease keys, so a core
// key must not itself start with "~lease~" (the core's keys never do).

// leaseInfix follows the key prefix in the name of a lease key.
const leaseInfix = "~lease~"

var _ core.Leaser = (*Store)(nil)

// releaseScript deletes KEYS[1] only while it holds ARGV[1].
var releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// leaseKey is the Redis key of the lease on key.
func (s *Store) leaseKey(key string) string { return s.prefix + leaseInfix + key }

// isLeaseKey reports whether full, a Redis key under the prefix, is a
// lease key.
func (s *Store) isLeaseKey(full string) bool {
	return strings.HasPrefix(full[len(s.prefix):], leaseInfix)
}

// withoutLeases returns keys (full keys under the prefix) without the lease
// keys, reusing keys' array.
func (s *Store) withoutLeases(keys []string) []string {
	out := keys[:0]
	for _, k := range keys {
		if len(k) >= len(s.prefix) && !s.isLeaseKey(k) {
			out = append(out, k)
		}
	}
	return out
}

// Lease implements core.Leaser with one SET NX PX: ok is true when no live
// lease on key existed, and the returned token then holds it for ttl
// (rounded up to a millisecond) by the server's clock.
func (s *Store) Lease(ctx context.Context, key string, ttl time.Duration) (string, bool, error) {
	if err := s.check(ctx, "lease", key); err != nil {
		return "", false, err
	}
	if ttl < time.Millisecond {
		return "", false, fmt.Errorf("redisstore: lease %q: ttl %v is below a millisecond", key, ttl)
	}
	ttl = (ttl + time.Millisecond - 1).Truncate(time.Millisecond)
	token := newToken()
	ok, err := s.client.SetNX(ctx, s.leaseKey(key), token, ttl).Result()
	if err != nil {
		return "", false, s.failed(ctx, "lease", key, err)
	}
	if !ok {
		return "", false, nil
	}
	return token, true, nil
}

// Release implements core.Leaser with a script that deletes the lease key
// only while it holds token (EVALSHA, falling back to EVAL once per node).
func (s *Store) Release(ctx context.Context, key, token string) error {
	if err := s.check(ctx, "release lease", key); err != nil {
		return err
	}
	if err := releaseScript.Run(ctx, s.client, []string{s.leaseKey(key)}, token).Err(); err != nil {
		return s.failed(ctx, "release lease", key, err)
	}
	return nil
}

// newToken returns a random lease token.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}
