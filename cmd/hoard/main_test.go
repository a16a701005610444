package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/pgstore"
)

// bin is the hoard binary the tests run, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hoard-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "hoard")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building hoard:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// out is what one run of the binary did.
type out struct {
	stdout, stderr string
	code           int
}

// hoard runs the binary with args (and stdin, when not nil), bounded by 60 s.
func hoard(t *testing.T, stdin io.Reader, env []string, args ...string) out {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if len(args) > 0 {
		// The shared services may be slow under load: give them time to
		// answer rather than fail the test.
		args = append(args[:len(args):len(args)], "--open-timeout=30s")
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &so, &se, stdin
	cmd.Env = append(os.Environ(), env...)
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running hoard %v: %v", args, err)
	}
	return out{so.String(), se.String(), code}
}

// ok runs hoard and fails the test unless it exits 0.
func ok(t *testing.T, args ...string) out {
	t.Helper()
	o := hoard(t, nil, nil, args...)
	if o.code != 0 {
		t.Fatalf("hoard %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), o.code, o.stdout, o.stderr)
	}
	return o
}

// testOrigin serves the responses the tests cache, and counts requests.
type testOrigin struct {
	*httptest.Server
	big  []byte
	hits atomic.Int64
}

func newOrigin(t *testing.T) *testOrigin {
	o := &testOrigin{big: make([]byte, 300_000+123)}
	r := rand.New(rand.NewPCG(7, 9))
	for i := range o.big {
		o.big[i] = byte(r.Uint32())
	}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		o.hits.Add(1)
		h := w.Header()
		h.Set("Cache-Control", "max-age=600")
		h.Set("Etag", `"v1"`)
		if req.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		switch req.URL.Path {
		case "/big":
			h.Set("Content-Type", "application/octet-stream")
			w.Write(o.big)
		case "/v":
			h.Set("Vary", "Accept-Language")
			fmt.Fprintf(w, "hello in %s", req.Header.Get("Accept-Language"))
		case "/missing":
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, "no such thing")
		case "/stale":
			h.Set("Cache-Control", "max-age=0")
			fmt.Fprint(w, "stale at once")
		case "/private":
			h.Set("Cache-Control", "private, max-age=600")
			fmt.Fprint(w, "for one user")
		default:
			h.Set("Content-Type", "text/plain")
			fmt.Fprintf(w, "page %s", req.URL.Path)
		}
	}))
	t.Cleanup(o.Close)
	return o
}

// populate fills the cache dsn names through the core, as a program using
// hoard would: /a, /big (streamed where the store streams), two variants of
// /v, /missing (404) and /stale (expired at once).
func populate(t *testing.T, o *testOrigin, dsn string) {
	t.Helper()
	st, err := core.OpenStore(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	c, err := core.New(st, core.WithStreamThreshold(64<<10), core.WithAllowableCodes(200, 404))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	get := func(path, lang string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, o.URL+path, nil)
		if lang != "" {
			req.Header.Set("Accept-Language", lang)
		}
		resp, err := c.Do(req, http.DefaultTransport.RoundTrip)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if path != "/big" && !core.InfoOf(resp).Stored { // a streamed body is stored at its end
			t.Fatalf("populate: %s %s not stored (%s)", path, lang, resp.Header.Get("Cache-Status"))
		}
	}
	get("/a", "")
	get("/big", "")
	get("/v", "en")
	get("/v", "fr")
	get("/missing", "")
	get("/stale", "")
}

// lsJSON runs ls --json and decodes its lines.
func lsJSON(t *testing.T, dsn string, args ...string) []row {
	t.Helper()
	o := ok(t, append([]string{"ls", dsn, "--json"}, args...)...)
	var rows []row
	for line := range strings.Lines(o.stdout) {
		var r row
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("ls --json line %q: %v", line, err)
		}
		rows = append(rows, r)
	}
	return rows
}

func paths(rows []row) []string {
	var out []string
	for _, r := range rows {
		u, _ := url.Parse(r.URL)
		p := u.Path
		if r.Vary != "" {
			p += " " + r.Vary
		}
		out = append(out, p)
	}
	return out
}

// localStores are the DSNs of stores on this machine, fresh per test.
func localStores(t *testing.T) map[string]string {
	dir := t.TempDir()
	return map[string]string{
		"sqlite": "sqlite://" + filepath.Join(dir, "cache.db"),
		"file":   "file://" + filepath.Join(dir, "files"),
	}
}

// serviceStore returns the DSN of a fresh namespace of a networked store,
// skipping (or failing under HOARD_REQUIRE_SERVICES=1) when its service is
// not configured. The namespace is purged when the test ends.
func serviceStore(t *testing.T, kind string) string {
	t.Helper()
	ns := fmt.Sprintf("hoardcli%d%d", time.Now().UnixNano()%1e9, rand.IntN(1000))
	var dsn string
	switch kind {
	case "redis":
		u, _ := url.Parse(conformance.RequireService(t, "HOARD_TEST_REDIS_URL"))
		q := u.Query()
		q.Set("prefix", ns+":")
		u.RawQuery = q.Encode()
		dsn = u.String()
	case "mongodb":
		u, _ := url.Parse(conformance.RequireService(t, "HOARD_TEST_MONGO_URL"))
		q := u.Query()
		q.Set("database", "hoardcli")
		q.Set("collection", ns)
		u.RawQuery = q.Encode()
		dsn = u.String()
	case "postgres":
		u, _ := url.Parse(conformance.RequireService(t, "HOARD_TEST_POSTGRES_URL"))
		q := u.Query()
		q.Set("table", ns)
		u.RawQuery = q.Encode()
		dsn = u.String()
		t.Cleanup(func() { dropPGTables(t, dsn) }) // after the purge below
	case "dynamodb":
		ep := conformance.RequireService(t, "HOARD_TEST_DYNAMODB_ENDPOINT")
		dsn = "dynamodb://hoardcli?" + url.Values{"endpoint": {ep}, "region": {"us-east-1"}, "create_table": {"true"}, "prefix": {ns + "/"}}.Encode()
	default:
		t.Fatalf("unknown store kind %s", kind)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if o := hoardCtx(ctx, "purge", dsn, "--all", "--yes"); o.code != 0 {
			t.Logf("purging %s: %s", dsn, o.stderr)
		}
	})
	return dsn
}

// dropPGTables drops the tables of the pgstore DSN a test created.
func dropPGTables(t *testing.T, dsn string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := pgstore.Open(ctx, dsn)
	if err == nil {
		err = st.DropTables(ctx)
	}
	if err != nil {
		t.Errorf("dropping the tables of %s: %v", dsn, err)
	}
}

// hoardCtx runs the binary outside a test's context (for cleanups).
func hoardCtx(ctx context.Context, args ...string) out {
	cmd := exec.CommandContext(ctx, bin, append(args, "--open-timeout=30s")...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return out{so.String(), se.String(), code}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "no command given"},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"ls"}, exitUsage, "ls needs a store DSN"},
		{[]string{"ls", "mem://", "--bogus"}, exitUsage, "unknown flag: --bogus"},
		{[]string{"ls", "mem://", "--expired", "--fresh"}, exitUsage, "--expired and --fresh exclude each other"},
		{[]string{"ls", "mem://", "--status", "abc"}, exitUsage, "invalid argument"},
		{[]string{"show", "mem://"}, exitUsage, "show needs 2 arguments"},
		{[]string{"rm", "mem://", "example.com/a"}, exitUsage, "not an absolute URL"},
		{[]string{"purge", "mem://"}, exitUsage, "say what to remove"},
		{[]string{"purge", "mem://", "--all", "--expired"}, exitUsage, "--all removes everything"},
		{[]string{"get"}, exitUsage, "get needs one URL"},
		{[]string{"get", "ftp://example.com/"}, exitUsage, "not an http or https URL"},
		{[]string{"get", "http://127.0.0.1:1/", "-H", "NoColon"}, exitUsage, "want 'Name: value'"},
		{[]string{"proxy"}, exitUsage, "--upstream is required"},
		{[]string{"proxy", "--upstream", "localhost:80"}, exitUsage, "want an http or https URL"},
		{[]string{"ls", "mem://", "--codec", "xml"}, exitUsage, `unknown --codec "xml"`},
		{[]string{"ls", "nosuch://x"}, exitError, "store nosuch://x: invalid configuration"},
		{[]string{"ls", "sqlite:///nonexistent-dir/cache.db"}, exitError, "invalid configuration: no cache at /nonexistent-dir/cache.db"},
		{[]string{"ls", "redis://127.0.0.1:1/0"}, exitError, "store redis://127.0.0.1:1/0: unavailable"},
		{[]string{"ls", "redis://user:hunter2@127.0.0.1:1/0"}, exitError, "redis://user:xxxxx@127.0.0.1:1/0: unavailable"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			o := hoard(t, nil, nil, tc.args...)
			if o.code != tc.code || !strings.Contains(o.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", o.code, o.stderr, tc.code, tc.want)
			}
			if strings.Contains(o.stderr, "hunter2") {
				t.Errorf("stderr shows the password: %q", o.stderr)
			}
			if tc.code == exitUsage && !strings.Contains(o.stderr, "--help' for usage") {
				t.Errorf("a usage error does not point to --help: %q", o.stderr)
			}
		})
	}
	if _, err := os.Stat("/nonexistent-dir"); err == nil {
		t.Error("ls created the directory of a sqlite DSN that did not exist")
	}
	for _, c := range []string{"", "ls", "show", "stats", "rm", "purge", "export", "import", "get", "proxy"} {
		o := ok(t, strings.Fields(c+" --help")...)
		if !strings.Contains(o.stdout, "Usage:") || !strings.Contains(o.stdout, "Examples:") && !strings.Contains(o.stdout, "Example") {
			t.Errorf("hoard %s --help has no usage or examples:\n%s", c, o.stdout)
		}
	}
}

func TestInspect(t *testing.T) {
	o := newOrigin(t)
	for name, dsn := range localStores(t) {
		t.Run(name, func(t *testing.T) {
			populate(t, o, dsn)
			all := []string{"/a", "/big", "/missing", "/stale", "/v Accept-Language: en", "/v Accept-Language: fr"}
			rows := lsJSON(t, dsn)
			if got := paths(rows); strings.Join(got, ",") != strings.Join(all, ",") {
				t.Fatalf("ls --json = %v, want %v (sorted by URL)", got, all)
			}
			for _, r := range rows {
				wantStreamed := r.URL == o.URL+"/big"
				if r.Streamed != wantStreamed || r.Key == "" || r.Method != "GET" {
					t.Errorf("ls row %+v: want method GET, a key, streamed %v", r, wantStreamed)
				}
				if r.URL == o.URL+"/big" && r.Size != int64(len(o.big)) {
					t.Errorf("/big size %d, want %d", r.Size, len(o.big))
				}
				if r.Fresh != (r.URL != o.URL+"/stale") {
					t.Errorf("%s fresh = %v", r.URL, r.Fresh)
				}
			}
			text := ok(t, "ls", dsn).stdout
			lines := strings.Split(strings.TrimSpace(text), "\n")
			if len(lines) != 7 || !strings.HasPrefix(lines[0], "METHOD  URL") {
				t.Fatalf("ls prints:\n%s\nwant a header and 6 lines", text)
			}
			col := strings.Index(lines[0], "STATUS")
			for _, l := range lines[1:] {
				if len(l) <= col || l[col] < '1' || l[col] > '5' {
					t.Errorf("ls line %q: the STATUS column is not aligned under its header", l)
				}
			}
			if !strings.Contains(text, "stale") || !strings.Contains(text, "293.1 KiB") {
				t.Errorf("ls text lacks the stale state or /big's size:\n%s", text)
			}
			for _, tc := range []struct {
				args []string
				want []string
			}{
				{[]string{"--status", "404"}, []string{"/missing"}},
				{[]string{"--expired"}, []string{"/stale"}},
				{[]string{"--url", strings.TrimPrefix(o.URL, "http://") + "/v"}, []string{"/v Accept-Language: en", "/v Accept-Language: fr"}},
				{[]string{"--url", "*/b?g"}, []string{"/big"}},
				{[]string{"--host", "127.0.0.1", "--fresh", "--limit", "2"}, []string{"/a", "/big"}},
				{[]string{"--host", "example.com"}, nil},
				{[]string{"--older-than", "1h"}, nil},
			} {
				if got := paths(lsJSON(t, dsn, tc.args...)); strings.Join(got, ",") != strings.Join(tc.want, ",") {
					t.Errorf("ls %v = %v, want %v", tc.args, got, tc.want)
				}
			}

			// show: every variant of a URL, and one entry by key.
			sv := strings.Join(strings.Fields(ok(t, "show", dsn, o.URL+"/v").stdout), " ") // tabwriter's spacing aside
			for _, want := range []string{"Variant Accept-Language: en", "Variant Accept-Language: fr", `ETag "v1"`, "lifetime 10m0s", "State", "fresh", "Vary: Accept-Language"} {
				if !strings.Contains(sv, want) {
					t.Errorf("show /v lacks %q:\n%s", want, sv)
				}
			}
			var bigKey string
			for _, r := range rows {
				if strings.HasSuffix(r.URL, "/big") {
					bigKey = r.Key
				}
			}
			file := filepath.Join(t.TempDir(), "big.bin")
			ok(t, "show", dsn, bigKey, "--body", "-o", file)
			if got, err := os.ReadFile(file); err != nil || !bytes.Equal(got, o.big) {
				t.Errorf("show --body -o saved %d bytes (%v), want the %d bytes of /big", len(got), err, len(o.big))
			}
			if body := ok(t, "show", dsn, o.URL+"/a", "--body").stdout; !strings.HasSuffix(body, "\npage /a") {
				t.Errorf("show --body of /a ends %q, want the body", body[max(0, len(body)-40):])
			}
			var je exportEntry
			if err := json.Unmarshal([]byte(ok(t, "show", dsn, o.URL+"/missing", "--json").stdout), &je); err != nil || je.Status != 404 {
				t.Errorf("show --json of /missing: %+v, %v", je, err)
			}
			if o := hoard(t, nil, nil, "show", dsn, o.URL+"/never"); o.code != exitError || !strings.Contains(o.stderr, "nothing stored for") {
				t.Errorf("show of a URL not stored: exit %d %q", o.code, o.stderr)
			}

			// stats.
			var s summary
			if err := json.Unmarshal([]byte(ok(t, "stats", dsn, "--json").stdout), &s); err != nil {
				t.Fatal(err)
			}
			host := strings.TrimPrefix(o.URL, "http://")
			if s.Entries != 6 || s.Expired != 1 || s.Fresh != 5 || s.Hosts[host] == nil || s.Hosts[host].Entries != 6 ||
				s.Statuses["404"] == nil || s.Statuses["404"].Entries != 1 || s.Oldest == nil || s.Newest == nil || s.Bytes < int64(len(o.big)) {
				t.Errorf("stats = %+v", s)
			}
			if st := ok(t, "stats", dsn).stdout; !strings.Contains(strings.Join(strings.Fields(st), " "), "entries 6 (5 fresh, 1 expired") || !strings.Contains(st, "STATUS") {
				t.Errorf("stats prints:\n%s", st)
			}
			// Nothing above changed the store.
			if n := len(lsJSON(t, dsn)); n != 6 {
				t.Errorf("after the inspections %d entries, want 6", n)
			}
		})
	}
}

func TestWrongCodecChangesNothing(t *testing.T) {
	o := newOrigin(t)
	dsn := localStores(t)["sqlite"]
	populate(t, o, dsn)
	for _, tc := range []struct {
		args []string
		env  []string
	}{
		{[]string{"ls", dsn, "--codec", "json"}, nil},
		{[]string{"purge", dsn, "--expired"}, []string{"HOARD_SIGN_KEYS=00112233445566778899aabbccddeeff"}},
		{[]string{"export", dsn}, []string{"HOARD_ENCRYPT_KEYS=00112233445566778899aabbccddeeff"}},
	} {
		out := hoard(t, nil, tc.env, tc.args...)
		if out.code != exitError || !strings.Contains(out.stderr, "do not decode with the codec given") {
			t.Errorf("hoard %v: exit %d %q; want a refusal naming the codec", tc.args, out.code, out.stderr)
		}
	}
	if n := len(lsJSON(t, dsn)); n != 6 {
		t.Errorf("after commands with the wrong codec, %d entries; want all 6 still there", n)
	}
}

func TestRemove(t *testing.T) {
	o := newOrigin(t)
	for name, dsn := range localStores(t) {
		t.Run(name, func(t *testing.T) {
			populate(t, o, dsn)
			if got := ok(t, "rm", dsn, o.URL+"/v", strings.Replace(o.URL, "http://", "HTTP://", 1)+"/a").stdout; !strings.HasPrefix(got, "removed 3 entries") {
				t.Errorf("rm /v /a printed %q, want 3 entries removed", got)
			}
			if got := ok(t, "purge", dsn, "--expired").stdout; got != "removed 1 entry, 13 B (13 bytes)\n" {
				t.Errorf("purge --expired printed %q", got)
			}
			if got := ok(t, "purge", dsn, "--older-than", "1h").stdout; !strings.HasPrefix(got, "removed 0 entries") {
				t.Errorf("purge --older-than 1h printed %q", got)
			}
			if got := paths(lsJSON(t, dsn)); strings.Join(got, ",") != "/big,/missing" {
				t.Errorf("left %v, want /big and /missing", got)
			}
			// --all without a terminal and without --yes is refused.
			if out := hoard(t, strings.NewReader("y\n"), nil, "purge", dsn, "--all"); out.code != exitUsage || !strings.Contains(out.stderr, "without --yes") {
				t.Errorf("purge --all from a pipe: exit %d %q; want a refusal", out.code, out.stderr)
			}
			if n := len(lsJSON(t, dsn)); n != 2 {
				t.Errorf("after a refused purge --all, %d entries; want 2", n)
			}
			want := fmt.Sprintf("removed 2 entries, %s (%d bytes)\n", humanBytes(int64(len(o.big))+13), len(o.big)+13)
			if got := ok(t, "purge", dsn, "--all", "--yes").stdout; got != want {
				t.Errorf("purge --all --yes printed %q, want %q", got, want)
			}
			if n := len(lsJSON(t, dsn)); n != 0 {
				t.Errorf("after purge --all, %d entries", n)
			}
		})
	}
}

// TestExportImport moves a cache from sqlite into every other store and
// back out, and compares every entry and the streamed body byte for byte.
func TestExportImport(t *testing.T) {
	o := newOrigin(t)
	src := localStores(t)["sqlite"]
	populate(t, o, src)
	dir := t.TempDir()
	file := filepath.Join(dir, "cache.jsonl")
	ex := ok(t, "export", src, "-o", file)
	if !strings.Contains(ex.stderr, "exported 7 records (6 responses, 1 streamed; 1 variant index)") {
		t.Errorf("export printed %q", ex.stderr)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	if !strings.HasPrefix(first, `{"hoard_export":1,`) {
		t.Errorf("first line %q, want the versioned header", first)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %v, want 0600", fi.Mode().Perm())
	}
	for line := range strings.Lines(string(data)) {
		if len(line) > 70<<10 {
			t.Errorf("an export line of %d bytes: a streamed body is not chunked", len(line))
		}
	}
	want := lsJSON(t, src)
	for _, kind := range []string{"file", "redis", "mongodb", "postgres", "dynamodb"} {
		t.Run(kind, func(t *testing.T) {
			var dst string
			if kind == "file" {
				dst = "file://" + filepath.Join(t.TempDir(), "files")
			} else {
				dst = serviceStore(t, kind)
			}
			im := ok(t, "import", dst, file)
			if !strings.Contains(im.stderr, "imported 7 records") {
				t.Errorf("import printed %q", im.stderr)
			}
			got := lsJSON(t, dst)
			if len(got) != len(want) {
				t.Fatalf("%d entries after import, want %d", len(got), len(want))
			}
			for i := range want {
				g, w := got[i], want[i]
				if g.Key != w.Key || g.URL != w.URL || g.Status != w.Status || g.Size != w.Size || g.Vary != w.Vary ||
					!g.Created.Equal(w.Created) || !g.Expires.Equal(w.Expires) || g.Fresh != w.Fresh {
					t.Errorf("entry %d after import %+v, want %+v", i, g, w)
				}
			}
			out := filepath.Join(t.TempDir(), "big")
			ok(t, "show", dst, o.URL+"/big", "--body", "-o", out)
			if b, err := os.ReadFile(out); err != nil || !bytes.Equal(b, o.big) {
				t.Errorf("/big after import: %d bytes (%v), want the %d bytes byte for byte", len(b), err, len(o.big))
			}
			// The copy is a working cache: a request through it is a hit.
			before := o.hits.Load()
			g := ok(t, "get", o.URL+"/v", "--dsn", dst, "-H", "Accept-Language: fr", "-i")
			if !strings.Contains(g.stdout, "Cache-Status: hoard; hit") || !strings.HasSuffix(g.stdout, "hello in fr") || o.hits.Load() != before {
				t.Errorf("get /v (fr) through the imported cache:\n%s\n(origin requests %d); want a hit", g.stdout, o.hits.Load()-before)
			}
			// And exports again to the same records.
			again := ok(t, "export", dst).stdout
			if n := strings.Count(again, `"key":`); n != 7 {
				t.Errorf("re-export has %d records, want 7", n)
			}
		})
	}
	// A cut file is refused, and stores nothing of its last record.
	cut := filepath.Join(dir, "cut.jsonl")
	os.WriteFile(cut, data[:len(data)*2/3], 0o600)
	dst := "sqlite://" + filepath.Join(dir, "cut.db")
	if out := hoard(t, nil, nil, "import", dst, cut); out.code != exitError {
		t.Errorf("import of a cut file: exit %d %q, want an error", out.code, out.stderr)
	}
	// Standard input works.
	dst2 := "sqlite://" + filepath.Join(dir, "stdin.db")
	if out := hoard(t, bytes.NewReader(data), nil, "import", dst2, "-"); out.code != 0 {
		t.Errorf("import from standard input: exit %d %q", out.code, out.stderr)
	}
	if n := len(lsJSON(t, dst2)); n != 6 {
		t.Errorf("%d entries imported from standard input, want 6", n)
	}
}

func TestGet(t *testing.T) {
	o := newOrigin(t)
	dsn := localStores(t)["sqlite"]
	first := ok(t, "get", o.URL+"/a", "--dsn", dsn, "-i")
	if !strings.HasPrefix(first.stdout, "HTTP/1.1 200 OK\r\n") || !strings.Contains(first.stdout, "Cache-Status: hoard; fwd=miss; stored") || !strings.HasSuffix(first.stdout, "\r\n\r\npage /a") {
		t.Errorf("first get -i:\n%s", first.stdout)
	}
	second := ok(t, "get", o.URL+"/a", "--dsn", dsn)
	if second.stdout != "page /a" || !strings.Contains(second.stderr, "hoard; hit") {
		t.Errorf("second get: stdout %q stderr %q; want the body and a hit", second.stdout, second.stderr)
	}
	if o.hits.Load() != 1 {
		t.Errorf("origin requests %d, want 1", o.hits.Load())
	}
	// A stale response with a validator is revalidated.
	ok(t, "get", o.URL+"/stale", "--dsn", dsn)
	if r := ok(t, "get", o.URL+"/stale", "--dsn", dsn, "-i"); !strings.Contains(r.stdout, "fwd=stale") {
		t.Errorf("get of a stale response: %s; want a revalidation (fwd=stale)", r.stdout)
	}
	// mem:// works, for one process.
	if r := ok(t, "get", o.URL+"/a"); r.stdout != "page /a" {
		t.Errorf("get with mem://: %q", r.stdout)
	}
}

func TestProxy(t *testing.T) {
	o := newOrigin(t)
	dsn := localStores(t)["sqlite"]
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "proxy", "--open-timeout=30s", "--dsn", dsn, "--listen", "127.0.0.1:0", "--upstream", o.URL)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stderr)
	var addr string
	for sc.Scan() {
		if _, rest, found := strings.Cut(sc.Text(), "listening on http://"); found {
			addr, _, _ = strings.Cut(rest, ",")
			break
		}
	}
	if addr == "" || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("the proxy did not say where it listens (got %q)", addr)
	}
	go io.Copy(io.Discard, stderr)
	client := &http.Client{Transport: &http.Transport{}} // no proxy from the environment
	get := func(path string) (string, string) {
		t.Helper()
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.Header.Get("Cache-Status")
	}
	if b, cs := get("/a"); b != "page /a" || !strings.Contains(cs, "stored") {
		t.Errorf("first request through the proxy: %q %q", b, cs)
	}
	if b, cs := get("/a"); b != "page /a" || cs != "hoard; hit" {
		t.Errorf("second request through the proxy: %q %q; want a hit", b, cs)
	}
	// Shared-cache rules: a private response is not stored.
	get("/private")
	before := o.hits.Load()
	if _, cs := get("/private"); strings.Contains(cs, "hit") || o.hits.Load() != before+1 {
		t.Errorf("a private response through the shared proxy: %q; want it fetched again", cs)
	}
	if b, _ := get("/big"); b != string(o.big) {
		t.Errorf("/big through the proxy: %d bytes, want %d", len(b), len(o.big))
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Errorf("the proxy after SIGINT: %v, want exit 0", err)
	}
	rows := lsJSON(t, dsn)
	if got := paths(rows); strings.Join(got, ",") != "/a,/big" {
		t.Errorf("the proxy's cache holds %v, want /a and /big", got)
	}
}
