package redisstore_test

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/redisstore"
)

// clientHarness runs the conformance suite over one UniversalClient of a
// given topology, each store under a fresh prefix.
type clientHarness struct {
	client   redis.UniversalClient
	mu       sync.Mutex
	prefixes []string
}

func (h *clientHarness) MakeStore(ctx context.Context) (core.Store, error) {
	prefix := testPrefixString()
	h.mu.Lock()
	h.prefixes = append(h.prefixes, prefix)
	h.mu.Unlock()
	return redisstore.New(ctx, h.client, &redisstore.Options{KeyPrefix: prefix, ScanCount: 7})
}

func (h *clientHarness) Capabilities() conformance.Capabilities {
	return conformance.Capabilities{NativeTTL: true, List: true, Clear: true}
}

func (h *clientHarness) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.prefixes {
		_ = dropPrefix(h.client, p)
	}
}

// TestConformanceRing runs the store suite over a Ring of two shards (the
// server in HOARD_TEST_REDIS_URL and a private one), so List and Clear walk
// several nodes.
func TestConformanceRing(t *testing.T) {
	u := conformance.RequireService(t, envURL)
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	private := startPrivateRedis(t)
	ring := redis.NewRing(&redis.RingOptions{
		Addrs:                 map[string]string{"shared": opts.Addr, "private": private.addr},
		DB:                    opts.DB,
		Username:              opts.Username,
		Password:              opts.Password,
		ContextTimeoutEnabled: true,
	})
	t.Cleanup(func() { ring.Close() })
	waitReady(t, ring)
	conformance.RunStoreTests(t, func(context.Context, *testing.T) (conformance.StoreHarness, error) {
		return &clientHarness{client: ring}, nil
	})
}

// envClusterAddrs names the variable that points the tests at a Redis
// Cluster: comma-separated seed addresses (scripts/services.sh starts one of
// three masters and three replicas).
const envClusterAddrs = "HOARD_TEST_REDIS_CLUSTER_ADDRS"

// testClusterClient returns a ClusterClient for the cluster in
// HOARD_TEST_REDIS_CLUSTER_ADDRS (skipping, or failing under
// HOARD_REQUIRE_SERVICES=1, when it is unset), closed when t ends.
func testClusterClient(t *testing.T) *redis.ClusterClient {
	t.Helper()
	addrs := strings.Split(conformance.RequireService(t, envClusterAddrs), ",")
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	waitReady(t, c)
	return c
}

// TestConformanceCluster runs the store suite over the Redis Cluster in
// HOARD_TEST_REDIS_CLUSTER_ADDRS, through a ClusterClient: each store's keys
// spread over every master, which List and Clear must all walk.
func TestConformanceCluster(t *testing.T) {
	cluster := testClusterClient(t)
	conformance.RunStoreTests(t, func(context.Context, *testing.T) (conformance.StoreHarness, error) {
		return &clientHarness{client: cluster}, nil
	})
}

// TestClusterEveryMaster: a store's keys land on every master of the
// cluster, List yields them all and Clear removes them from every master,
// under a plain prefix (keys spread over the slots) and under a hash-tagged
// one (every key in one slot, so on one master).
func TestClusterEveryMaster(t *testing.T) {
	cluster := testClusterClient(t)
	ctx := t.Context()
	// ForEachMaster calls its function on goroutines of its own.
	var counted atomic.Int64
	if err := cluster.ForEachMaster(ctx, func(context.Context, *redis.Client) error {
		counted.Add(1)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	masters := int(counted.Load())
	if masters < 2 {
		t.Fatalf("the cluster has %d master(s); the test needs several", masters)
	}
	const n = 60
	for _, tc := range []struct {
		name        string
		tag         bool
		wantMasters int
	}{
		{"plain prefix", false, masters},
		{"hash-tagged prefix", true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := testPrefix(t)
			if tc.tag {
				prefix = "{" + prefix + "}"
			}
			t.Cleanup(func() { _ = dropPrefix(cluster, prefix) })
			st, err := redisstore.New(ctx, cluster, &redisstore.Options{KeyPrefix: prefix, ScanCount: 7})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{}
			for i := range n {
				k := "k/" + strconv.Itoa(i)
				want[k] = true
				if err := st.Set(ctx, k, []byte(k), core.Meta{Method: "GET", Status: 200}); err != nil {
					t.Fatal(err)
				}
			}
			perMaster := masterKeyCounts(t, cluster, prefix)
			if len(perMaster) != tc.wantMasters {
				t.Errorf("keys on %d masters (%v), want %d", len(perMaster), perMaster, tc.wantMasters)
			}
			got := map[string]bool{}
			for it, err := range st.List(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				if got[it.Key] {
					t.Errorf("List yields %q twice", it.Key)
				}
				got[it.Key] = true
			}
			if len(got) != n {
				t.Errorf("List yields %d keys, want %d", len(got), n)
			}
			for k := range want {
				if !got[k] {
					t.Errorf("List misses %q", k)
				}
			}
			if err := st.Clear(ctx); err != nil {
				t.Fatal(err)
			}
			if left := masterKeyCounts(t, cluster, prefix); len(left) != 0 {
				t.Errorf("keys left after Clear, per master: %v", left)
			}
		})
	}
}

// masterKeyCounts counts the keys under prefix on each master, straight
// from each master with SCAN, by master address; masters without any are
// left out.
func masterKeyCounts(t *testing.T, cluster *redis.ClusterClient, prefix string) map[string]int {
	t.Helper()
	var mu sync.Mutex
	out := map[string]int{}
	// ForEachMaster calls its function on goroutines of its own, where
	// t.Fatal must not be called: errors are returned.
	err := cluster.ForEachMaster(t.Context(), func(ctx context.Context, c *redis.Client) error {
		keys, err := scanKeys(ctx, c, prefix)
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			mu.Lock()
			out[c.Options().Addr] = len(keys)
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitReady pings client until it answers, for at most 10s.
func waitReady(t *testing.T, client redis.UniversalClient) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := client.Ping(t.Context()).Err()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer to PING after 10s: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling a server's readiness, bounded above
	}
}

// TestOpenStoreClusterLive opens the cluster of HOARD_TEST_REDIS_CLUSTER_ADDRS
// from a redis+cluster:// DSN naming two seeds: the store reaches every
// master (the client learns them from the seeds), and Clear empties them.
func TestOpenStoreClusterLive(t *testing.T) {
	addrs := strings.Split(conformance.RequireService(t, envClusterAddrs), ",")
	if len(addrs) < 2 {
		t.Fatalf("%s=%q: want several seeds", envClusterAddrs, addrs)
	}
	prefix := testPrefix(t)
	ctx := t.Context()
	st, err := core.OpenStore(ctx, "redis+cluster://"+addrs[0]+"?addr="+addrs[1]+"&prefix="+url.QueryEscape(prefix))
	if err != nil {
		t.Fatal(err)
	}
	rs := st.(*redisstore.Store)
	t.Cleanup(func() {
		_ = dropPrefix(rs.Client(), prefix)
		rs.Close()
	})
	const n = 30
	for i := range n {
		if err := rs.Set(ctx, strconv.Itoa(i), []byte("v"), core.Meta{Method: "GET"}); err != nil {
			t.Fatal(err)
		}
	}
	cluster := rs.Client().(*redis.ClusterClient)
	if got := masterKeyCounts(t, cluster, prefix); len(got) < 2 {
		t.Errorf("entries on %d master(s) (%v), want them spread over several", len(got), got)
	}
	listed := 0
	for _, err := range rs.List(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		listed++
	}
	if listed != n {
		t.Errorf("List yields %d entries, want %d", listed, n)
	}
	if err := rs.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if left := masterKeyCounts(t, cluster, prefix); len(left) != 0 {
		t.Errorf("entries left after Clear: %v", left)
	}
}
