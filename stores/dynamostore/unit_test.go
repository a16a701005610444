package dynamostore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/dynamostore"
)

func TestKeyEncoding(t *testing.T) {
	tests := []struct {
		name, key, want string
	}{
		{"plain ASCII is kept", "GET https://example.com/a?b=c", "GET https://example.com/a?b=c"},
		{"Unicode is kept", "odd/日本語/ключ/🔑", "odd/日本語/ключ/🔑"},
		{"percent is escaped", "a%2Fb", "a%252Fb"},
		{"NUL is escaped", "a\x00b", "a%00b"},
		{"control characters are escaped", "n\nt\tr\r\x7f", "n%0At%09r%0D%7F"},
		{"invalid UTF-8 is escaped byte by byte", "x\xff\xfe", "x%FF%FE"},
		{"U+FFFD is kept, unlike an invalid byte", "\ufffd", "\ufffd"},
		{"C1 control is escaped", "\u0085", "%C2%85"},
		{"truncated sequence", "\xe6\x97", "%E6%97"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := dynamostore.EncodeKey(tc.key)
			if got != tc.want {
				t.Errorf("EncodeKey(%q) = %q, want %q", tc.key, got, tc.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("EncodeKey(%q) = %q is not valid UTF-8", tc.key, got)
			}
			if strings.Contains(got, "%!") {
				t.Errorf("EncodeKey(%q) = %q contains the chunk separator", tc.key, got)
			}
			back, err := dynamostore.DecodeKey(got)
			if err != nil || back != tc.key {
				t.Errorf("DecodeKey(%q) = %q, %v; want %q", got, back, err, tc.key)
			}
		})
	}
	// Every key of at most 512 bytes fits DynamoDB's 2048-byte partition
	// key with the longest prefix and a chunk suffix.
	worst := dynamostore.EncodeKey(strings.Repeat("\xff", 512))
	if n := len(worst) + dynamostore.MaxPrefixLen + 64; n > 2048 {
		t.Errorf("longest partition key is %d bytes, over 2048", n)
	}
	for _, bad := range []string{"%", "%4", "%zz", "a%4g"} {
		if _, err := dynamostore.DecodeKey(bad); err == nil {
			t.Errorf("DecodeKey(%q) succeeded, want an error", bad)
		}
	}
}

func FuzzKeyEncoding(f *testing.F) {
	for _, s := range []string{"", "a", "%", "\x00", "\xff", "日本", "%!c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		enc := dynamostore.EncodeKey(key)
		if !utf8.ValidString(enc) || strings.Contains(enc, "%!") {
			t.Fatalf("EncodeKey(%q) = %q", key, enc)
		}
		back, err := dynamostore.DecodeKey(enc)
		if err != nil || back != key {
			t.Fatalf("DecodeKey(EncodeKey(%q)) = %q, %v", key, back, err)
		}
	})
}

func TestParseDSN(t *testing.T) {
	tests := []struct {
		dsn      string
		want     dynamostore.Options
		region   string
		endpoint string
		static   bool
		err      string
	}{
		{dsn: "dynamodb://cache", want: dynamostore.Options{Table: "cache"}},
		{dsn: "dynamodb://My_Table.v1-2/", want: dynamostore.Options{Table: "My_Table.v1-2"}},
		{
			dsn:    "dynamodb://cache?region=eu-west-1&endpoint=http://127.0.0.1:8027&create_table=true&create_timeout=30s&prefix=app1/",
			want:   dynamostore.Options{Table: "cache", CreateTable: true, CreateTimeout: 30 * time.Second, Prefix: "app1/"},
			region: "eu-west-1", endpoint: "http://127.0.0.1:8027",
		},
		{dsn: "dynamodb://cache?access_key_id=a&secret_access_key=b", want: dynamostore.Options{Table: "cache"}, static: true},
		{dsn: "dynamodb://cache?access_key_id=a&secret_access_key=b&session_token=c", want: dynamostore.Options{Table: "cache"}, static: true},
		{dsn: "dynamodb://cache?create_table=false", want: dynamostore.Options{Table: "cache"}},
		{dsn: "dynamodb://cache?lazy=true", want: dynamostore.Options{Table: "cache", Lazy: true}},
		{dsn: "dynamodb://cache?lazy=later", err: "lazy"},
		{dsn: "dynamodb://cache?secret_access_key=s3cret&tabel=x", err: `"dynamodb://cache?secret_access_key=xxxxx&tabel=x"`},
		{dsn: "dynamodb://cache?tabel=x", err: `unknown parameter "tabel" (supported: access_key_id,`},
		{dsn: "dynamodb://cache?region=a&region=b", err: "given 2 times"},
		{dsn: "dynamodb://cache?create_table=yes", err: "create_table"},
		{dsn: "dynamodb://cache?create_timeout=soon", err: "create_timeout"},
		{dsn: "dynamodb://cache?create_timeout=-1s", err: "create_timeout"},
		{dsn: "dynamodb://cache?endpoint=127.0.0.1:8027", err: "endpoint"},
		{dsn: "dynamodb://cache?access_key_id=a", err: "go together"},
		{dsn: "dynamodb://cache?session_token=c", err: "session_token"},
		{dsn: "dynamodb://", err: "no table name"},
		{dsn: "dynamodb://cache/sub", err: "path"},
		{dsn: "dynamodb://cache:8000", err: "port"},
		{dsn: "dynamodb://key:secret@cache", err: "user information"},
		{dsn: "dynamodb://cache#x", err: "fragment"},
		{dsn: "dynamodb:cache", err: "want dynamodb://"},
	}
	for _, tc := range tests {
		t.Run(tc.dsn, func(t *testing.T) {
			opts, region, endpoint, static, err := dynamostore.ParseDSN(tc.dsn)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseDSN(%q) error = %v, want one mentioning %q", tc.dsn, err, tc.err)
				}
				// core.OpenStore fails the same way, as a configuration
				// error, before any request.
				if _, oerr := core.OpenStore(context.Background(), tc.dsn); oerr == nil || oerr.Error() != err.Error() || !errors.Is(oerr, core.ErrInvalidConfig) {
					t.Errorf("OpenStore(%q) = %v, want ParseDSN's error wrapping core.ErrInvalidConfig", tc.dsn, oerr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDSN(%q): %v", tc.dsn, err)
			}
			if opts != tc.want || region != tc.region || endpoint != tc.endpoint || static != tc.static {
				t.Errorf("ParseDSN(%q) = %+v, %q, %q, %v; want %+v, %q, %q, %v",
					tc.dsn, opts, region, endpoint, static, tc.want, tc.region, tc.endpoint, tc.static)
			}
		})
	}
}

func TestDSNSecretRedacted(t *testing.T) {
	_, err := core.OpenStore(context.Background(), "dynamodb://cache?access_key_id=AKIA&secret_access_key=s3cr3t&bogus=1")
	if err == nil {
		t.Fatal("OpenStore accepted an unknown parameter")
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error %q shows the secret key", err)
	}
}

func TestNewRejects(t *testing.T) {
	client := newClient("http://127.0.0.1:1")
	tests := []struct {
		name   string
		client dynamostore.API
		opts   *dynamostore.Options
		err    string
	}{
		{"nil client", nil, &dynamostore.Options{Table: "cache"}, "nil client"},
		{"nil options", client, nil, "Table is required"},
		{"empty table", client, &dynamostore.Options{}, "3 to 255"},
		{"short table", client, &dynamostore.Options{Table: "ab"}, "3 to 255"},
		{"bad character", client, &dynamostore.Options{Table: "a/b/c"}, "not allowed"},
		{"long prefix", client, &dynamostore.Options{Table: "cache", Prefix: strings.Repeat("p", dynamostore.MaxPrefixLen+1)}, "Prefix"},
		{"invalid UTF-8 prefix", client, &dynamostore.Options{Table: "cache", Prefix: "\xff"}, "Prefix"},
		{"negative timeout", client, &dynamostore.Options{Table: "cache", CreateTimeout: -time.Second}, "CreateTimeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := dynamostore.New(context.Background(), tc.client, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("New = %v, %v; want an error mentioning %q", st, err, tc.err)
			}
			if !errors.Is(err, core.ErrInvalidConfig) {
				t.Errorf("New = %v, want an error wrapping core.ErrInvalidConfig", err)
			}
		})
	}
}

// With Lazy, New performs no I/O: it succeeds with no server.
func TestNewLazyIsOffline(t *testing.T) {
	st, err := dynamostore.New(context.Background(), newClient("http://127.0.0.1:1"), &dynamostore.Options{Table: "cache", Lazy: true, CreateTable: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(context.Background(), "k"); err != dynamostore.ErrClosed {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}
