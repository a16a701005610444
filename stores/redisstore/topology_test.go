package redisstore_test

import (
	"context"
	"strings"
	"sync"
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

// TestConformanceCluster runs the store suite over a one-node Redis Cluster
// (a private redis-server in cluster mode holding every slot), through a
// ClusterClient.
func TestConformanceCluster(t *testing.T) {
	node := startPrivateRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	ctx := t.Context()
	direct := redis.NewClient(&redis.Options{Addr: node.addr})
	defer direct.Close()
	if err := direct.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatalf("CLUSTER ADDSLOTSRANGE: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := direct.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the one-node cluster is not ready after 10s: %v %q", err, info)
		}
		time.Sleep(50 * time.Millisecond) // polling a server's readiness, bounded above
	}
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{node.addr}, ContextTimeoutEnabled: true})
	t.Cleanup(func() { cluster.Close() })
	waitReady(t, cluster)
	conformance.RunStoreTests(t, func(context.Context, *testing.T) (conformance.StoreHarness, error) {
		return &clientHarness{client: cluster}, nil
	})
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
