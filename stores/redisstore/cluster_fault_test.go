package redisstore_test

import (
	"context"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/stores/redisstore"
)

// clusterNodeTimeout is the private cluster's cluster-node-timeout: how long
// a master may be unreachable before its replica is promoted. Low, so that
// the fault test takes seconds.
const clusterNodeTimeout = 1000 * time.Millisecond

// privateCluster is a Redis Cluster of the test's own, three masters and
// three replicas on free loopback ports, so that killing one of its nodes
// disturbs no other test (never the cluster of scripts/services.sh).
type privateCluster struct {
	nodes  []*privateRedis
	byAddr map[string]*privateRedis
}

// startPrivateCluster starts six cluster-mode redis-servers, joins them with
// redis-cli --cluster create --cluster-replicas 1, and waits until every
// node reports the cluster ok and every replica is in sync with its master.
func startPrivateCluster(t *testing.T) *privateCluster {
	t.Helper()
	cli := requireBinary(t, "redis-cli")
	pc := &privateCluster{byAddr: map[string]*privateRedis{}}
	args := []string{"--cluster", "create"}
	for range 6 {
		// The cluster bus gets a free port of its own: the default (the
		// port plus 10000) may be taken, or above 65535.
		_, bus, _ := net.SplitHostPort(conformance.ClosedAddr(t))
		n := startPrivateRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.Itoa(int(clusterNodeTimeout/time.Millisecond)),
			"--cluster-port", bus)
		pc.nodes = append(pc.nodes, n)
		pc.byAddr[n.addr] = n
		args = append(args, n.addr)
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !pc.ready(ctx) {
		if time.Now().After(deadline) {
			t.Fatalf("the private cluster is not ready after 30s:\n%s", pc.describe(ctx))
		}
		time.Sleep(100 * time.Millisecond) // polling the cluster's state, bounded above
	}
	return pc
}

// addrs returns the addresses of every node, as seeds for a ClusterClient.
func (pc *privateCluster) addrs() []string {
	out := make([]string, len(pc.nodes))
	for i, n := range pc.nodes {
		out[i] = n.addr
	}
	return out
}

// ready reports whether every live node says cluster_state:ok, knows six
// nodes, and every replica's link to its master is up.
func (pc *privateCluster) ready(ctx context.Context) bool {
	replicas := 0
	for _, n := range pc.nodes {
		c := redis.NewClient(&redis.Options{Addr: n.addr})
		info, err := c.ClusterInfo(ctx).Result()
		repl, rerr := c.Info(ctx, "replication").Result()
		c.Close()
		if err != nil || rerr != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:6") {
			return false
		}
		if strings.Contains(repl, "role:slave") {
			if !strings.Contains(repl, "master_link_status:up") {
				return false
			}
			replicas++
		}
	}
	return replicas == 3
}

// promoted reports whether a live node has marked dead as failed and sees
// the cluster ok again: a replica has taken over dead's slots.
func (pc *privateCluster) promoted(ctx context.Context, dead string) bool {
	for _, n := range pc.nodes {
		if n.addr == dead {
			continue
		}
		c := redis.NewClient(&redis.Options{Addr: n.addr})
		defer c.Close()
		info, err := c.ClusterInfo(ctx).Result()
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			return false
		}
		nodes, err := c.ClusterNodes(ctx).Result()
		if err != nil {
			return false
		}
		for _, line := range strings.Split(nodes, "\n") {
			// <id> <ip:port@bus> <flags> <master> ...; flags "fail", not
			// the suspicion "fail?".
			f := strings.Fields(line)
			if len(f) > 2 && strings.HasPrefix(f[1], dead+"@") {
				return slices.Contains(strings.Split(f[2], ","), "fail")
			}
		}
		return false
	}
	return false
}

// describe prints each node's view of the cluster, for failures.
func (pc *privateCluster) describe(ctx context.Context) string {
	var b strings.Builder
	for _, n := range pc.nodes {
		c := redis.NewClient(&redis.Options{Addr: n.addr})
		nodes, err := c.ClusterNodes(ctx).Result()
		c.Close()
		b.WriteString(n.addr + ": " + nodes)
		if err != nil {
			b.WriteString(err.Error())
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestFaultClusterMasterKilled kills one master of a private Redis Cluster
// (the one holding the most of the cache's entries) by its pid while
// clients send a steady load of requests through the cache. No request
// fails (the cache fails open to the origin while the master's slots are
// unreachable), and once its replica is promoted caching resumes: the
// entries the dead master held are served again, and new entries are
// written and served, some of them by the promoted replica.
//
// It asserts on what clients see, whatever the core does with a failing
// store meanwhile (retry it on every request, or skip it for a while).
func TestFaultClusterMasterKilled(t *testing.T) {
	pc := startPrivateCluster(t)
	ctx := t.Context()
	cluster := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 pc.addrs(),
		ContextTimeoutEnabled: true,
		DialTimeout:           250 * time.Millisecond,
	})
	t.Cleanup(func() { cluster.Close() })
	waitReady(t, cluster)
	const prefix = "fault:"
	st, err := redisstore.New(ctx, cluster, &redisstore.Options{KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	cache := faultCache(t, st)
	origin, _ := countingOrigin(t)
	hc := nethttpcache.NewClient(cache, nil)

	var sent, failed atomic.Int64
	var failMu sync.Mutex
	var firstFailure string
	// get sends one request and reports whether the cache answered it; a
	// transport error, another status or another body is a failed request.
	get := func(path string) bool {
		sent.Add(1)
		info, err := fetchItem(ctx, hc, origin.URL, path)
		if err != nil {
			failed.Add(1)
			failMu.Lock()
			if firstFailure == "" {
				firstFailure = err.Error()
			}
			failMu.Unlock()
			return false
		}
		return info.FromCache
	}
	const paths = 24
	path := func(group string, i int) string { return "/" + group + "/" + strconv.Itoa(i) }
	// round requests every path of group once and counts the hits.
	round := func(group string) (hits int) {
		for i := range paths {
			if get(path(group, i)) {
				hits++
			}
		}
		return hits
	}

	// Warm up: every path stored, then all hits.
	round("item")
	if h := round("item"); h != paths {
		t.Fatalf("before the fault: %d of %d requests from the cache, want all", h, paths)
	}
	// The master holding the most entries is the one to kill.
	perMaster := masterKeyCounts(t, cluster, prefix)
	victim, most := "", 0
	for addr, n := range perMaster {
		if n > most {
			victim, most = addr, n
		}
	}
	if victim == "" || pc.byAddr[victim] == nil {
		t.Fatalf("no master of the private cluster holds an entry: %v", perMaster)
	}

	// A store of its own over a ClusterClient of its own, outside the
	// cache, reads one of the victim's entries: how soon the store itself
	// reaches the promoted replica, whatever the cache does meanwhile.
	victimClient := redis.NewClient(&redis.Options{Addr: victim})
	victimKeys, err := scanKeys(ctx, victimClient, prefix)
	victimClient.Close()
	if err != nil || len(victimKeys) == 0 {
		t.Fatalf("the keys on %s: %q, %v", victim, victimKeys, err)
	}
	probeKey := strings.TrimPrefix(victimKeys[0], prefix)
	probeClient := redis.NewClusterClient(&redis.ClusterOptions{Addrs: pc.addrs(), ContextTimeoutEnabled: true, DialTimeout: 250 * time.Millisecond})
	t.Cleanup(func() { probeClient.Close() })
	probe, err := redisstore.New(ctx, probeClient, &redisstore.Options{KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := probe.Get(ctx, probeKey); err != nil {
		t.Fatalf("reading %q before the fault: %v", probeKey, err)
	}

	// A steady load from four clients, over the same paths, until stopped.
	stop := make(chan struct{})
	var load sync.WaitGroup
	for w := range 4 {
		load.Add(1)
		go func() {
			defer load.Done()
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				get(path("item", i%paths))
			}
		}()
	}
	stopLoad := sync.OnceFunc(func() { close(stop); load.Wait() })
	t.Cleanup(stopLoad)
	time.Sleep(300 * time.Millisecond) // the load under way before the fault

	pc.byAddr[victim].kill()
	killed := time.Now()
	// When the probe store reads the victim's entry again.
	var probeAfter atomic.Int64
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		for time.Since(killed) < 30*time.Second {
			gctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
			_, err := probe.Get(gctx, probeKey)
			cancel()
			if err == nil {
				probeAfter.Store(int64(time.Since(killed)))
				return
			}
			time.Sleep(20 * time.Millisecond) // between attempts, bounded above
		}
	}()
	// When the cluster has promoted a replica, by its own account.
	var promotedAfter atomic.Int64
	go func() {
		for time.Since(killed) < 30*time.Second {
			if pc.promoted(ctx, victim) {
				promotedAfter.Store(int64(time.Since(killed)))
				return
			}
			time.Sleep(20 * time.Millisecond) // polling the cluster's state, bounded above
		}
	}()

	// Caching has resumed when one round over every path, the dead
	// master's included, is served whole from the cache.
	deadline := killed.Add(30 * time.Second)
	var resumed time.Duration
	for {
		if round("item") == paths {
			resumed = time.Since(killed)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("caching has not resumed 30s after the master %s was killed (%d of %d requests failed)\n%s",
				victim, failed.Load(), sent.Load(), pc.describe(ctx))
		}
		time.Sleep(50 * time.Millisecond) // between rounds, bounded above
	}
	stopLoad()
	<-probeDone
	promotedAt, probeAt := time.Duration(promotedAfter.Load()), time.Duration(probeAfter.Load())
	switch {
	case promotedAt == 0:
		t.Errorf("no replica promoted within 30s of the kill, by the cluster's account")
	case probeAt == 0:
		t.Errorf("the store could not read %q within 30s of the kill", probeKey)
	case probeAt-promotedAt > 3*time.Second:
		// go-redis left alone reloads its slot map only when it is 10s
		// old; the store asks for a reload when a node fails.
		t.Errorf("the store read %q again %v after the promotion, want within 3s", probeKey, probeAt-promotedAt)
	}

	// Writes land again, on every master the cluster has now: new paths
	// are stored, then served from the cache.
	round("new")
	if h := round("new"); h != paths {
		t.Errorf("after the failover: %d of %d new paths served from the cache on their second request, want all", h, paths)
	}
	promoted := ""
	for addr := range masterKeyCounts(t, cluster, prefix+"") {
		if addr == victim {
			t.Errorf("the killed master %s still holds keys", victim)
		}
		if _, was := perMaster[addr]; !was {
			promoted = addr
		}
	}
	if promoted == "" {
		t.Errorf("no promoted replica holds entries; masters with keys before: %v, after: %v", perMaster, masterKeyCounts(t, cluster, prefix))
	}
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of %d client requests failed, want 0; first: %s", n, sent.Load(), firstFailure)
	}
	t.Logf("killed master %s (%d of %d entries); replica %s promoted %v after the kill (cluster-node-timeout %v); the store read its entry again after %v; caching resumed %v after the kill; %d requests, %d failed, %d store errors",
		victim, most, paths, promoted, promotedAt.Round(time.Millisecond), clusterNodeTimeout, probeAt.Round(time.Millisecond),
		resumed.Round(time.Millisecond), sent.Load(), failed.Load(), cache.Stats().StoreErrors)
}
