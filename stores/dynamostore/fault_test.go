package dynamostore_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/dynamostore"
)

// privateDynalite is a dynalite server this test started, on a port of its
// own, so that stopping it disturbs no other test.
type privateDynalite struct {
	t    *testing.T
	cli  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// startPrivateDynalite starts node cli.js on a free loopback port. The
// server is killed when the test ends.
func startPrivateDynalite(t *testing.T) *privateDynalite {
	t.Helper()
	// Set by `scripts/services.sh env`: the dynalite the services script
	// installed.
	cli := conformance.RequireService(t, "HOARD_DYNALITE_CLI")
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	d := &privateDynalite{t: t, cli: cli, port: port}
	d.start()
	t.Cleanup(d.kill)
	return d
}

func (d *privateDynalite) endpoint() string { return "http://" + d.addr() }
func (d *privateDynalite) addr() string     { return "127.0.0.1:" + strconv.Itoa(d.port) }

// start runs the server and waits (bounded) until it accepts connections.
func (d *privateDynalite) start() {
	d.t.Helper()
	d.cmd = exec.Command("node", d.cli, "--host", "127.0.0.1", "--port", strconv.Itoa(d.port), "--createTableMs", "50")
	if err := d.cmd.Start(); err != nil {
		d.t.Fatalf("starting dynalite: %v", err)
	}
	done := make(chan struct{})
	d.done = done
	go func(cmd *exec.Cmd) {
		_ = cmd.Wait()
		close(done)
	}(d.cmd)
	waitFor(d.t, 20*time.Second, "dynalite to listen on "+d.addr(), func() bool {
		select {
		case <-done:
			d.t.Fatalf("dynalite exited at start")
		default:
		}
		c, err := net.DialTimeout("tcp", d.addr(), time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// kill stops the server abruptly (SIGKILL) and waits for it to exit.
func (d *privateDynalite) kill() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Kill()
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.t.Errorf("dynalite pid %d did not exit after SIGKILL", d.cmd.Process.Pid)
	}
	d.cmd = nil
}

// The server dies in the middle of a run of cached requests and comes back
// empty (dynalite keeps its data in memory): every request succeeds from the
// origin meanwhile, the failures are counted, and caching resumes by itself
// once the store has recreated its table (CreateTable), without a restart.
func TestFaultServerRestart(t *testing.T) {
	srv := startPrivateDynalite(t)
	client := newClient(srv.endpoint())
	st, err := dynamostore.New(t.Context(), client, &dynamostore.Options{
		Table: "hoard-fault", CreateTable: true, CreateTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=3600")
		io.WriteString(w, "body of "+r.URL.Path)
	}))
	defer origin.Close()
	c, err := core.New(st, core.WithStoreTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	httpc := nethttpcache.NewClient(c, nil)
	get := func(path string) bool {
		t.Helper()
		resp, err := httpc.Get(origin.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(body) != "body of "+path {
			t.Fatalf("GET %s = %d %q, %v", path, resp.StatusCode, body, err)
		}
		return core.InfoOf(resp).FromCache
	}

	// Server up: the second request is a hit.
	if get("/a") || !get("/a") {
		t.Fatal("/a is not cached while the server is up")
	}
	if n := c.Stats().StoreErrors; n != 0 {
		t.Fatalf("StoreErrors = %d before the fault", n)
	}

	srv.kill()
	before := hits.Load()
	for i := range 4 {
		if get("/a") {
			t.Error("/a served from the cache while the server is down")
		}
		get("/down/" + strconv.Itoa(i))
	}
	if got := hits.Load() - before; got != 8 {
		t.Errorf("origin got %d requests while the server was down, want 8", got)
	}
	// Each request met a store error or found the circuit breaker open
	// (and skipped the store); both are counted.
	s := c.Stats()
	down := s.StoreErrors
	if down+s.Breaker.ShortCircuited < 8 {
		t.Errorf("StoreErrors = %d, %d short-circuited after 8 requests with the server down, want at least 8 in all", down, s.Breaker.ShortCircuited)
	}
	t.Logf("server down: %d store errors", down)

	// Back on the same port, empty: the table is gone until the store
	// recreates it.
	srv.start()
	i := 0
	waitFor(t, 30*time.Second, "caching to resume", func() bool {
		i++
		path := "/up/" + strconv.Itoa(i)
		get(path)
		return get(path)
	})
	if !get("/a") && !get("/a") {
		t.Error("/a is not cached again after the server came back")
	}
	t.Logf("caching resumed after %d attempts; %d store errors in all", i, c.Stats().StoreErrors)
}

// A store operation that hangs is cut off by core.WithStoreTimeout: the
// request is answered by the origin in bounded time and the failure is
// counted.
func TestFaultHangingServer(t *testing.T) {
	addr := conformance.HangingServer(t)
	st, err := dynamostore.New(t.Context(), newClient("http://"+addr), &dynamostore.Options{Table: "hoard-hang", Lazy: true})
	if err != nil {
		t.Fatal(err)
	}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		io.WriteString(w, "fresh")
	}))
	defer origin.Close()
	const timeout = 200 * time.Millisecond
	c, err := core.New(st, core.WithStoreTimeout(timeout))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	httpc := nethttpcache.NewClient(c, nil)
	for i := range 3 {
		start := time.Now()
		resp, err := httpc.Get(origin.URL + "/x")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if string(body) != "fresh" || core.InfoOf(resp).FromCache {
			t.Errorf("request %d = %q (from cache %v), want the origin's body", i, body, core.InfoOf(resp).FromCache)
		}
		// A Get and a Set, each cut off after the timeout.
		if took > 10*timeout {
			t.Errorf("request %d took %v with a store timeout of %v", i, took, timeout)
		}
	}
	if n := c.Stats().StoreErrors; n < 3 {
		t.Errorf("StoreErrors = %d, want at least 3", n)
	}
	// The store itself honours the deadline, and says so.
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	if _, err := st.Get(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get against a hanging server = %v, want an error wrapping DeadlineExceeded", err)
	}
}
