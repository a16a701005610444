// Command demo shows what a persistent response cache does for a slow API,
// offline: the Go version of requests-cache's "100 requests in just over 1
// second", for four HTTP clients side by side, with a second run served from
// disk.
//
// Each client — net/http, resty v2, go-retryablehttp and req v3 — gets its
// own hoard cache (by default a SQLite database file of its own) and its own
// local origin that takes -delay to answer each request, and fetches the same
// few JSON URLs -n times. The demo prints, per client, how many requests
// reached the origin and how many the cache answered.
//
// The URLs always name the same host, http://api.hoard-demo.test: each
// client's transport dials its local origin whatever the host, so nothing
// leaves the machine and the cache keys are the same from one run to the
// next. The responses may be cached for ten minutes and carry an ETag, so a
// second run within ten minutes is answered entirely from the SQLite files,
// and a later one revalidates (304 Not Modified) instead of refetching.
//
//	go run ./demo                   # from the examples module; or `make demo` at the root
//	go run ./demo                   # again: 0 origin hits
//	go run ./demo -reset            # start with empty database files
//	go run ./demo -store mem -n 50 -delay 250ms -clients resty,req
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/imroc/req/v3"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	reqcache "github.com/hoardhttp/hoard/adapters/req"
	restycache "github.com/hoardhttp/hoard/adapters/resty"
	retryablecache "github.com/hoardhttp/hoard/adapters/retryablehttp"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/memstore"
	"github.com/hoardhttp/hoard/stores/sqlitestore"
)

// originURL is the base of every URL the demo fetches. The .test top-level
// domain is reserved (RFC 2606) and never resolved here: each client's
// transport dials its local origin instead.
const originURL = "http://api.hoard-demo.test"

// maxAge is the lifetime the origin gives its responses.
const maxAge = 10 * time.Minute

func main() {
	cfg := defaultConfig()
	clients := strings.Join(cfg.clients, ",")
	flag.StringVar(&cfg.store, "store", cfg.store, "where each client's cache lives: sqlite (a database file per client) or mem")
	flag.StringVar(&cfg.dir, "dir", "", "directory of the SQLite files (default: the user cache directory's hoard-demo, else the temporary directory's)")
	flag.BoolVar(&cfg.reset, "reset", false, "delete the demo's SQLite files for the chosen clients first")
	flag.IntVar(&cfg.n, "n", cfg.n, "fetches per URL and client")
	flag.DurationVar(&cfg.delay, "delay", cfg.delay, "time the origin takes to answer each request")
	flag.StringVar(&clients, "clients", clients, "comma-separated clients to run: net/http, resty, go-retryablehttp, req")
	flag.Parse()
	cfg.clients = strings.Split(clients, ",")
	if cfg.dir == "" {
		cfg.dir = defaultDir()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		stop()
		os.Exit(1)
	}
}

// config is what the flags set.
type config struct {
	store   string           // "sqlite" or "mem"
	dir     string           // directory of the SQLite files
	reset   bool             // delete the chosen clients' SQLite files first
	n       int              // fetches per URL and client
	delay   time.Duration    // time the origin takes per request
	clients []string         // names (or file names) of the clients to run, in order
	now     func() time.Time // the caches' and the origin's clock; nil means time.Now (tests move it)
}

// defaultConfig is the configuration of a run without flags, but for dir.
func defaultConfig() config {
	c := config{store: "sqlite", n: 25, delay: 100 * time.Millisecond}
	for _, cl := range allClients {
		c.clients = append(c.clients, cl.name)
	}
	return c
}

// defaultDir is where the SQLite files go without -dir.
func defaultDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "hoard-demo")
	}
	return filepath.Join(os.TempDir(), "hoard-demo")
}

// check validates c and resolves its client names.
func (c *config) check() ([]clientKind, error) {
	if c.n < 1 {
		return nil, fmt.Errorf("-n must be at least 1, got %d", c.n)
	}
	if c.delay < 0 {
		return nil, fmt.Errorf("-delay must not be negative, got %v", c.delay)
	}
	switch c.store {
	case "sqlite":
		if c.dir == "" {
			return nil, errors.New("-dir must not be empty with -store sqlite")
		}
	case "mem":
	default:
		return nil, fmt.Errorf("-store must be sqlite or mem, got %q", c.store)
	}
	var kinds []clientKind
	seen := make(map[string]bool)
	for _, name := range c.clients {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		k, ok := lookupClient(name)
		if !ok {
			return nil, fmt.Errorf("-clients: unknown client %q (want net/http, resty, go-retryablehttp or req)", name)
		}
		if !seen[k.name] {
			seen[k.name] = true
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		return nil, errors.New("-clients names no client")
	}
	return kinds, nil
}

// resource is one URL the origin serves.
type resource struct {
	path  string   // URL path
	query []string // alternative spellings of the same query, used in turn
	body  string   // JSON body
}

// url returns the URL of the i-th fetch: resources with a query alternate
// between its spellings, which the cache normalises to one key.
func (r *resource) url(i int) string {
	if len(r.query) == 0 {
		return originURL + r.path
	}
	return originURL + r.path + "?" + r.query[i%len(r.query)]
}

// etag is the resource's entity tag: the same in every run.
func (r *resource) etag() string {
	h := fnv.New64a()
	io.WriteString(h, r.body)
	return fmt.Sprintf(`"%016x"`, h.Sum64())
}

// resources are the URLs every client fetches.
var resources = []*resource{
	{path: "/users/1", body: `{"id":1,"login":"ada","name":"Ada Lovelace"}`},
	{path: "/users/2", body: `{"id":2,"login":"grace","name":"Grace Hopper"}`},
	{path: "/repos/hoard", body: `{"name":"hoard","description":"persistent HTTP response cache for Go","stars":42}`},
	{
		path:  "/search",
		query: []string{"q=go&page=1", "page=1&q=go"},
		body:  `{"query":"go","page":1,"items":["hoard","ristretto","slog"]}`,
	},
}

// origin is a slow JSON API on a loopback listener: every request takes
// delay, every response may be cached for maxAge and carries an ETag.
type origin struct {
	srv         *httptest.Server
	hits        atomic.Int64 // requests answered
	notModified atomic.Int64 // of which 304s
}

func newOrigin(delay time.Duration, now func() time.Time) *origin {
	o := new(origin)
	byPath := make(map[string]*resource, len(resources))
	for _, r := range resources {
		byPath[r.path] = r
	}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r := byPath[req.URL.Path]
		if r == nil || (len(r.query) > 0 && !sameQuery(req, r.query[0])) {
			http.NotFound(w, req)
			return
		}
		o.hits.Add(1)
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return
		}
		etag := r.etag()
		w.Header().Set("Date", now().UTC().Format(http.TimeFormat))
		w.Header().Set("Cache-Control", fmt.Sprintf("max-age=%d", int(maxAge/time.Second)))
		w.Header().Set("ETag", etag)
		if req.Header.Get("If-None-Match") == etag {
			o.notModified.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, r.body)
	}))
	return o
}

// dial connects to the origin's listener whatever address is asked for.
func (o *origin) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", o.srv.Listener.Addr().String())
}

// transport is what a client sends through below its cache: a clone of
// http.DefaultTransport that reaches the origin for every host and never
// uses a proxy.
func (o *origin) transport() *http.Transport {
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	} else {
		t = new(http.Transport)
	}
	t.Proxy = nil
	t.DialContext = o.dial
	return t
}

// sameQuery reports whether the request's query has the same parameters as
// want, in any order.
func sameQuery(req *http.Request, want string) bool {
	got := req.URL.Query()
	for _, kv := range strings.Split(want, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if got.Get(k) != v {
			return false
		}
	}
	return true
}

// response is what a client got for one fetch.
type response struct {
	status int
	body   []byte
	info   core.Info
}

// getFunc fetches url with one client.
type getFunc func(ctx context.Context, url string) (response, error)

// clientKind is one HTTP client library.
type clientKind struct {
	name string // as shown
	file string // its SQLite file, in the demo's directory
	// open builds a client with cache installed over a transport to o, and
	// returns its get function and what releases its connections.
	open func(cache *core.Cache, o *origin) (getFunc, func())
}

// allClients are the clients the demo knows, in the order shown.
var allClients = []clientKind{
	{name: "net/http", file: "nethttp.db", open: openNetHTTP},
	{name: "resty", file: "resty.db", open: openResty},
	{name: "go-retryablehttp", file: "retryablehttp.db", open: openRetryable},
	{name: "req", file: "req.db", open: openReq},
}

// lookupClient finds a client by its name or file name, in lower case.
func lookupClient(name string) (clientKind, bool) {
	for _, k := range allClients {
		if name == k.name || name == strings.TrimSuffix(k.file, ".db") {
			return k, true
		}
	}
	return clientKind{}, false
}

// openNetHTTP builds a net/http client with the cache over its transport.
func openNetHTTP(cache *core.Cache, o *origin) (getFunc, func()) {
	base := o.transport()
	client := nethttpcache.NewClient(cache, base)
	get := func(ctx context.Context, url string) (response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return response{}, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return response{}, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return response{resp.StatusCode, body, core.InfoOf(resp)}, err
	}
	return get, base.CloseIdleConnections
}

// openResty builds a resty client: its transport settings first, then
// Install, which wraps that transport.
func openResty(cache *core.Cache, o *origin) (getFunc, func()) {
	base := o.transport()
	client := restycache.Install(resty.New().SetTransport(base), cache)
	get := func(ctx context.Context, url string) (response, error) {
		resp, err := client.R().SetContext(ctx).Get(url)
		if err != nil {
			return response{}, err
		}
		return response{resp.StatusCode(), resp.Body(), restycache.Info(resp)}, nil
	}
	return get, base.CloseIdleConnections
}

// openRetryable builds a go-retryablehttp client with the cache below its
// retry loop (the transport is set before Install).
func openRetryable(cache *core.Cache, o *origin) (getFunc, func()) {
	base := o.transport()
	rc := retryablehttp.NewClient()
	rc.Logger = nil // it logs every request by default
	rc.HTTPClient.Transport = base
	retryablecache.Install(rc, cache)
	get := func(ctx context.Context, url string) (response, error) {
		req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return response{}, err
		}
		resp, err := rc.Do(req)
		if err != nil {
			return response{}, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return response{resp.StatusCode, body, core.InfoOf(resp)}, err
	}
	return get, base.CloseIdleConnections
}

// openReq builds a req client whose own transport dials the origin, with
// the cache as a transport-level wrapper.
func openReq(cache *core.Cache, o *origin) (getFunc, func()) {
	client := req.C().SetDial(o.dial).SetProxy(nil)
	reqcache.Install(client, cache)
	get := func(ctx context.Context, url string) (response, error) {
		resp, err := client.R().SetContext(ctx).Get(url)
		if err != nil {
			return response{}, err
		}
		body, err := resp.ToBytes()
		return response{resp.StatusCode, body, reqcache.Info(resp)}, err
	}
	return get, client.GetTransport().CloseIdleConnections
}

// clientResult is the outcome for one client.
type clientResult struct {
	name          string
	path          string // its SQLite file; "" for the memory store
	entriesBefore int    // responses its cache held when it was opened
	requests      int
	originHits    int64         // requests that reached the origin
	notModified   int64         // of which were answered 304
	fromCache     int           // responses whose content came from the cache
	elapsed       time.Duration // fetching, without opening and closing the cache
	stats         core.Stats
}

// result is the outcome of a whole run.
type result struct {
	cfg     config
	clients []clientResult
	elapsed time.Duration // the clients' fetching time, added up
}

// measure runs every chosen client in turn: each fetches every resource
// cfg.n times through a cache of its own.
func measure(ctx context.Context, cfg config) (*result, error) {
	kinds, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if cfg.store == "sqlite" {
		if err := os.MkdirAll(cfg.dir, 0o755); err != nil {
			return nil, fmt.Errorf("cache directory: %w", err)
		}
		if cfg.reset {
			for _, k := range kinds {
				if err := removeDB(filepath.Join(cfg.dir, k.file)); err != nil {
					return nil, err
				}
			}
		}
	}
	out := &result{cfg: cfg}
	for _, k := range kinds {
		cr, err := measureClient(ctx, cfg, k)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k.name, err)
		}
		out.clients = append(out.clients, cr)
		out.elapsed += cr.elapsed
	}
	return out, nil
}

// removeDB deletes a SQLite database file and its WAL and shared-memory
// files.
func removeDB(path string) error {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("-reset: %w", err)
		}
	}
	return nil
}

// openCache opens the client's cache: its SQLite file, or a memory store.
func openCache(ctx context.Context, cfg config, k clientKind, now func() time.Time) (cache *core.Cache, path string, err error) {
	var store core.Store
	if cfg.store == "sqlite" {
		path = filepath.Join(cfg.dir, k.file)
		s, err := sqlitestore.New(ctx, &sqlitestore.Options{Path: path})
		if err != nil {
			return nil, "", err
		}
		store = s
	} else {
		s, err := memstore.New(&memstore.Options{MaxBytes: 64 << 20})
		if err != nil {
			return nil, "", fmt.Errorf("memory store: %w", err)
		}
		store = s
	}
	// Warnings only: store errors and failed background refreshes.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cache, err = core.New(store, core.WithLogger(logger), core.WithClock(now))
	if err != nil {
		if c, ok := store.(io.Closer); ok {
			c.Close()
		}
		return nil, "", fmt.Errorf("cache: %w", err)
	}
	return cache, path, nil
}

// measureClient fetches every resource cfg.n times with one client, through
// a cache of its own, from an origin of its own.
func measureClient(ctx context.Context, cfg config, k clientKind) (_ clientResult, err error) {
	now := cfg.now
	if now == nil {
		now = time.Now
	}
	o := newOrigin(cfg.delay, now)
	defer o.srv.Close()

	cache, path, err := openCache(ctx, cfg, k, now)
	if err != nil {
		return clientResult{}, err
	}
	// Close stops background work and closes the store.
	defer func() {
		if cerr := cache.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing the cache: %w", cerr)
		}
	}()
	before, err := countEntries(ctx, cache)
	if err != nil {
		return clientResult{}, err
	}

	get, release := k.open(cache, o)
	defer release()

	cr := clientResult{name: k.name, path: path, entriesBefore: before}
	start := time.Now()
	for _, r := range resources {
		for i := range cfg.n {
			url := r.url(i)
			resp, err := get(ctx, url)
			if err != nil {
				return clientResult{}, err
			}
			if resp.status != http.StatusOK {
				return clientResult{}, fmt.Errorf("GET %s: status %d", url, resp.status)
			}
			if !bytes.Equal(resp.body, []byte(r.body)) {
				return clientResult{}, fmt.Errorf("GET %s: body %q, want %q", url, resp.body, r.body)
			}
			cr.requests++
			if resp.info.FromCache {
				cr.fromCache++
			}
		}
	}
	cr.elapsed = time.Since(start)
	cr.originHits = o.hits.Load()
	cr.notModified = o.notModified.Load()
	cr.stats = cache.Stats()
	return cr, nil
}

// countEntries counts the responses stored in cache; a store that cannot
// list counts as empty.
func countEntries(ctx context.Context, cache *core.Cache) (int, error) {
	n := 0
	for _, err := range cache.Entries(ctx) {
		if errors.Is(err, core.ErrNotSupported) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("counting stored entries: %w", err)
		}
		n++
	}
	return n, nil
}

// write prints the result: where the caches live, a table with one row per
// client, the totals, and what this run shows.
func (r *result) write(w io.Writer) error {
	ew := &errWriter{w: w}
	urls := len(resources)
	fmt.Fprintf(ew, "%d clients × %d URLs × %d fetches; the origin (%s, on loopback) takes %v per request.\n",
		len(r.clients), urls, r.cfg.n, originURL, r.cfg.delay)

	persistent := r.cfg.store == "sqlite"
	if persistent {
		fmt.Fprintf(ew, "Each client has its own SQLite file in %s:\n", r.cfg.dir)
	} else {
		fmt.Fprintln(ew, "Each client has its own memory store (-store mem: nothing is kept after the run).")
	}
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	if persistent {
		for _, c := range r.clients {
			fmt.Fprintf(tw, "  %s\t%s\t%s from a previous run\n", c.name, filepath.Base(c.path), plural(c.entriesBefore, "entry", "entries"))
		}
	}
	tw.Flush()
	fmt.Fprintln(ew)

	var total clientResult
	total.name = "total"
	var stats core.Stats
	for _, c := range r.clients {
		total.requests += c.requests
		total.originHits += c.originHits
		total.notModified += c.notModified
		total.fromCache += c.fromCache
		total.entriesBefore += c.entriesBefore
		stats = addStats(stats, c.stats)
	}
	total.elapsed = r.elapsed

	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	const hReq, hHits, hCache, hTime = "requests", "origin hits", "from cache", "time"
	fmt.Fprintf(tw, "client\t%s\t%s\t%s\t%8s\n", hReq, hHits, hCache, hTime)
	line := func(c clientResult) {
		fmt.Fprintf(tw, "%s\t%*d\t%*d\t%*d\t%8s\n", c.name,
			len(hReq), c.requests, len(hHits), c.originHits, len(hCache), c.fromCache, round(c.elapsed))
	}
	for _, c := range r.clients {
		line(c)
	}
	line(total)
	tw.Flush()

	uncached := time.Duration(total.requests) * r.cfg.delay
	fmt.Fprintln(ew)
	fmt.Fprintf(ew, "without a cache: %d requests × %v = %v (at least)\n", total.requests, r.cfg.delay, uncached)
	fmt.Fprintf(ew, "with hoard:      %v", round(r.elapsed))
	if r.elapsed > 0 && uncached > r.elapsed {
		fmt.Fprintf(ew, " (%.0f× faster)", float64(uncached)/float64(r.elapsed))
	}
	fmt.Fprintln(ew)
	fmt.Fprintf(ew, "cache.Stats(), all clients: %s\n", nonZero(stats))
	fmt.Fprintf(ew, "(/search is fetched as ?q=go&page=1 and ?page=1&q=go: one key, one origin hit.)\n\n")
	fmt.Fprintln(ew, r.verdict(total))
	return ew.err
}

// verdict says in one sentence what the run shows about persistence.
func (r *result) verdict(total clientResult) string {
	if r.cfg.store != "sqlite" {
		return "memory store: nothing persists; the default -store sqlite serves a second run from disk."
	}
	allHad := true
	for _, c := range r.clients {
		if c.entriesBefore == 0 {
			allHad = false
		}
	}
	switch {
	case total.entriesBefore == 0:
		return fmt.Sprintf("first run: %s reached the origin; the responses are now in the SQLite files.\n"+
			"Run the demo again (`make demo`): it is served from them.", plural(int(total.originHits), "request", "requests"))
	case allHad && total.originHits == 0:
		return "second run: 0 origin hits — every response came from the SQLite file."
	case allHad && total.originHits == total.notModified:
		return fmt.Sprintf("second run, after the responses' max-age (%v): %s answered 304 Not Modified;\n"+
			"every body still came from the SQLite file.", maxAge, plural(int(total.notModified), "revalidation", "revalidations"))
	default:
		return fmt.Sprintf("partly persisted: %s reached the origin (%d answered 304);\n"+
			"the rest came from the SQLite files.", plural(int(total.originHits), "request", "requests"), total.notModified)
	}
}

// plural formats n with the singular or plural noun.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// addStats adds the counters of b to a.
func addStats(a, b core.Stats) core.Stats {
	va, vb := reflect.ValueOf(&a).Elem(), reflect.ValueOf(b)
	for i := range va.NumField() {
		if f := va.Field(i); f.CanInt() {
			f.SetInt(f.Int() + vb.Field(i).Int())
		}
	}
	return a
}

// nonZero formats the non-zero fields of a Stats, as Name=value pairs.
func nonZero(s core.Stats) string {
	var parts []string
	v := reflect.ValueOf(s)
	for i := range v.NumField() {
		f := v.Field(i)
		if f.CanInt() && f.Int() != 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", v.Type().Field(i).Name, f.Int()))
		}
	}
	if len(parts) == 0 {
		return "(all zero)"
	}
	return strings.Join(parts, " ")
}

// round shortens a duration for display.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// errWriter remembers the first write error so write can report it once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// run is the demo: it measures and prints.
func run(ctx context.Context, w io.Writer, cfg config) error {
	r, err := measure(ctx, cfg)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("interrupted: %w", err)
		}
		return err
	}
	return r.write(w)
}
