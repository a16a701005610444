package conformance

// Request coalescing across processes (core.WithLeaseWait), measured with
// real processes: the test binary runs itself again as the child processes
// (an environment variable says which role), each with its own Cache over
// the shared store, all asking one cold URL of an origin in the parent at
// the same instant.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/core"
)

// CrossProcessTarget is the shared store the processes of
// RunCrossProcessCoalescing use.
type CrossProcessTarget struct {
	// Name labels the report, e.g. "Redis" or "PostgreSQL".
	Name string
	// Open opens the store of namespace (a key prefix, a table name: a
	// string of lower-case letters, digits and underscores). It is called
	// in the test's process and in every child process, which must all
	// reach the same data for the same namespace.
	Open func(ctx context.Context, t *testing.T, namespace string) (core.Store, error)
	// Drop removes what the store of namespace holds, when the test ends
	// (in the test's process only); nil when Close of the store is enough.
	Drop func(ctx context.Context, namespace string) error
	// Options are cache options added to WithLeaseWait in every process.
	Options []core.Option
}

// CrossProcessLoad is the shape of a measurement.
type CrossProcessLoad struct {
	Processes   int           // child processes sharing the store
	Goroutines  int           // concurrent requests per process
	OriginDelay time.Duration // the origin's time to answer
	LeaseWait   time.Duration // core.WithLeaseWait
}

// DefaultCrossProcessLoad is the measurement issue 15 asks for: 4
// processes × 25 goroutines, an origin taking 100 ms.
func DefaultCrossProcessLoad() CrossProcessLoad {
	return CrossProcessLoad{Processes: 4, Goroutines: 25, OriginDelay: 100 * time.Millisecond, LeaseWait: 5 * time.Second}
}

// CrossProcessReport is what RunCrossProcessCoalescing measured.
type CrossProcessReport struct {
	Name           string
	Requests       int // requests made for the cold URL
	OriginRequests int // of which reached the origin
	// WaiterAddedP50 and WaiterAddedP99 are how much later than the
	// request that fetched from the origin the requests of the other
	// processes got their response (negative: earlier), by the shared
	// wall clock.
	WaiterAddedP50, WaiterAddedP99 time.Duration
	// LatencyP50 and LatencyP99 are over every request.
	LatencyP50, LatencyP99 time.Duration
	// CrashedHolderWait is how long a request took when the lease was
	// held by a process that exited without releasing it, with
	// WithLeaseWait(CrashBound); it must not exceed the bound plus the
	// origin's time by more than scheduling noise.
	CrashedHolderWait, CrashBound time.Duration
	// DeadlineWait is how long a request with a 2 s context deadline
	// took against such a lease with a WithLeaseWait of a minute: the wait
	// is cut at half the deadline.
	DeadlineWait time.Duration
}

// String formats the report as one line for the test log.
func (r CrossProcessReport) String() string {
	return fmt.Sprintf("%s: %d requests, %d to the origin; waiters' added latency p50 %v p99 %v; latency p50 %v p99 %v; crashed holder: %v (bound %v); 2 s deadline: %v",
		r.Name, r.Requests, r.OriginRequests, r.WaiterAddedP50.Round(10*time.Microsecond), r.WaiterAddedP99.Round(10*time.Microsecond),
		r.LatencyP50.Round(10*time.Microsecond), r.LatencyP99.Round(10*time.Microsecond),
		r.CrashedHolderWait.Round(time.Millisecond), r.CrashBound, r.DeadlineWait.Round(time.Millisecond))
}

// Environment of a child process.
const (
	xprocTest  = "HOARD_XPROC_TEST" // the test (t.Name()) the child runs
	xprocRole  = "HOARD_XPROC_ROLE" // "burst" or "crash"
	xprocNS    = "HOARD_XPROC_NAMESPACE"
	xprocURL   = "HOARD_XPROC_URL" // burst: the cold URL; crash: URLs, comma-separated
	xprocWarm  = "HOARD_XPROC_WARM"
	xprocN     = "HOARD_XPROC_GOROUTINES"
	xprocWait  = "HOARD_XPROC_LEASE_WAIT"
	xprocReady = "HOARD-XPROC-READY"
	xprocOut   = "HOARD-XPROC-RESULT "
)

// xprocSample is one request of a child, as it reports it.
type xprocSample struct {
	Start, End int64  // Unix nanoseconds
	Kind       string // "origin", "collapsed", "store"
	Err        string
}

// RunCrossProcessCoalescing checks request coalescing across processes over
// the store of tg, with real processes: load.Processes children (this test
// binary, run again) each make load.Goroutines concurrent GETs of one cold
// URL at the same instant, through their own Cache with
// WithLeaseWait(load.LeaseWait); the origin, in this process, must see
// exactly one request, and every request must get its answer. It then
// checks that a lease held by a process that exited without releasing it
// delays a request by the wait bound and no more, and that a request's
// context deadline cuts the wait at half of what remains. The test calling
// it must be one the child processes can run again by name (a top-level
// test or a subtest): in a child, RunCrossProcessCoalescing plays the
// child's part and returns a zero report.
func RunCrossProcessCoalescing(t *testing.T, tg CrossProcessTarget, load CrossProcessLoad) CrossProcessReport {
	t.Helper()
	if os.Getenv(xprocTest) == t.Name() {
		xprocChild(t, tg)
		return CrossProcessReport{}
	}
	ns := fmt.Sprintf("xproc_%016x", rand.Uint64())
	st, err := tg.Open(t.Context(), t, ns)
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	if _, ok := st.(core.Leaser); !ok {
		t.Fatalf("%T does not implement core.Leaser", st)
	}
	t.Cleanup(func() {
		if c, ok := st.(io.Closer); ok {
			c.Close()
		}
		if tg.Drop != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := tg.Drop(ctx, ns); err != nil {
				t.Errorf("dropping %s: %v", ns, err)
			}
		}
	})

	var hits sync.Map // path → *atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := hits.LoadOrStore(r.URL.Path, new(atomic.Int64))
		i := n.(*atomic.Int64).Add(1)
		if !strings.HasPrefix(r.URL.Path, "/warm/") {
			time.Sleep(load.OriginDelay)
		}
		w.Header().Set("Cache-Control", "max-age=300")
		fmt.Fprintf(w, "%s #%d", r.URL.Path, i)
	}))
	t.Cleanup(origin.Close)
	hitsOf := func(path string) int {
		if n, ok := hits.Load(path); ok {
			return int(n.(*atomic.Int64).Load())
		}
		return 0
	}

	rep := CrossProcessReport{Name: tg.Name}
	cold := origin.URL + "/cold"
	samples := xprocBurst(t, ns, cold, origin.URL, load)
	for _, ss := range samples {
		rep.Requests += len(ss)
	}
	rep.OriginRequests = hitsOf("/cold")
	if want := load.Processes * load.Goroutines; rep.Requests != want {
		t.Errorf("the processes reported %d requests, want %d", rep.Requests, want)
	}
	if rep.OriginRequests != 1 {
		t.Errorf("%d processes × %d goroutines on one cold URL: %d origin requests, want 1", load.Processes, load.Goroutines, rep.OriginRequests)
	}
	xprocFigures(t, samples, &rep)

	rep.CrashBound = 300 * time.Millisecond
	rep.CrashedHolderWait, rep.DeadlineWait = xprocCrashed(t, tg, ns, origin.URL, load, rep.CrashBound, hitsOf)
	return rep
}

// xprocBurst runs the burst children and returns their samples, grouped by
// process.
func xprocBurst(t *testing.T, ns, cold, base string, load CrossProcessLoad) [][]xprocSample {
	t.Helper()
	env := []string{
		xprocRole + "=burst", xprocNS + "=" + ns, xprocURL + "=" + cold, xprocWarm + "=" + base + "/warm/",
		xprocN + "=" + strconv.Itoa(load.Goroutines), xprocWait + "=" + load.LeaseWait.String(),
	}
	kids := make([]*xprocKid, load.Processes)
	for i := range kids {
		kids[i] = startKid(t, env)
	}
	for _, k := range kids {
		k.awaitReady(t)
	}
	for _, k := range kids {
		io.WriteString(k.stdin, "go\n") // every child starts its burst now
	}
	out := make([][]xprocSample, len(kids))
	for i, k := range kids {
		out[i] = k.finish(t)
		for _, s := range out[i] {
			if s.Err != "" {
				t.Errorf("process %d: request failed: %s", i, s.Err)
			}
		}
	}
	return out
}

// xprocFigures fills the latency figures of rep from the burst's samples.
func xprocFigures(t *testing.T, procs [][]xprocSample, rep *CrossProcessReport) {
	t.Helper()
	leader, leaderEnd := -1, int64(0)
	var all []time.Duration
	for i, ss := range procs {
		for _, s := range ss {
			all = append(all, time.Duration(s.End-s.Start))
			if s.Kind == "origin" {
				leader, leaderEnd = i, s.End
			}
		}
	}
	rep.LatencyP50, rep.LatencyP99 = pct(all, 50), pct(all, 99)
	if leader < 0 {
		t.Error("no request reports that it went to the origin")
		return
	}
	var added []time.Duration
	for i, ss := range procs {
		if i == leader {
			continue
		}
		for _, s := range ss {
			added = append(added, time.Duration(s.End-leaderEnd))
		}
	}
	rep.WaiterAddedP50, rep.WaiterAddedP99 = pct(added, 50), pct(added, 99)
}

// pct is the p-th percentile of ds (nearest rank).
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)]
}

// xprocCrashed makes a child take the leases of two URLs and exit without
// releasing them, then measures a request behind each: one bounded by
// WithLeaseWait(bound), one by a 2 s context deadline (room for the origin
// and the store on a loaded machine once the wait is cut at 1 s).
func xprocCrashed(t *testing.T, tg CrossProcessTarget, ns, base string, load CrossProcessLoad, bound time.Duration, hitsOf func(string) int) (crashed, deadline time.Duration) {
	t.Helper()
	urls := []string{base + "/crashed", base + "/deadline"}
	k := startKid(t, []string{xprocRole + "=crash", xprocNS + "=" + ns, xprocURL + "=" + strings.Join(urls, ","),
		xprocWait + "=" + time.Minute.String()})
	k.awaitReady(t)
	k.finish(t) // the child has exited, its leases held

	run := func(url string, wait, ctxTO time.Duration) time.Duration {
		// A store of its own: Close of the Cache closes it.
		st, err := tg.Open(t.Context(), t, ns)
		if err != nil {
			t.Fatal(err)
		}
		c, err := core.New(st, xprocOptions(tg, wait)...)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx := t.Context()
		if ctxTO > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, ctxTO)
			defer cancel()
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		start := time.Now()
		resp, err := c.Do(req, http.DefaultTransport.RoundTrip)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		took := time.Since(start)
		if err != nil {
			t.Errorf("%s behind a crashed holder's lease: %v after %v", url, err, took)
		}
		return took
	}
	crashed = run(urls[0], bound, 0)
	// Poll jitter may end the wait a little early; scheduling on a loaded
	// machine, late (up to 0.2 s measured). The lease itself lives a
	// minute: any figure near the bound shows the wait was cut there.
	if lo, hi := bound-15*time.Millisecond, bound+load.OriginDelay+500*time.Millisecond; crashed < lo || crashed > hi {
		t.Errorf("behind a crashed holder, with WithLeaseWait(%v) and an origin of %v: the request took %v, want %v to %v",
			bound, load.OriginDelay, crashed, lo, hi)
	}
	const ctxTO = 2 * time.Second
	deadline = run(urls[1], time.Minute, ctxTO)
	if lo := ctxTO/2 - 15*time.Millisecond; deadline < lo || deadline >= ctxTO {
		t.Errorf("behind a crashed holder, with a %v deadline: the request took %v, want %v to %v (the wait cut at half the deadline)",
			ctxTO, deadline, lo, ctxTO)
	}
	for _, p := range []string{"/crashed", "/deadline"} {
		if n := hitsOf(p); n != 1 {
			t.Errorf("%s: %d origin requests, want 1", p, n)
		}
	}
	return crashed, deadline
}

// xprocKid is a running child process.
type xprocKid struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	ready   chan struct{}
	lines   chan string // result lines
	done    chan struct{}
	mu      sync.Mutex
	output  strings.Builder // everything else it printed, for failures
	started time.Time
}

// runPattern is the -test.run pattern selecting exactly the test t.
func runPattern(t *testing.T) string {
	segs := strings.Split(t.Name(), "/")
	for i, s := range segs {
		segs[i] = "^" + regexp.QuoteMeta(s) + "$"
	}
	return strings.Join(segs, "/")
}

// startKid starts this test binary again as a child running t with env.
func startKid(t *testing.T, env []string) *xprocKid {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run="+runPattern(t), "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(append(os.Environ(), xprocTest+"="+t.Name()), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	k := &xprocKid{cmd: cmd, stdin: stdin, ready: make(chan struct{}), lines: make(chan string, 1024), done: make(chan struct{}), started: time.Now()}
	cmd.Stderr = &kidWriter{k}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(k.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		readyOnce := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == xprocReady:
				readyOnce.Do(func() { close(k.ready) })
			case strings.HasPrefix(line, xprocOut):
				k.lines <- strings.TrimPrefix(line, xprocOut)
			default:
				k.mu.Lock()
				k.output.WriteString(line + "\n")
				k.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		if k.cmd.ProcessState == nil {
			k.cmd.Process.Kill() // only this child, by its pid
			k.cmd.Wait()
		}
	})
	return k
}

// kidWriter collects a child's stderr.
type kidWriter struct{ k *xprocKid }

func (w *kidWriter) Write(p []byte) (int, error) {
	w.k.mu.Lock()
	defer w.k.mu.Unlock()
	return w.k.output.Write(p)
}

// awaitReady waits (at most 60 s) for the child to say it is ready.
func (k *xprocKid) awaitReady(t *testing.T) {
	t.Helper()
	select {
	case <-k.ready:
	case <-time.After(60 * time.Second):
		k.mu.Lock()
		defer k.mu.Unlock()
		t.Fatalf("child process not ready after 60 s; its output:\n%s", k.output.String())
	}
}

// finish closes the child's stdin, waits for it to exit and returns the
// samples it reported.
func (k *xprocKid) finish(t *testing.T) []xprocSample {
	t.Helper()
	k.stdin.Close()
	var out []xprocSample
	for line := range k.lines {
		var s xprocSample
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Errorf("child result %q: %v", line, err)
			continue
		}
		out = append(out, s)
	}
	if err := k.cmd.Wait(); err != nil {
		k.mu.Lock()
		defer k.mu.Unlock()
		t.Fatalf("child process: %v; its output:\n%s", err, k.output.String())
	}
	return out
}

// xprocChild plays a child's part (see RunCrossProcessCoalescing).
func xprocChild(t *testing.T, tg CrossProcessTarget) {
	wait, err := time.ParseDuration(os.Getenv(xprocWait))
	if err != nil {
		t.Fatalf("%s: %v", xprocWait, err)
	}
	st, err := tg.Open(t.Context(), t, os.Getenv(xprocNS))
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	if cl, ok := st.(io.Closer); ok {
		defer cl.Close()
	}
	c, err := core.New(st, xprocOptions(tg, wait)...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	switch os.Getenv(xprocRole) {
	case "crash":
		xprocCrash(t, c, st)
	case "burst":
		xprocRunBurst(t, c)
	default:
		t.Fatalf("%s=%q", xprocRole, os.Getenv(xprocRole))
	}
}

// xprocStoreTimeout bounds each store call of the processes: generous,
// because the check is of coalescing, not of a slow store. With the default
// (300 ms), a store slowed by other suites on the machine (a pool of four
// connections opened under 25 concurrent warm-up requests) timed out five
// times in a row, the breaker opened, and the burst then skipped the store
// and went to the origin as the breaker says it must: 26 to 100 origin
// requests in CI, for a reason the test did not show.
const xprocStoreTimeout = 10 * time.Second

// xprocOptions are the options of every Cache of the check: the generous
// store timeout, tg.Options (which may set another) and WithLeaseWait(wait).
func xprocOptions(tg CrossProcessTarget, wait time.Duration) []core.Option {
	opts := []core.Option{core.WithStoreTimeout(xprocStoreTimeout)}
	opts = append(opts, tg.Options...)
	return append(opts, core.WithLeaseWait(wait))
}

// xprocStoreHealthy fails the child when its store failed (the breaker, once
// open, sends every request to the origin): the figures then say nothing
// about coalescing, and the failure says why.
func xprocStoreHealthy(t *testing.T, c *core.Cache, phase string) {
	t.Helper()
	if st := c.Stats(); st.StoreErrors > 0 || st.Breaker.ShortCircuited > 0 {
		t.Errorf("%s: %d store errors, %d calls skipped by the open breaker: the store is not healthy enough to measure coalescing", phase, st.StoreErrors, st.Breaker.ShortCircuited)
	}
}

// xprocCrash takes the leases of the URLs and leaves without releasing
// them, as a process that crashed while fetching would.
func xprocCrash(t *testing.T, c *core.Cache, st core.Store) {
	for _, u := range strings.Split(os.Getenv(xprocURL), ",") {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		lr, err := c.Lookup(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, err := st.(core.Leaser).Lease(t.Context(), lr.Key, time.Minute); err != nil || !ok {
			t.Fatalf("taking the lease on %s: ok %v, error %v", lr.Key, ok, err)
		}
	}
	fmt.Println(xprocReady)
}

// xprocRunBurst warms the connections up, says it is ready, waits for the
// word on stdin, then sends its goroutines' requests at once and reports
// each.
func xprocRunBurst(t *testing.T, c *core.Cache) {
	n, err := strconv.Atoi(os.Getenv(xprocN))
	if err != nil {
		t.Fatalf("%s: %v", xprocN, err)
	}
	get := func(url string) xprocSample {
		s := xprocSample{Start: time.Now().UnixNano()}
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		resp, err := c.Do(req, http.DefaultTransport.RoundTrip)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		s.End = time.Now().UnixNano()
		if err != nil {
			s.Err = err.Error()
			return s
		}
		switch info := core.InfoOf(resp); {
		case info.Collapsed:
			s.Kind = "collapsed"
		case info.FromCache:
			s.Kind = "store"
		default:
			s.Kind = "origin"
		}
		return s
	}
	// Connections to the store and the origin, opened before the burst.
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s := get(fmt.Sprintf("%s%d-%d", os.Getenv(xprocWarm), os.Getpid(), i)); s.Err != "" {
				t.Errorf("warm-up: %s", s.Err)
			}
		}()
	}
	wg.Wait()
	xprocStoreHealthy(t, c, "warm-up")
	fmt.Println(xprocReady)
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	samples := make([]xprocSample, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			samples[i] = get(os.Getenv(xprocURL))
		}()
	}
	close(start)
	wg.Wait()
	xprocStoreHealthy(t, c, "burst")
	for _, s := range samples {
		b, _ := json.Marshal(s)
		fmt.Println(xprocOut + string(b))
	}
}
