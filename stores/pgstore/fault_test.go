package pgstore_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/pgstore"
)

// privatePG is a PostgreSQL server of the test's own, in a temporary data
// directory on a free loopback port, so that stopping it disturbs no other
// test or program (the shared server is never touched). PostgreSQL refuses
// to run as root: as root, the server runs as the postgres user.
type privatePG struct {
	t    *testing.T
	bin  string // the directory of initdb and postgres
	dir  string
	port string
	cred *syscall.Credential // nil: run as the current user
	cmd  *exec.Cmd
	done chan struct{}
	log  bytes.Buffer
}

// startPrivatePG initialises and starts a server, killed when t ends. The
// binaries come from HOARD_POSTGRES_BIN (scripts/services.sh env exports
// it).
func startPrivatePG(t *testing.T) *privatePG {
	t.Helper()
	bin := conformance.RequireService(t, "HOARD_POSTGRES_BIN")
	p := &privatePG{t: t, bin: bin}
	// Not t.TempDir: its parent is private to the current user, and the
	// server's user must reach the data directory.
	dir, err := os.MkdirTemp("", "pgstore-fault-")
	if err != nil {
		t.Fatal(err)
	}
	p.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, and there is no postgres user to run a server as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	init := p.command("initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, p.port, _ = net.SplitHostPort(l.Addr().String())
	l.Close()
	p.start()
	t.Cleanup(p.kill)
	return p
}

func (p *privatePG) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Dir = p.dir
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	return cmd
}

func (p *privatePG) url() string {
	return "postgres://postgres@127.0.0.1:" + p.port + "/postgres?sslmode=disable"
}

// start runs the server (the postmaster itself is the child, so its pid is
// the server's) and waits, bounded, until it accepts connections.
func (p *privatePG) start() {
	p.t.Helper()
	p.log.Reset()
	p.cmd = p.command("postgres", "-D", filepath.Join(p.dir, "data"), "-p", p.port,
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+p.dir,
		"-c", "fsync=off", "-c", "shared_buffers=16MB", "-c", "max_connections=20")
	p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("starting postgres: %v", err)
	}
	done := make(chan struct{})
	p.done = done
	go func(cmd *exec.Cmd) { _ = cmd.Wait(); close(done) }(p.cmd)
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := pgstore.Open(ctx, p.url()+"&lazy=true&sweep_interval=off")
		if err == nil {
			_, err = st.Size(ctx) // creates the default tables: the server answers queries
			st.Close()
		}
		cancel()
		if err == nil {
			return
		}
		select {
		case <-done:
			p.t.Fatalf("postgres exited at start:\n%s", p.log.String())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			p.kill()
			p.t.Fatalf("postgres on port %s does not answer after 30s: %v\n%s", p.port, err, p.log.String())
		}
	}
}

// kill stops the server at once (SIGQUIT: immediate shutdown, no
// checkpoint, as after a crash), by its pid, and waits for it (SIGKILL
// after 10 s).
func (p *privatePG) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

// faultOrigin answers every path with "body of <path>", fresh for an hour,
// and counts requests.
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

// TestFaultServerStopped stops the server in the middle of a run of cached
// requests and starts it again: every request succeeds (from the origin
// while the server is down, each cut off by the store timeout), the
// failures are counted, and caching resumes by itself with the same pool,
// cache and client, what was stored before the outage served again.
func TestFaultServerStopped(t *testing.T) {
	srv := startPrivatePG(t)
	st, err := pgstore.Open(t.Context(), srv.url()+"&table=fault&sweep_interval=off")
	if err != nil {
		t.Fatal(err)
	}
	const storeTimeout = 250 * time.Millisecond
	cache, err := core.New(st, core.WithStoreTimeout(storeTimeout),
		core.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close() })
	origin, hits := faultOrigin(t)
	client := nethttpcache.NewClient(cache, nil)
	get := func(path string) (fromCache bool, took time.Duration) {
		t.Helper()
		start := time.Now()
		resp, err := client.Get(origin.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v (the cache must fail open)", path, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(body) != "body of "+path {
			t.Fatalf("GET %s = %d %q, %v; want 200 %q", path, resp.StatusCode, body, err, "body of "+path)
		}
		return core.InfoOf(resp).FromCache, time.Since(start)
	}

	paths := []string{"/a", "/b", "/c"}
	for _, p := range paths {
		get(p)
		if cached, _ := get(p); !cached {
			t.Fatalf("GET %s: not served from the cache while the server is up", p)
		}
	}
	if n := hits.Load(); n != int64(len(paths)) {
		t.Fatalf("origin hits = %d, want %d", n, len(paths))
	}
	if e := cache.Stats().StoreErrors; e != 0 {
		t.Fatalf("store errors with the server up = %d, want 0", e)
	}

	// The cache's writes commit asynchronously: their WAL reaches the disk
	// within three times wal_writer_delay (200 ms), and a crash before that
	// may lose them, as the package documents. Give the writes above that
	// time, so that what the test expects to survive has been made durable.
	time.Sleep(time.Second)
	srv.kill()
	s0, hitsBefore := cache.Stats(), hits.Load()
	for i := range 6 {
		p := paths[i%len(paths)]
		if i >= len(paths) {
			p = "/new" + strconv.Itoa(i)
		}
		cached, took := get(p)
		if cached {
			t.Errorf("GET %s served from the cache while the server is down", p)
		}
		if took > 10*storeTimeout {
			t.Errorf("GET %s took %v with the server down; the store timeout is %v", p, took, storeTimeout)
		}
	}
	if got := hits.Load() - hitsBefore; got != 6 {
		t.Errorf("origin hits while the server was down = %d, want 6 (fail open)", got)
	}
	// Each request met the failure: a store error, or once the circuit
	// breaker opened, a store call it skipped.
	s1 := cache.Stats()
	if errs, skipped := s1.StoreErrors-s0.StoreErrors, s1.Breaker.ShortCircuited-s0.Breaker.ShortCircuited; errs+skipped < 6 {
		t.Errorf("while the server was down: StoreErrors grew by %d and the breaker skipped %d calls, want at least 6 in all", errs, skipped)
	}

	srv.start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		get("/after")
		if cached, _ := get("/after"); cached {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("caching did not resume within 30s of the server coming back")
		}
		time.Sleep(100 * time.Millisecond) // polling for the pool to reconnect, not waiting for expiry
	}
	// Stored before the outage, committed, and served again.
	if cached, _ := get("/a"); !cached {
		t.Error("GET /a after the restart: not served from the cache")
	}
}

// TestFaultServerStoppedMidStream stops the server while a stream is being
// written and while one is being read: the writer's Commit and the
// reader's Read fail (bounded by the stream timeout) instead of hanging or
// committing a partial stream, and after the restart the key holds either
// nothing or the whole earlier stream, never a part of the new one.
func TestFaultServerStoppedMidStream(t *testing.T) {
	srv := startPrivatePG(t)
	st, err := pgstore.Open(t.Context(), srv.url()+"&table=midstream&sweep_interval=off&stream_timeout=2s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := t.Context()
	old := bytes.Repeat([]byte("old "), pgstore.ChunkSize/2) // two chunks
	w, err := st.CreateStream(ctx, "k", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(old); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	r, size, err := st.OpenStream(ctx, "k")
	if err != nil || size != int64(len(old)) {
		t.Fatalf("OpenStream = %d, %v", size, err)
	}
	first := make([]byte, 10)
	if _, err := io.ReadFull(r, first); err != nil {
		t.Fatal(err)
	}
	w, err = st.CreateStream(ctx, "k", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("new "), pgstore.ChunkSize/4+10)); err != nil { // one chunk written, some buffered
		t.Fatal(err)
	}

	srv.kill()
	start := time.Now()
	if err := w.Commit(); err == nil {
		t.Error("Commit with the server down returned nil")
	}
	if _, err := io.ReadAll(r); err == nil {
		t.Error("reading past the first chunk with the server down: no error")
	}
	r.Close()
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the failing Commit and Read took %v; the stream timeout is 2s", took)
	}

	srv.start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, size, err = st.OpenStream(ctx, "k")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling for the pool to reconnect
	}
	if err != nil {
		t.Fatalf("OpenStream after the restart: %v", err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || size != int64(len(old)) || !bytes.Equal(got, old) {
		t.Errorf("after the restart the stream holds %d bytes (size %d, %v); want the whole earlier stream", len(got), size, err)
	}
}

// TestLayoutSurvivesCrashAfterOpen crashes the server right after a store
// created its tables: once the server is back, the same store works, its
// tables there. (Created in a transaction that committed asynchronously,
// the tables were lost with the WAL not yet written, and the store, which
// creates them only when it opens, failed every call from then on.)
func TestLayoutSurvivesCrashAfterOpen(t *testing.T) {
	srv := startPrivatePG(t)
	ctx := t.Context()
	st, err := pgstore.Open(ctx, srv.url()+"&table=crash_after_open&sweep_interval=off")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv.kill() // at once: no time for the WAL writer
	srv.start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := st.Set(ctx, "k", []byte("v"), core.Meta{})
		if err == nil {
			break
		}
		if bytes.Contains([]byte(err.Error()), []byte("does not exist")) || time.Now().After(deadline) {
			t.Fatalf("Set after the server came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // the pool reconnecting
	}
	if got, err := st.Get(ctx, "k"); err != nil || string(got) != "v" {
		t.Errorf("Get after the crash = %q, %v; want %q", got, err, "v")
	}
}
