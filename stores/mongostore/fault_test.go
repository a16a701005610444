package mongostore_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/mongostore"
)

// ferret is a private FerretDB instance a test starts, stops and starts
// again, so that stopping it disturbs no other test. Its data survive a
// restart (same SQLite directory).
type ferret struct {
	t    *testing.T
	bin  string
	dir  string
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// startFerret starts a private FerretDB on a free loopback port. The binary
// comes from HOARD_FERRETDB_BIN (scripts/services.sh env exports it).
func startFerret(t *testing.T) *ferret {
	t.Helper()
	bin := conformance.RequireService(t, "HOARD_FERRETDB_BIN")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	f := &ferret{t: t, bin: bin, dir: t.TempDir(), addr: addr}
	if err := os.MkdirAll(filepath.Join(f.dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.start()
	t.Cleanup(f.stop)
	return f
}

func (f *ferret) url() string { return "mongodb://" + f.addr + "/" }

// start runs the server and waits (bounded) until it accepts connections.
func (f *ferret) start() {
	f.t.Helper()
	f.cmd = exec.Command(f.bin,
		"--handler=sqlite",
		"--sqlite-url=file:"+filepath.Join(f.dir, "data")+"/",
		"--listen-addr="+f.addr,
		"--state-dir="+f.dir,
		"--debug-addr=-",
		"--telemetry=disable",
		"--log-level=error",
	)
	log, err := os.OpenFile(filepath.Join(f.dir, "ferretdb.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		f.t.Fatal(err)
	}
	defer log.Close()
	f.cmd.Stdout, f.cmd.Stderr = log, log
	if err := f.cmd.Start(); err != nil {
		f.t.Fatalf("starting %s: %v", f.bin, err)
	}
	done := make(chan struct{})
	f.done = done
	go func(cmd *exec.Cmd) {
		_ = cmd.Wait()
		close(done)
	}(f.cmd)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", f.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			f.t.Fatalf("FerretDB exited at start (log in %s)", f.dir)
		default:
		}
		if time.Now().After(deadline) {
			f.stop()
			f.t.Fatalf("FerretDB does not listen on %s after 20s", f.addr)
		}
		time.Sleep(50 * time.Millisecond) // polling a port, not waiting for expiry
	}
}

// stop terminates the server (bounded: SIGKILL after 10s).
func (f *ferret) stop() {
	if f.cmd == nil {
		return
	}
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-f.done:
	case <-time.After(10 * time.Second):
		_ = f.cmd.Process.Kill()
		<-f.done
	}
	f.cmd = nil
}

// testLogger sends the cache's log to the test's log, shown on failure and
// with -v.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// faultOrigin is an origin whose every path answers "body of <path>",
// cacheable for an hour, and counts requests.
func faultOrigin(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=3600")
		fmt.Fprintf(w, "body of %s", r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// fetch GETs url through client, checks the body, and reports whether the
// response came from the cache and how long it took.
func fetch(t *testing.T, client *http.Client, base, path string) (bool, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, err := client.Get(base + path)
	if err != nil {
		t.Fatalf("GET %s: %v (the cache must fail open)", path, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK || string(body) != "body of "+path {
		t.Fatalf("GET %s = %d %q; want 200 %q", path, resp.StatusCode, body, "body of "+path)
	}
	return core.InfoOf(resp).FromCache, time.Since(start)
}

// waitCaching fetches path until the cache serves it again (bounded by
// limit), proving that caching resumed without a restart of the process.
func waitCaching(t *testing.T, client *http.Client, base, path string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		fetch(t, client, base, path) // stores it, once the store answers
		if cached, _ := fetch(t, client, base, path); cached {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("caching of %s did not resume within %v of the store coming back", path, limit)
		}
		<-tick.C
	}
}

func TestFaultServerStopped(t *testing.T) {
	f := startFerret(t)
	client := connect(t, f.url())
	st := newStore(t, client, &mongostore.Options{SweepInterval: -1})
	const storeTimeout = 250 * time.Millisecond
	cache, err := core.New(st, core.WithStoreTimeout(storeTimeout), core.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	origin, hits := faultOrigin(t)
	hc := nethttpcache.NewClient(cache, nil)

	// A run of cached requests; the server stops in the middle of it and
	// comes back later.
	paths := []string{"/a", "/b", "/c"}
	for _, p := range paths {
		fetch(t, hc, origin.URL, p)
		if cached, _ := fetch(t, hc, origin.URL, p); !cached {
			t.Fatalf("GET %s: not served from the cache while the server is up", p)
		}
	}
	if n := hits.Load(); n != int64(len(paths)) {
		t.Fatalf("origin hits = %d, want %d", n, len(paths))
	}

	f.stop()
	before := cache.Stats().StoreErrors
	hitsBefore := hits.Load()
	for i := range 6 {
		p := paths[i%len(paths)]
		if i >= len(paths) {
			p = "/new" + strconv.Itoa(i)
		}
		cached, took := fetch(t, hc, origin.URL, p)
		if cached {
			t.Errorf("GET %s served from the cache while the server is down", p)
		}
		// A lookup and a store write, each cut off by the store timeout.
		if took > 10*storeTimeout {
			t.Errorf("GET %s took %v with the server down; the store timeout is %v", p, took, storeTimeout)
		}
	}
	if got := hits.Load() - hitsBefore; got != 6 {
		t.Errorf("origin hits while the server was down = %d, want 6 (fail open)", got)
	}
	// Each request met a store error or found the circuit breaker open
	// (and skipped the store); both are counted.
	if s := cache.Stats(); s.StoreErrors-before+s.Breaker.ShortCircuited < 6 {
		t.Errorf("StoreErrors grew by %d and %d store calls were short-circuited while the server was down, want at least 6 in all",
			s.StoreErrors-before, s.Breaker.ShortCircuited)
	}

	f.start()
	waitCaching(t, hc, origin.URL, "/after", 30*time.Second)
	// What was stored before the outage is served again.
	if cached, _ := fetch(t, hc, origin.URL, "/a"); !cached {
		t.Error("GET /a after the restart: not served from the cache")
	}
}

// blackhole is a TCP proxy that can freeze: while frozen it forwards
// nothing, in either direction, and keeps every connection open, so that
// store operations hang the way they do behind a stalled server or network.
type blackhole struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	cond   *sync.Cond
	frozen bool
	closed bool
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newBlackhole(t *testing.T, target string) *blackhole {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{l: l, target: target}
	b.cond = sync.NewCond(&b.mu)
	b.wg.Add(1)
	go b.serve()
	t.Cleanup(b.close)
	return b
}

func (b *blackhole) addr() string { return b.l.Addr().String() }

func (b *blackhole) serve() {
	defer b.wg.Done()
	for {
		c, err := b.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", b.target)
		if err != nil {
			c.Close()
			continue
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			c.Close()
			up.Close()
			return
		}
		b.conns = append(b.conns, c, up)
		b.mu.Unlock()
		b.wg.Add(2)
		go b.pipe(up, c)
		go b.pipe(c, up)
	}
}

// pipe copies src to dst, holding each read back while the proxy is frozen.
func (b *blackhole) pipe(dst, src net.Conn) {
	defer b.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			b.mu.Lock()
			for b.frozen && !b.closed {
				b.cond.Wait()
			}
			closed := b.closed
			b.mu.Unlock()
			if closed {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (b *blackhole) freeze(on bool) {
	b.mu.Lock()
	b.frozen = on
	b.mu.Unlock()
	b.cond.Broadcast()
}

func (b *blackhole) close() {
	b.mu.Lock()
	b.closed = true
	conns := b.conns
	b.conns = nil
	b.mu.Unlock()
	b.cond.Broadcast()
	b.l.Close()
	for _, c := range conns {
		c.Close()
	}
	b.wg.Wait()
}

func TestFaultStoreHangs(t *testing.T) {
	upstream := mongoURL(t)
	// The proxy sits in front of the shared server: only this test's
	// connections go through it.
	host, err := hostOf(upstream)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newBlackhole(t, host)
	client := connect(t, "mongodb://"+proxy.addr()+"/")
	st := newStore(t, client, &mongostore.Options{SweepInterval: -1})
	const storeTimeout = 200 * time.Millisecond
	cache, err := core.New(st, core.WithStoreTimeout(storeTimeout), core.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	origin, hits := faultOrigin(t)
	hc := nethttpcache.NewClient(cache, nil)

	fetch(t, hc, origin.URL, "/warm")
	if cached, _ := fetch(t, hc, origin.URL, "/warm"); !cached {
		t.Fatal("GET /warm: not cached while the store answers")
	}

	proxy.freeze(true)
	before, hitsBefore := cache.Stats().StoreErrors, hits.Load()
	for _, p := range []string{"/warm", "/cold", "/warm"} {
		cached, took := fetch(t, hc, origin.URL, p)
		if cached {
			t.Errorf("GET %s served from a store that does not answer", p)
		}
		if took > 10*storeTimeout {
			t.Errorf("GET %s took %v against a hanging store; the store timeout is %v", p, took, storeTimeout)
		}
	}
	if got := hits.Load() - hitsBefore; got != 3 {
		t.Errorf("origin hits while the store hung = %d, want 3", got)
	}
	if errs := cache.Stats().StoreErrors - before; errs < 3 {
		t.Errorf("StoreErrors grew by %d while the store hung, want at least 3", errs)
	}

	proxy.freeze(false)
	waitCaching(t, hc, origin.URL, "/after", 30*time.Second)
	if cached, _ := fetch(t, hc, origin.URL, "/warm"); !cached {
		t.Error("GET /warm after the store came back: not served from the cache")
	}
}

// hostOf returns the host:port of a single-host MongoDB URL.
func hostOf(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", err
	}
	if u.Port() == "" {
		return u.Host + ":27017", nil
	}
	if u.Host == "" {
		return "", errors.New("no host in " + uri)
	}
	return u.Host, nil
}
