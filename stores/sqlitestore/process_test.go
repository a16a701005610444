package sqlitestore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/sqlitestore"
)

// The helper process: the test binary re-executed with these variables set
// runs helperMain instead of the tests.
const (
	envHelper = "SQLITESTORE_TEST_HELPER" // "writer" or "crash"
	envPath   = "SQLITESTORE_TEST_PATH"
	envName   = "SQLITESTORE_TEST_NAME"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envHelper); mode != "" {
		os.Exit(helperMain(mode, os.Getenv(envPath), os.Getenv(envName)))
	}
	os.Exit(m.Run())
}

// helperMain runs a helper process and returns its exit code: 0 when it saw
// no error.
func helperMain(mode, path, name string) int {
	// A helper never outlives a stuck test by much.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := sqlitestore.New(ctx, &sqlitestore.Options{Path: path})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: New:", err)
		return 2
	}
	defer s.Close()
	switch mode {
	case "writer":
		return helperWriter(ctx, s, name)
	case "crash":
		return helperCrash(ctx, s)
	}
	fmt.Fprintln(os.Stderr, "helper: unknown mode", mode)
	return 2
}

// multiProcessOps is the number of operations of each writer process: enough
// for two processes that start on one signal to overlap by seconds (the test
// checks that they did), and to contend for the write lock hundreds of times.
const multiProcessOps = 500

// helperWriter does mixed writes and reads on keys shared with the other
// writer and prints every error to stderr.
func helperWriter(ctx context.Context, s *sqlitestore.Store, name string) int {
	errs := 0
	report := func(format string, args ...any) {
		errs++
		if errs <= 20 {
			fmt.Fprintf(os.Stderr, "helper %s: "+format+"\n", append([]any{name}, args...)...)
		}
	}
	rng := rand.New(rand.NewPCG(uint64(len(name)), uint64(name[len(name)-1])))
	// Wait for the signal that both processes are ready, so they overlap.
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		report("reading the start signal: %v", err)
		return 1
	}
	fmt.Println("START", time.Now().UnixNano())
	defer func() { fmt.Println("END", time.Now().UnixNano()) }()
	for i := range multiProcessOps {
		key := fmt.Sprintf("shared/%02d", rng.IntN(40))
		switch r := rng.IntN(100); {
		case r < 50:
			v := stamped(key, name, i, rng.IntN(8<<10))
			if err := s.Set(ctx, key, v, core.Meta{URL: "https://example.com/" + key, Method: "GET", Status: 200, Expires: time.Now().Add(time.Hour)}); err != nil {
				report("Set(%q): %v", key, err)
			}
		case r < 85:
			v, err := s.Get(ctx, key)
			switch {
			case errors.Is(err, core.ErrNotFound):
			case err != nil:
				report("Get(%q): %v", key, err)
			default:
				if err := checkStamped(key, v); err != nil {
					report("Get(%q): %v", key, err)
				}
			}
		case r < 95:
			if err := s.Delete(ctx, key); err != nil {
				report("Delete(%q): %v", key, err)
			}
		default:
			v := stamped(key, name, i, sqlitestore.ChunkSize+rng.IntN(100_000))
			w, err := s.CreateStream(ctx, key, core.Meta{})
			if err != nil {
				report("CreateStream(%q): %v", key, err)
				continue
			}
			if _, err := w.Write(v); err != nil {
				report("stream Write(%q): %v", key, err)
				_ = w.Abort()
				continue
			}
			if err := w.Commit(); err != nil {
				report("stream Commit(%q): %v", key, err)
			}
			if got, err := readStream(s, key); err != nil && !errors.Is(err, core.ErrNotFound) && !errors.Is(err, sqlitestore.ErrStreamGone) {
				report("reading stream %q: %v", key, err)
			} else if err == nil {
				if err := checkStamped(key, got); err != nil {
					report("stream %q: %v", key, err)
				}
			}
		}
	}
	if err := s.Sweep(ctx); err != nil {
		report("Sweep: %v", err)
	}
	if errs > 0 {
		fmt.Fprintf(os.Stderr, "helper %s: %d errors\n", name, errs)
		return 1
	}
	return 0
}

// crashStreamKey is the stream the crash helper never finishes.
const crashStreamKey = "crash/stream/unfinished"

// helperCrash commits one stream and a few values, then writes a stream
// it never commits and large values in a loop, printing READY once it is in
// the middle of both; the test kills it with SIGKILL.
func helperCrash(ctx context.Context, s *sqlitestore.Store) int {
	fail := func(what string, err error) int {
		fmt.Fprintf(os.Stderr, "crash helper: %s: %v\n", what, err)
		return 2
	}
	done := stamped("crash/stream/done", "crash", 0, 3*sqlitestore.ChunkSize+17)
	w, err := s.CreateStream(ctx, "crash/stream/done", core.Meta{})
	if err != nil {
		return fail("CreateStream", err)
	}
	if _, err := w.Write(done); err != nil {
		return fail("Write", err)
	}
	if err := w.Commit(); err != nil {
		return fail("Commit", err)
	}
	unfinished, err := s.CreateStream(ctx, crashStreamKey, core.Meta{})
	if err != nil {
		return fail("CreateStream", err)
	}
	var chunks atomic.Int64
	go func() {
		chunk := payload("unfinished", sqlitestore.ChunkSize)
		for ctx.Err() == nil {
			if _, err := unfinished.Write(chunk); err != nil {
				fmt.Fprintln(os.Stderr, "crash helper: stream Write:", err)
				return
			}
			chunks.Add(1)
		}
	}()
	ready := false
	for i := 0; ctx.Err() == nil; i++ {
		key := fmt.Sprintf("crash/value/%d", i%8)
		v := stamped(key, "crash", i, 2<<20+i)
		if err := s.Set(ctx, key, v, core.Meta{}); err != nil {
			return fail("Set", err)
		}
		if !ready && i >= 8 && chunks.Load() >= 2 {
			ready = true
			fmt.Println("READY")
		}
	}
	return 3 // not killed in time
}

// helper starts the test binary as a helper process.
func helper(t *testing.T, ctx context.Context, mode, path, name string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"="+mode, envPath+"="+path, envName+"="+name)
	return cmd
}

// TestTwoProcesses has two processes write and read the same file at the
// same time: neither may see an error ("database is locked" included) or a
// value that was not whole.
func TestTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	path := dbPath(t)
	// The file exists before the helpers start, as it would after a first
	// run; the helpers open it concurrently anyway.
	open(t, &sqlitestore.Options{Path: path}).Close()
	type proc struct {
		cmd            *exec.Cmd
		stdin          io.WriteCloser
		stdout, stderr strings.Builder
	}
	procs := make([]*proc, 2)
	for i := range procs {
		p := &proc{cmd: helper(t, ctx, "writer", path, fmt.Sprintf("p%d", i))}
		var err error
		if p.stdin, err = p.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		p.cmd.Stdout = &p.stdout
		p.cmd.Stderr = &p.stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[i] = p
	}
	for _, p := range procs {
		fmt.Fprintln(p.stdin, "go")
		p.stdin.Close()
	}
	var wg sync.WaitGroup
	errs := make([]error, len(procs))
	for i, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.cmd.Wait()
		}()
	}
	wg.Wait()
	var start, end [2]int64
	for i, p := range procs {
		if errs[i] != nil {
			t.Errorf("process %d: %v\n%s", i, errs[i], p.stderr.String())
		}
		if _, err := fmt.Sscanf(p.stdout.String(), "START %d\nEND %d\n", &start[i], &end[i]); err != nil {
			t.Errorf("process %d printed %q: %v", i, p.stdout.String(), err)
		}
	}
	// The two processes did run at the same time.
	if overlap := min(end[0], end[1]) - max(start[0], start[1]); overlap <= 0 {
		t.Errorf("the processes did not overlap (%v apart)", time.Duration(-overlap))
	} else {
		t.Logf("the processes overlapped for %v", time.Duration(overlap))
	}
	s := open(t, &sqlitestore.Options{Path: path})
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Error(err)
	}
	n := 0
	for item, err := range s.List(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if err := checkStamped(item.Key, get(t, s, item.Key)); err != nil {
			t.Errorf("Get(%q) after both processes: %v", item.Key, err)
		}
	}
	t.Logf("%d keys left after 2 × %d operations", n, multiProcessOps)
}

// TestKilledWriter kills (SIGKILL) a process in the middle of writing values
// and a stream: the file must open, pass the integrity check, serve only
// whole values, and lose the unfinished stream to the sweep.
func TestKilledWriter(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	path := dbPath(t)
	for round := range 3 {
		cmd := helper(t, ctx, "crash", path, "crash")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		if strings.TrimSpace(line) != "READY" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: the helper did not get ready (%q)\n%s", round, line, stderr.String())
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: helper ended with %v, want killed by SIGKILL\n%s", round, err, stderr.String())
		}
	}

	c := newClock()
	s := openClock(t, &sqlitestore.Options{Path: path, SweepInterval: -1}, c, time.Hour)
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatalf("after SIGKILL: %v", err)
	}
	for i := range 8 {
		key := fmt.Sprintf("crash/value/%d", i)
		v, err := s.Get(ctx, key)
		switch {
		case errors.Is(err, core.ErrNotFound):
		case err != nil:
			t.Errorf("Get(%q): %v", key, err)
		default:
			if err := checkStamped(key, v); err != nil {
				t.Errorf("Get(%q) after SIGKILL: %v", key, err)
			}
		}
	}
	if got, err := readStream(s, "crash/stream/done"); err != nil {
		t.Errorf("committed stream after SIGKILL: %v", err)
	} else if err := checkStamped("crash/stream/done", got); err != nil {
		t.Errorf("committed stream after SIGKILL: %v", err)
	}
	if _, err := readStream(s, crashStreamKey); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("unfinished stream after SIGKILL: %v, want core.ErrNotFound", err)
	}
	// The helper committed the stream without a value; give it one, as the
	// core would have, so that the sweep below keeps it (a committed stream
	// left without a value is collected: TestOrphanStreamsAreReclaimed).
	set(t, s, "crash/stream/done", []byte("value"), core.Meta{})
	db := sqlDB(t, path)
	pending := count(t, db, `SELECT count(*) FROM streams WHERE state = 0`)
	if pending != 3 {
		t.Errorf("%d unfinished streams in the file, want 3 (one per killed process)", pending)
	}
	// Within the grace period the sweep leaves them (they could be live
	// writers of another process); after it, it removes them.
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM streams WHERE state = 0`); n != pending {
		t.Errorf("the sweep removed unfinished streams within the grace period (%d → %d)", pending, n)
	}
	c.Advance(time.Hour + time.Second)
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM streams WHERE key IS NULL`); n != 0 {
		t.Errorf("%d unreferenced streams after the sweep, want 0", n)
	}
	committedChunks := (3*sqlitestore.ChunkSize + 17 + len("crash/stream/done|crash|0|"+strconv.Itoa(3*sqlitestore.ChunkSize+17)+"|") + sqlitestore.ChunkSize - 1) / sqlitestore.ChunkSize
	if n := count(t, db, `SELECT count(*) FROM chunks`); n != committedChunks {
		t.Errorf("%d chunks after the sweep, want %d (the committed stream's)", n, committedChunks)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Errorf("after the sweep: %v", err)
	}
}
