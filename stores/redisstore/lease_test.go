package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/redisstore"
)

// TestCrossProcessCoalescing: 4 processes × 25 goroutines on one cold URL
// through one Redis (a single node, and the Cluster), with waiters that
// poll and with waiters woken by the store's invalidations (Publish), cost
// one origin request; a crashed holder's lease delays a request by the
// wait bound at most. The figures go to BENCHMARKS.md ("Coalescing across
// processes").
func TestCrossProcessCoalescing(t *testing.T) {
	for _, tc := range []struct {
		name             string
		cluster, publish bool
	}{
		{"Redis", false, false},
		{"Redis_Publish", false, true},
		{"Cluster", true, false},
		{"Cluster_Publish", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var client redis.UniversalClient
			tg := conformance.CrossProcessTarget{
				Name: "Redis " + tc.name,
				Open: func(ctx context.Context, t *testing.T, ns string) (core.Store, error) {
					var c redis.UniversalClient
					if tc.cluster {
						c = testClusterClient(t)
					} else {
						c = testClient(t)
					}
					if client == nil {
						client = c // the first, closed after Drop
					}
					return redisstore.New(ctx, c, &redisstore.Options{KeyPrefix: "hoardtest:" + ns + ":", Publish: tc.publish})
				},
				Drop: func(ctx context.Context, ns string) error {
					prefix := "hoardtest:" + ns + ":"
					return errors.Join(dropPrefix(client, prefix), dropLeases(ctx, client, prefix))
				},
			}
			if rep := conformance.RunCrossProcessCoalescing(t, tg, conformance.DefaultCrossProcessLoad()); rep.Name != "" {
				t.Log(rep)
			}
		})
	}
}

// List and Clear leave lease keys out: a lease is not an entry, and
// clearing the cache must not hand a held lease to a second process.
func TestLeaseKeysNotListedOrCleared(t *testing.T) {
	client := testClient(t)
	st := newTestStore(t, client)
	ctx := t.Context()
	tok, ok, err := st.Lease(ctx, "k", time.Minute)
	if err != nil || !ok {
		t.Fatalf("Lease: ok %v, error %v", ok, err)
	}
	t.Cleanup(func() { st.Release(context.Background(), "k", tok) })
	if err := st.Set(ctx, "k", []byte("v"), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	keys := rawKeys(t, client, st.KeyPrefix())
	if len(keys) != 2 {
		t.Fatalf("raw keys %q; want the entry and its lease", keys)
	}
	n := 0
	for it, err := range st.List(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if it.Key != "k" {
			t.Errorf("List yielded %q", it.Key)
		}
		n++
	}
	if n != 1 {
		t.Errorf("List yielded %d keys, want 1", n)
	}
	if err := st.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if keys := rawKeys(t, client, st.KeyPrefix()); len(keys) != 1 || keys[0] != st.KeyPrefix()+"~lease~k" {
		t.Errorf("raw keys after Clear %q; want just the lease", keys)
	}
	if _, ok, _ := st.Lease(ctx, "k", time.Minute); ok {
		t.Error("the lease was free after Clear")
	}
}

// dropLeases deletes the lease keys under prefix (which Clear leaves
// alone), on every master of a Cluster.
func dropLeases(ctx context.Context, client redis.UniversalClient, prefix string) error {
	drop := func(ctx context.Context, c redis.Cmdable) error {
		keys, err := scanKeys(ctx, c, prefix+"~lease~")
		for _, k := range keys {
			err = errors.Join(err, c.Unlink(ctx, k).Err())
		}
		return err
	}
	if cc, ok := client.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return drop(ctx, c) })
	}
	return drop(ctx, client)
}
