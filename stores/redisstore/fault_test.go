package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/redisstore"
)

// privateRedis is a redis-server of the test's own on a free loopback port,
// so that killing it disturbs no other test or program.
type privateRedis struct {
	t    *testing.T
	bin  string
	dir  string
	addr string
	cmd  *exec.Cmd
	log  bytes.Buffer
	// args are extra redis-server arguments.
	args []string
}

// startPrivateRedis starts a redis-server that keeps nothing on disk,
// killed when t ends. Without the binary the test is skipped, or fails
// under HOARD_REQUIRE_SERVICES=1 (scripts/services.sh up installs it).
func startPrivateRedis(t *testing.T, args ...string) *privateRedis {
	t.Helper()
	bin := requireBinary(t, "redis-server")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &privateRedis{t: t, bin: bin, dir: t.TempDir(), addr: addr, args: args}
	p.start()
	t.Cleanup(p.kill)
	return p
}

// requireBinary returns the path of the program name (redis-server,
// redis-cli); without it the test is skipped, or fails under
// HOARD_REQUIRE_SERVICES=1 (scripts/services.sh up installs them).
func requireBinary(t *testing.T, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("HOARD_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s is not installed (scripts/services.sh up installs it): %v", name, err)
		}
		t.Skipf("%s is not installed (scripts/services.sh up installs it): %v", name, err)
	}
	return bin
}

// start runs the server and waits (at most 10s) until it accepts
// connections.
func (p *privateRedis) start() {
	p.t.Helper()
	_, port, _ := net.SplitHostPort(p.addr)
	p.log.Reset()
	p.cmd = exec.Command(p.bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", p.dir, "--daemonize", "no", "--logfile", "")
	p.cmd.Args = append(p.cmd.Args, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("starting redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			p.kill()
			p.t.Fatalf("redis-server on %s does not accept connections after 10s: %v\n%s", p.addr, err, p.log.String())
		}
		<-tick.C
	}
}

// signal sends sig to the server (SIGSTOP freezes it, SIGCONT thaws it).
func (p *privateRedis) signal(sig syscall.Signal) {
	p.t.Helper()
	if p.cmd == nil || p.cmd.Process == nil {
		p.t.Fatal("signal: the server is not running")
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v to redis-server: %v", sig, err)
	}
}

// kill stops the server at once (SIGKILL), as a crash would.
func (p *privateRedis) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = nil
}

// quietLogger drops the cache's warnings, which the fault tests provoke on
// purpose.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// countingOrigin answers /item/N with "body N", fresh for an hour.
func countingOrigin(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=3600")
		io.WriteString(w, "body "+r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// faultCache returns a cache over st that gives up on the store after
// 250ms and logs nothing (the fault tests provoke its warnings), closed when
// t ends.
func faultCache(t *testing.T, st core.Store) *core.Cache {
	t.Helper()
	cache, err := core.New(st, core.WithStoreTimeout(250*time.Millisecond), core.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close() })
	return cache
}

// fetchItem requests path of the countingOrigin at originURL through hc, and
// fails unless the answer is the origin's: status 200 and "body <path>",
// whoever served it.
func fetchItem(ctx context.Context, hc *http.Client, originURL, path string) (core.Info, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, originURL+path, nil)
	if err != nil {
		return core.Info{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return core.Info{}, fmt.Errorf("%s: %w", path, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || string(body) != "body "+path {
		return core.Info{}, fmt.Errorf("%s: status %d, body %q, error %v", path, resp.StatusCode, body, err)
	}
	return core.InfoOf(resp), nil
}

// TestFaultServerDownMidRun kills the Redis server in the middle of a run of
// cached requests and starts it again on the same port: every request
// succeeds (from the origin while the server is down), the failures are
// counted in Stats().StoreErrors, and caching resumes by itself, without a
// new client or cache.
func TestFaultServerDownMidRun(t *testing.T) {
	srv := startPrivateRedis(t)
	ctx := t.Context()
	// A small pool: its dial failures soon exceed its size, after which
	// go-redis stops dialing per command and redials in the background,
	// the slower way back this test must cover.
	st, err := core.OpenStore(ctx, "redis://"+srv.addr+"/0?prefix=fault:&pool_size=2")
	if err != nil {
		t.Fatal(err)
	}
	cache := faultCache(t, st)
	origin, originHits := countingOrigin(t)
	client := nethttpcache.NewClient(cache, nil)

	const paths = 4
	n := 0
	// get sends the next request of the run and checks that it succeeded
	// with the origin's body, whoever answered it.
	get := func() core.Info {
		t.Helper()
		path := "/item/" + strconv.Itoa(n%paths)
		n++
		info, err := fetchItem(ctx, client, origin.URL, path)
		if err != nil {
			t.Fatalf("request %d: %v; want the origin's response whatever the store does", n, err)
		}
		return info
	}
	round := func() (fromCache int) {
		for range paths {
			if get().FromCache {
				fromCache++
			}
		}
		return fromCache
	}

	// Server up: each path misses once, then hits.
	for r := range 3 {
		want := paths
		if r == 0 {
			want = 0
		}
		if got := round(); got != want {
			t.Fatalf("server up, round %d: %d of %d requests from the cache, want %d", r, got, paths, want)
		}
	}
	if e := cache.Stats().StoreErrors; e != 0 {
		t.Fatalf("server up: %d store errors, want 0", e)
	}

	// Server down: everything from the origin, every failure counted.
	srv.kill()
	before := originHits.Load()
	for r := range 2 {
		if got := round(); got != 0 {
			t.Errorf("server down, round %d: %d requests from the cache, want 0", r, got)
		}
	}
	if got := originHits.Load() - before; got != 2*paths {
		t.Errorf("server down: the origin answered %d of %d requests, want all", got, 2*paths)
	}
	// Each request either met a store error (counted) or found the
	// circuit breaker open and skipped the store (counted too).
	down := cache.Stats()
	errorsDown := down.StoreErrors
	if errorsDown+down.Breaker.ShortCircuited < 2*paths || down.Breaker.Opens < 1 {
		t.Errorf("server down: StoreErrors = %d, breaker %+v after %d requests, want one or the other per request and the breaker opened",
			errorsDown, down.Breaker, 2*paths)
	}

	// Server back (empty, it keeps nothing on disk): go-redis redials in
	// the background about once a second; requests keep succeeding from
	// the origin until then, and are cached again after.
	srv.start()
	restarted := time.Now()
	deadline := restarted.Add(15 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !get().FromCache {
		if time.Now().After(deadline) {
			t.Fatalf("caching has not resumed %v after the server came back (StoreErrors %d)", time.Since(restarted), cache.Stats().StoreErrors)
		}
		<-tick.C
	}
	resumed := time.Since(restarted)
	round()
	errorsBack := cache.Stats().StoreErrors
	if got := round(); got != paths {
		t.Errorf("server back: %d of %d requests from the cache, want all", got, paths)
	}
	if e := cache.Stats().StoreErrors; e != errorsBack {
		t.Errorf("server back: StoreErrors still growing (%d to %d) after caching resumed", errorsBack, e)
	}
	t.Logf("store errors: %d while down, %d after the restart; caching resumed %v after the restart",
		errorsDown, errorsBack-errorsDown, resumed.Round(time.Millisecond))
}

// TestFaultHangingServerIsCutOff: a server that accepts connections and
// never answers is cut off by core.WithStoreTimeout, not by go-redis's
// (here 30s) read and write timeouts, and the requests go to the origin.
func TestFaultHangingServerIsCutOff(t *testing.T) {
	addr := conformance.HangingServer(t)
	ctx := t.Context()
	st, err := core.OpenStore(ctx, "redis://"+addr+"/0?prefix=hang:&read_timeout=30s&write_timeout=30s&dial_timeout=30s&lazy=true")
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 100 * time.Millisecond
	cache, err := core.New(st, core.WithStoreTimeout(timeout), core.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close() })
	origin, originHits := countingOrigin(t)
	client := nethttpcache.NewClient(cache, nil)
	for i := range 3 {
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, origin.URL+"/item/"+strconv.Itoa(i), nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		// A read (and a write) of at most the timeout each, with a wide
		// margin for a loaded machine; far below go-redis's own 30s.
		if d := time.Since(start); d > 20*timeout+time.Second {
			t.Errorf("request %d took %v with a store timeout of %v", i, d, timeout)
		}
		if resp.StatusCode != 200 || core.InfoOf(resp).FromCache {
			t.Errorf("request %d: status %d, from cache %v; want the origin's 200", i, resp.StatusCode, core.InfoOf(resp).FromCache)
		}
	}
	if n := originHits.Load(); n != 3 {
		t.Errorf("origin hits %d, want 3", n)
	}
	if n := cache.Stats().StoreErrors; n < 3 {
		t.Errorf("StoreErrors = %d, want at least 3", n)
	}
	// The store's own operations honour their context too.
	short, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	_, err = st.(*redisstore.Store).Get(short, "k")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 20*timeout+time.Second {
		t.Errorf("Get against a hanging server = %v after %v; want an error wrapping context.DeadlineExceeded, promptly", err, time.Since(start))
	}
}
