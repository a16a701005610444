package redisstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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
		{dsn: "redis://127.0.0.1:6379/0", addr: "127.0.0.1:6379", prefix: "hoard:", scan: 1000},
		{dsn: "redis://127.0.0.1", addr: "127.0.0.1:6379", prefix: "hoard:", scan: 1000},
		{dsn: "redis://cache:6380/3?prefix=app:v1:", addr: "cache:6380", db: 3, prefix: "app:v1:", scan: 1000},
		{dsn: "redis://u:p%40ss@cache:6379/2?prefix=%7Bhoard%7D:&scan_count=50&read_timeout=2s", addr: "cache:6379", user: "u", pass: "p@ss", db: 2, prefix: "{hoard}:", scan: 50, readTimeout: 2 * time.Second},
		{dsn: "rediss://cache:6380/0?prefix=x", addr: "cache:6380", prefix: "x", scan: 1000, tls: true},
		{dsn: "REDIS://cache/1", addr: "cache:6379", db: 1, prefix: "hoard:", scan: 1000},
	}
	for _, tc := range tests {
		t.Run(tc.dsn, func(t *testing.T) {
			st, err := core.OpenStore(context.Background(), tc.dsn)
			if err != nil {
				t.Fatal(err)
			}
			rs := st.(*redisstore.Store)
			defer rs.Close()
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
			if rs.KeyPrefix() != tc.prefix || rs.ScanCount() != tc.scan {
				t.Errorf("prefix %q scan %d, want %q %d", rs.KeyPrefix(), rs.ScanCount(), tc.prefix, tc.scan)
			}
		})
	}
}

func TestOpenStoreDSNErrors(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"redis://h/0?bogus=1", "bogus"},
		{"redis://h/0?prefix=", "prefix is empty"},
		{"redis://h/0?prefix=a&prefix=b", "prefix given 2 times"},
		{"redis://h/0?scan_count=0", "scan_count"},
		{"redis://h/0?scan_count=x", "scan_count"},
		{"redis://h/0#frag", "fragment"},
		{"redis://h/notadb", "notadb"},
		{"redis://h/0?pool_size=many", "pool_size"},
		{"redis://u:secret@h/0?bogus=1", "bogus"},
	}
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
			if strings.Contains(msg, "secret") {
				t.Errorf("error %q shows the password", msg)
			}
		})
	}
}

// TestOpenStoreOwnsClient: a store opened from a DSN closes its client.
func TestOpenStoreOwnsClient(t *testing.T) {
	st, err := core.OpenStore(context.Background(), "redis://127.0.0.1:1/0")
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
