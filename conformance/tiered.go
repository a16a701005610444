package conformance

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
	"github.com/hoardhttp/hoard/stores/tiered"
)

// TieredCoherence describes a shared store for RunTieredCoherence: how each
// of the two processes opens it over one namespace, and how the test breaks
// the second process's invalidation channel.
type TieredCoherence struct {
	// OpenL2 opens a store over the namespace ns with its invalidations on
	// (redisstore's Publish, pgstore's Notify): every writer sends them.
	// role is "A" (the writer, this process) or "B" (the reader, in a
	// second process), so that B's connections can be told apart.
	OpenL2 func(ctx context.Context, ns, role string) (core.Store, error)
	// OpenSilent opens a store over ns that sends no invalidations: a
	// writer the reader is not told about.
	OpenSilent func(ctx context.Context, ns string) (core.Store, error)
	// KillChannel breaks process B's invalidation connection from the
	// server's side (CLIENT KILL, pg_terminate_backend) and reports how
	// many connections it broke.
	KillChannel func(ctx context.Context, ns string) (int, error)
	// Cleanup deletes what the test stored under ns.
	Cleanup func(ctx context.Context, ns string) error
	// Changes is the number of overwrites and deletes measured; 0 means
	// 200.
	Changes int
}

// peerEnv carries the namespace to the second process of
// RunTieredCoherence.
const peerEnv = "HOARD_TIERED_COHERENCE_PEER"

// coherenceTarget is the bound on serving an old copy after
// another process's change, at the 99th percentile.
const coherenceTarget = 100 * time.Millisecond

// RunTieredCoherence checks, with two real processes, that a tiered store
// (stores/tiered, a memstore L1) over the shared store h describes stops
// serving its L1 copy once another process changes the entry:
//
//   - Process A (this test) writes through a plain L2 store; process B (the
//     test binary run again, with peerEnv set, running this same test) reads
//     through a tiered store over L2. For each of h.Changes changes,
//     alternately an overwrite and a delete (and a Clear at the end), B first
//     holds the old value in L1, then polls while A changes it; the time from
//     A's change returning to B serving the new state (wall clocks of one
//     machine) must be at most 100 ms at the 99th percentile. It logs p50,
//     p99 and the maximum.
//   - Breaking B's invalidation connection from the server's side, then
//     writing through a store that sends no invalidation: B must serve the
//     new value within a second (its L1 copies live a minute), because a
//     lost channel drops and bypasses L1; once B is subscribed again, its L1
//     is used and A's changes reach it.
//
// Call it from a top-level test or a subtest; the second process runs the
// same test and returns once A tells it to stop.
func RunTieredCoherence(t *testing.T, h TieredCoherence) {
	if ns := os.Getenv(peerEnv); ns != "" {
		runPeer(t, h, ns)
		return
	}
	if h.Changes <= 0 {
		h.Changes = 200
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	ns := "coh" + hex.EncodeToString(b[:])
	ctx := t.Context()
	a, err := h.OpenL2(ctx, ns, "A")
	if err != nil {
		t.Fatalf("opening A's store: %v", err)
	}
	t.Cleanup(func() {
		closeStore(a)
		if err := h.Cleanup(context.Background(), ns); err != nil {
			t.Errorf("cleanup of %s: %v", ns, err)
		}
	})
	p := startPeer(t, ns)

	set := func(key, v string) {
		t.Helper()
		if err := a.Set(ctx, key, []byte(v), core.Meta{}); err != nil {
			t.Fatalf("A's Set(%q): %v", key, err)
		}
	}
	// change measures one change of key: B holds old in L1, A runs do, B
	// polls until it serves want ("" for a miss).
	change := func(key, old, want string, do func() error) time.Duration {
		t.Helper()
		p.ask(t, "settle", key, old)
		p.send(t, "watch", key, want)
		p.expect(t, "watching")
		if err := do(); err != nil {
			t.Fatalf("A's change of %q: %v", key, err)
		}
		done := time.Now()
		seen := p.seen(t)
		return max(0, seen.Sub(done))
	}
	var took []time.Duration
	for i := range h.Changes {
		old := fmt.Sprint("old", i)
		set("k", old)
		if i%2 == 0 {
			want := fmt.Sprint("new", i)
			took = append(took, change("k", old, want, func() error { return a.Set(ctx, "k", []byte(want), core.Meta{}) }))
		} else {
			took = append(took, change("k", old, "", func() error { return a.Delete(ctx, "k") }))
		}
	}
	if cl, ok := a.(core.Clearer); ok {
		set("k", "before-clear")
		took = append(took, change("k", "before-clear", "", func() error { return cl.Clear(ctx) }))
	}
	slices.Sort(took)
	p50, p99 := took[len(took)/2], took[len(took)*99/100]
	t.Logf("process B served the new state after process A's change: p50 %v, p99 %v, max %v over %d changes",
		p50, p99, took[len(took)-1], len(took))
	if p99 > coherenceTarget {
		t.Errorf("p99 %v: B served an old copy longer than %v after A's change", p99, coherenceTarget)
	}

	// A lost channel: B's L1 is dropped and bypassed.
	silent, err := h.OpenSilent(ctx, ns)
	if err != nil {
		t.Fatalf("opening the silent store: %v", err)
	}
	defer closeStore(silent)
	set("lost", "v1")
	p.ask(t, "settle", "lost", "v1")
	n, err := h.KillChannel(ctx, ns)
	if err != nil || n == 0 {
		t.Fatalf("breaking B's invalidation connection: %d broken, %v", n, err)
	}
	killed := time.Now()
	if err := silent.Set(ctx, "lost", []byte("v2"), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	p.send(t, "watch", "lost", "v2")
	p.expect(t, "watching")
	stale := max(0, p.seen(t).Sub(killed))
	t.Logf("after its channel connection was broken, B served a change it was not told of %v later", stale)
	if stale > time.Second {
		t.Errorf("B served its old copy %v after losing its channel, want at most 1s (its L1 copies live a minute)", stale)
	}
	// Subscribed again: B keeps copies again and A's changes reach them.
	set("lost", "v3")
	p.ask(t, "settle", "lost", "v3")
	if d := change("lost", "v3", "v4", func() error { return a.Set(ctx, "lost", []byte("v4"), core.Meta{}) }); d > coherenceTarget {
		t.Errorf("after the channel was restored, B served the old copy %v after A's change", d)
	}
	p.stop(t)
}

// closeStore closes st if it is an io.Closer.
func closeStore(st core.Store) {
	if c, ok := st.(io.Closer); ok {
		_ = c.Close()
	}
}

// peer is process B as process A sees it.
type peer struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string
	output *strings.Builder
}

// testPattern is the -test.run pattern that selects exactly the test named
// name (subtests included).
func testPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// startPeer runs this test binary again as process B, talking to it over
// two pipes (its file descriptors 3 and 4).
func startPeer(t *testing.T, ns string) *peer {
	t.Helper()
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &strings.Builder{}
	cmd := exec.Command(os.Args[0], "-test.run="+testPattern(t.Name()), "-test.count=1", "-test.timeout=5m", "-test.v")
	cmd.Env = append(os.Environ(), peerEnv+"="+ns)
	cmd.ExtraFiles = []*os.File{cmdR, repW}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting process B: %v", err)
	}
	cmdR.Close()
	repW.Close()
	p := &peer{cmd: cmd, in: cmdW, lines: make(chan string, 16), output: out}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(repR)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		repR.Close()
	}()
	t.Cleanup(func() {
		p.in.Close()
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill() // B of this test only, by its pid
			_ = p.cmd.Wait()
		}
	})
	p.expect(t, "ready")
	return p
}

// send writes one command to B.
func (p *peer) send(t *testing.T, words ...string) {
	t.Helper()
	for i, w := range words {
		words[i] = strconv.Quote(w)
	}
	if _, err := fmt.Fprintln(p.in, strings.Join(words, " ")); err != nil {
		t.Fatalf("writing to process B: %v", err)
	}
}

// reply returns B's next line, failing the test if B says nothing for 30 s
// or exits.
func (p *peer) reply(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			_ = p.cmd.Wait()
			t.Fatalf("process B exited (%v); its output:\n%s", p.cmd.ProcessState, p.output)
		}
		if strings.HasPrefix(l, "err ") {
			t.Fatalf("process B: %s", l[4:])
		}
		return l
	case <-time.After(30 * time.Second):
		t.Fatalf("process B did not answer within 30 s; its output:\n%s", p.output)
		return ""
	}
}

// expect reads B's next line, which must be want.
func (p *peer) expect(t *testing.T, want string) {
	t.Helper()
	if l := p.reply(t); l != want {
		t.Fatalf("process B said %q, want %q", l, want)
	}
}

// ask sends a command and expects "ok".
func (p *peer) ask(t *testing.T, words ...string) {
	t.Helper()
	p.send(t, words...)
	p.expect(t, "ok")
}

// seen reads B's "seen <unix ns>" and returns the time.
func (p *peer) seen(t *testing.T) time.Time {
	t.Helper()
	l := p.reply(t)
	v, ok := strings.CutPrefix(l, "seen ")
	n, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil {
		t.Fatalf("process B said %q, want seen <time>", l)
	}
	return time.Unix(0, n)
}

// stop tells B to end and waits for it to pass.
func (p *peer) stop(t *testing.T) {
	t.Helper()
	p.send(t, "quit")
	p.in.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("process B: %v; its output:\n%s", err, p.output)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("process B did not exit within 30 s; its output:\n%s", p.output)
	}
}

// runPeer is process B: a tiered store over h's L2, answering A's commands
// on file descriptors 3 (commands) and 4 (replies) until "quit".
func runPeer(t *testing.T, h TieredCoherence, ns string) {
	in, out := os.NewFile(3, "commands"), os.NewFile(4, "replies")
	if in == nil || out == nil {
		t.Fatalf("%s is set but the command pipes are missing", peerEnv)
	}
	defer out.Close()
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	fail := func(format string, args ...any) {
		say("err "+format, args...)
		t.Fatalf(format, args...)
	}
	ctx := t.Context()
	l2, err := h.OpenL2(ctx, ns, "B")
	if err != nil {
		fail("opening B's L2: %v", err)
	}
	l1, err := memstore.New(nil)
	if err != nil {
		fail("memstore: %v", err)
	}
	// L1 copies live a minute: only invalidation keeps them coherent.
	st, err := tiered.New(l1, l2, &tiered.Options{MaxL1Age: time.Minute})
	if err != nil {
		fail("tiered.New: %v", err)
	}
	defer closeStore(st)
	local, ok := st.(core.LocalGetter)
	if !ok {
		fail("the tiered store is no core.LocalGetter")
	}
	// serves returns what st serves for key ("" for a miss).
	serves := func(key string) string {
		v, err := st.Get(ctx, key)
		if errors.Is(err, core.ErrNotFound) {
			return ""
		}
		if err != nil {
			fail("Get(%q): %v", key, err)
		}
		return string(v)
	}
	say("ready")
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var words []string
		for _, f := range strings.Fields(sc.Text()) {
			w, err := strconv.Unquote(f)
			if err != nil {
				fail("command %q: %v", sc.Text(), err)
			}
			words = append(words, w)
		}
		switch {
		case len(words) == 1 && words[0] == "quit":
			return
		case len(words) == 3 && words[0] == "settle":
			// Read until L1 keeps a copy of the value: the first read of a
			// new value may come before its invalidation, which drops it.
			key, want := words[1], words[2]
			for start := time.Now(); ; time.Sleep(time.Millisecond) {
				got := serves(key)
				if v, ok := local.GetLocal(key); ok && string(v) == want {
					break
				}
				if time.Since(start) > 10*time.Second {
					fail("B serves %q and keeps no L1 copy of %q after 10 s", got, want)
				}
			}
			say("ok")
		case len(words) == 3 && words[0] == "watch":
			key, want := words[1], words[2]
			say("watching")
			start := time.Now()
			for serves(key) != want {
				if time.Since(start) > 10*time.Second {
					fail("B still serves %q for %q 10 s after A's change to %q", serves(key), key, want)
				}
				time.Sleep(200 * time.Microsecond)
			}
			say("seen %d", time.Now().UnixNano())
		default:
			fail("unknown command %q", sc.Text())
		}
	}
	t.Errorf("process A closed the commands without quit: %v", sc.Err())
}
