package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/redisstore"
)

func TestOpenStoreDSN(t *testing.T) {
	tests := []struct {
		dsn                      string
		addr, user, pass, prefix string
		db, scan                 int
		tls                      bool
		readTimeout              time.Duration
	}{
		// lazy=true: these servers do not exist, and OpenStore would
		// check them.
		{dsn: "redis://127.0.0.1:6379/0?lazy=true", addr: "127.0.0.1:6379", prefix: "hoard:", scan: 1000},
		{dsn: "redis://127.0.0.1?lazy=1", addr: "127.0.0.1:6379", prefix: "hoard:", scan: 1000},
		{dsn: "redis://cache:6380/3?prefix=app:v1:&lazy=true", addr: "cache:6380", db: 3, prefix: "app:v1:", scan: 1000},
		{dsn: "redis://u:p%40ss@cache:6379/2?prefix=%7Bhoard%7D:&scan_count=50&read_timeout=2s&lazy=true", addr: "cache:6379", user: "u", pass: "p@ss", db: 2, prefix: "{hoard}:", scan: 50, readTimeout: 2 * time.Second},
		{dsn: "rediss://cache:6380/0?prefix=x&lazy=true", addr: "cache:6380", prefix: "x", scan: 1000, tls: true},
		{dsn: "REDIS://cache/1?lazy=true", addr: "cache:6379", db: 1, prefix: "hoard:", scan: 1000},
	}
	for _, tc := range tests {
		t.Run(tc.dsn, func(t *testing.T) {
			rs := openDSN(t, tc.dsn, tc.prefix, tc.scan)
			o := rs.Client().(*redis.Client).Options()
			if o.Addr != tc.addr || o.Username != tc.user || o.Password != tc.pass || o.DB != tc.db {
				t.Errorf("client addr %q user %q pass %q db %d, want %q %q %q %d", o.Addr, o.Username, o.Password, o.DB, tc.addr, tc.user, tc.pass, tc.db)
			}
			if (o.TLSConfig != nil) != tc.tls {
				t.Errorf("TLS %v, want %v", o.TLSConfig != nil, tc.tls)
			}
			if !o.ContextTimeoutEnabled {
				t.Error("ContextTimeoutEnabled is off: WithStoreTimeout could not cut off a slow server")
			}
			if tc.readTimeout != 0 && o.ReadTimeout != tc.readTimeout {
				t.Errorf("ReadTimeout %v, want %v", o.ReadTimeout, tc.readTimeout)
			}
		})
	}
}

// openDSN opens dsn, closed when t ends, and checks the store's prefix and
// scan count.
func openDSN(t *testing.T, dsn, prefix string, scan int) *redisstore.Store {
	t.Helper()
	st, err := core.OpenStore(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	rs := st.(*redisstore.Store)
	t.Cleanup(func() { rs.Close() })
	if rs.KeyPrefix() != prefix || rs.ScanCount() != scan {
		t.Errorf("prefix %q scan %d, want %q %d", rs.KeyPrefix(), rs.ScanCount(), prefix, scan)
	}
	return rs
}

func TestOpenStoreDSNErrors(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"redis://h/0?bogus=1", `unknown parameter "bogus" (supported: lazy, prefix, publish, scan_count, client_name,`},
		{"redis://h/0?bogus=1", `"redis://h/0?bogus=1"`},
		{"redis://h/0?prefix=", "prefix is empty"},
		{"redis://h/0?prefix=a&prefix=b", "prefix given 2 times"},
		{"redis://h/0?pool_size=1&pool_size=2", "pool_size given 2 times"},
		{"redis://h/0?scan_count=0", "scan_count"},
		{"redis://h/0?scan_count=x", "scan_count"},
		{"redis://h/0?lazy=maybe", "lazy"},
		{"redis://h/0?publish=maybe", "publish"},
		{"redis://h/0#frag", "fragment"},
		{"redis://h/notadb", "notadb"},
		{"redis://h/0?pool_size=many", "pool_size"},
		{"redis://u:secret@h/0?bogus=1", "bogus"},
		{"redis:127.0.0.1:6379", "two slashes"},
		{"redis://?bogus=1", `"redis://?bogus=1"`},
	}
	checkDSNErrors(t, tests)
}

// TestOpenStoreDSNPublish: publish=true sets Options.Publish.
func TestOpenStoreDSNPublish(t *testing.T) {
	for _, tc := range []struct {
		dsn  string
		want bool
	}{
		{"redis://127.0.0.1:1/0?lazy=true", false},
		{"redis://127.0.0.1:1/0?lazy=true&publish=true", true},
		{"redis://127.0.0.1:1/0?lazy=true&publish=false", false},
	} {
		st, err := core.OpenStore(context.Background(), tc.dsn)
		if err != nil {
			t.Fatalf("%s: %v", tc.dsn, err)
		}
		if got := st.(*redisstore.Store).Publishes(); got != tc.want {
			t.Errorf("%s: Publishes() = %v, want %v", tc.dsn, got, tc.want)
		}
		st.(*redisstore.Store).Close()
	}
}

// TestOpenStoreOwnsClient: a store opened from a DSN closes its client.
func TestOpenStoreOwnsClient(t *testing.T) {
	st, err := core.OpenStore(context.Background(), "redis://127.0.0.1:1/0?lazy=true")
	if err != nil {
		t.Fatal(err)
	}
	rs := st.(*redisstore.Store)
	if err := rs.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rs.Client().Ping(context.Background()).Err(); err != redis.ErrClosed {
		t.Errorf("Ping after Close = %v, want redis.ErrClosed", err)
	}
}

// TestClientParamsAreGoRedis: every parameter the opener passes to go-redis
// is one redis.ParseURL accepts.
func TestClientParamsAreGoRedis(t *testing.T) {
	for _, name := range redisstore.ClientParams() {
		v := "1"
		if name == "skip_verify" || name == "pool_fifo" {
			v = "true"
		}
		if _, err := redis.ParseURL("rediss://h/0?" + name + "=" + v); err != nil {
			t.Errorf("go-redis refuses %s=%s: %v", name, v, err)
		}
	}
}

// TestOpenChecksServer: OpenStore and New check the server, and their
// errors say what is wrong (with the address) and of which kind; lazy=true
// opens without a server.
func TestOpenChecksServer(t *testing.T) {
	closed := conformance.ClosedAddr(t)
	hanging := conformance.HangingServer(t)
	live := conformance.RequireService(t, envURL)
	lu, err := url.Parse(live)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dsn     string
		timeout time.Duration // 0: the default bound
		class   error
		want    []string
	}{
		{"nothing listens", "redis://" + closed + "/0", 0, core.ErrUnavailable, []string{"redisstore: ", closed, "refused"}},
		{"server never answers", "redis://" + hanging + "/0", 300 * time.Millisecond, core.ErrUnavailable, []string{hanging, "deadline exceeded"}},
		{"database it does not have", "redis://" + lu.Host + "/999", 0, core.ErrInvalidConfig, []string{lu.Host, "database 999", "DB index is out of range"}},
		{"TLS against a plain server", "rediss://" + lu.Host + "/0?skip_verify=true&dial_timeout=1s", 0, core.ErrUnavailable, []string{lu.Host, "TLS", "redis://"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			start := time.Now()
			st, err := core.OpenStore(ctx, tc.dsn)
			if err == nil {
				st.(*redisstore.Store).Close()
				t.Fatalf("OpenStore(%q) succeeded, want an error", tc.dsn)
			}
			if d := time.Since(start); d > core.DefaultOpenTimeout+2*time.Second {
				t.Errorf("OpenStore took %v, want at most about %v", d, core.DefaultOpenTimeout)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want it to contain %q", err, w)
				}
			}
			switch {
			case tc.class != nil && !errors.Is(err, tc.class):
				t.Errorf("error %q, want one wrapping %v", err, tc.class)
			case !errors.Is(err, core.ErrInvalidConfig) && !errors.Is(err, core.ErrUnavailable):
				t.Errorf("error %q wraps neither core.ErrInvalidConfig nor core.ErrUnavailable", err)
			}
		})
	}
	t.Run("lazy", func(t *testing.T) {
		st, err := core.OpenStore(t.Context(), "redis://"+closed+"/0?lazy=true")
		if err != nil {
			t.Fatalf("OpenStore with lazy=true: %v", err)
		}
		defer st.(*redisstore.Store).Close()
		if _, err := st.Get(t.Context(), "k"); err == nil || errors.Is(err, core.ErrNotFound) {
			t.Errorf("Get on a lazy store without a server = %v, want the connection error", err)
		}
	})
	t.Run("New", func(t *testing.T) {
		client := redis.NewClient(&redis.Options{Addr: closed})
		defer client.Close()
		if _, err := redisstore.New(t.Context(), client, nil); !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), closed) {
			t.Errorf("New over an unreachable server = %v, want ErrUnavailable naming %s", err, closed)
		}
		if _, err := redisstore.New(t.Context(), client, &redisstore.Options{Lazy: true}); err != nil {
			t.Errorf("New with Lazy over an unreachable server = %v, want nil", err)
		}
	})
}

func TestOpenStoreClusterDSN(t *testing.T) {
	tests := []struct {
		dsn           string
		addrs         []string
		user, pass    string
		prefix        string
		scan          int
		tls, readOnly bool
		readTimeout   time.Duration
		maxRedirects  int
	}{
		// lazy=true: these servers do not exist, and OpenStore would
		// check them.
		{dsn: "redis+cluster://10.0.0.1:7000?lazy=true", addrs: []string{"10.0.0.1:7000"}, prefix: "hoard:", scan: 1000},
		{dsn: "redis+cluster://10.0.0.1?lazy=1", addrs: []string{"10.0.0.1:6379"}, prefix: "hoard:", scan: 1000},
		{dsn: "redis+cluster://10.0.0.1:7000/?addr=10.0.0.2:7000&addr=10.0.0.3:7000&lazy=true&prefix={app}:", addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"}, prefix: "{app}:", scan: 1000},
		{dsn: "redis+cluster://u:p%40ss@a:7000/0?addr=b:7001&scan_count=50&read_timeout=2s&read_only=true&max_redirects=5&lazy=true", addrs: []string{"a:7000", "b:7001"}, user: "u", pass: "p@ss", prefix: "hoard:", scan: 50, readTimeout: 2 * time.Second, readOnly: true, maxRedirects: 5},
		{dsn: "rediss+cluster://a:7000?addr=b:7000&lazy=true", addrs: []string{"a:7000", "b:7000"}, prefix: "hoard:", scan: 1000, tls: true},
		{dsn: "REDIS+CLUSTER://a:7000?lazy=true", addrs: []string{"a:7000"}, prefix: "hoard:", scan: 1000},
	}
	for _, tc := range tests {
		t.Run(tc.dsn, func(t *testing.T) {
			rs := openDSN(t, tc.dsn, tc.prefix, tc.scan)
			o := rs.Client().(*redis.ClusterClient).Options()
			if strings.Join(o.Addrs, " ") != strings.Join(tc.addrs, " ") || o.Username != tc.user || o.Password != tc.pass {
				t.Errorf("client addrs %q user %q pass %q, want %q %q %q", o.Addrs, o.Username, o.Password, tc.addrs, tc.user, tc.pass)
			}
			if (o.TLSConfig != nil) != tc.tls {
				t.Errorf("TLS %v, want %v", o.TLSConfig != nil, tc.tls)
			}
			if !o.ContextTimeoutEnabled {
				t.Error("ContextTimeoutEnabled is off: WithStoreTimeout could not cut off a slow node")
			}
			if tc.readTimeout != 0 && o.ReadTimeout != tc.readTimeout {
				t.Errorf("ReadTimeout %v, want %v", o.ReadTimeout, tc.readTimeout)
			}
			if o.ReadOnly != tc.readOnly || (tc.maxRedirects != 0 && o.MaxRedirects != tc.maxRedirects) {
				t.Errorf("ReadOnly %v MaxRedirects %d, want %v %d", o.ReadOnly, o.MaxRedirects, tc.readOnly, tc.maxRedirects)
			}
		})
	}
}

func TestOpenStoreClusterDSNErrors(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"redis+cluster://h:7000?bogus=1", `unknown parameter "bogus" (supported: lazy, prefix, publish, scan_count, client_name,`},
		{"redis+cluster://h:7000?db=1", `unknown parameter "db"`},
		{"redis+cluster://h:7000/3", "only database 0"},
		{"redis+cluster://h:7000?prefix=a&prefix=b", "prefix given 2 times"},
		{"redis+cluster://h:7000?addr=nohostport", "addr"},
		{"redis+cluster://h:7000?scan_count=0", "scan_count"},
		{"redis+cluster://h:7000?pool_size=many", "pool_size"},
		{"redis+cluster://h:7000#frag", "fragment"},
		{"redis+cluster:h:7000", "two slashes"},
		{"redis+cluster:///?addr=h:7000", "no host"},
		{"redis+cluster://u:secret@h:7000?bogus=1", "bogus"},
	}
	checkDSNErrors(t, tests)
}

// TestClusterParamsAreGoRedis: every parameter the cluster opener passes to
// go-redis is one redis.ParseClusterURL accepts.
func TestClusterParamsAreGoRedis(t *testing.T) {
	for _, name := range redisstore.ClusterParams() {
		v := "1"
		switch name {
		case "pool_fifo", "read_only", "route_by_latency", "route_randomly":
			v = "true"
		}
		if _, err := redis.ParseClusterURL("redis://h:7000?" + name + "=" + v); err != nil {
			t.Errorf("go-redis refuses %s=%s: %v", name, v, err)
		}
	}
}

// checkDSNErrors opens each DSN and checks that it fails with an error that
// starts "redisstore: ", contains want, wraps core.ErrInvalidConfig and
// never shows the password "secret".
func checkDSNErrors(t *testing.T, tests []struct{ dsn, want string }) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.dsn, func(t *testing.T) {
			st, err := core.OpenStore(context.Background(), tc.dsn)
			if err == nil {
				st.(*redisstore.Store).Close()
				t.Fatalf("OpenStore(%q) succeeded", tc.dsn)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "redisstore: ") || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want the prefix redisstore: and %q", msg, tc.want)
			}
			if !errors.Is(err, core.ErrInvalidConfig) {
				t.Errorf("error %q, want one wrapping core.ErrInvalidConfig", msg)
			}
			if strings.Contains(msg, "secret") {
				t.Errorf("error %q shows the password", msg)
			}
		})
	}
}

// TestGoRedisLogsAtDebug: go-redis's own log lines go to slog.Default at
// debug level (silent by default), not to its standard-library logger.
func TestGoRedisLogsAtDebug(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	t.Cleanup(func() { slog.SetDefault(old) })
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	redisstore.GoRedisLogger().Printf(context.Background(), "dial %s: refused", "127.0.0.1:1")
	if buf.Len() != 0 {
		t.Errorf("at info level go-redis's line was logged: %q", buf.String())
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	redisstore.GoRedisLogger().Printf(context.Background(), "dial %s: refused", "127.0.0.1:1")
	if s := buf.String(); !strings.Contains(s, "level=DEBUG") || !strings.Contains(s, "dial 127.0.0.1:1: refused") {
		t.Errorf("at debug level: %q, want a DEBUG line with go-redis's message", s)
	}
}
