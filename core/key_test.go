package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// mapStore is a minimal Store for internal tests: a mutex-guarded map that
// ignores Meta.
type mapStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newMapStore() *mapStore { return &mapStore{m: map[string][]byte{}} }

func (s *mapStore) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return nil, ErrNotFound
	}
	return v, nil
}

func (s *mapStore) Set(ctx context.Context, key string, value []byte, _ Meta) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = append([]byte(nil), value...)
	return nil
}

func (s *mapStore) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

var _ Store = (*mapStore)(nil)

func newKeyTestCache(t *testing.T, opts ...Option) *Cache {
	t.Helper()
	c, err := New(newMapStore(), opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("url.Parse(%q): %v", raw, err)
	}
	return u
}

func mustRequest(t *testing.T, method, raw string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, raw, nil)
	if err != nil {
		t.Fatalf("http.NewRequest(%q, %q): %v", method, raw, err)
	}
	return req
}

// manyParams is a query of 20 parameters in reverse order, more than
// appendQuery's on-stack array holds.
func manyParams() (reversed, sorted string) {
	var r, s []string
	for i := 19; i >= 0; i-- {
		r = append(r, "p"+string(rune('a'+i))+"=1")
	}
	for i := 0; i < 20; i++ {
		s = append(s, "p"+string(rune('a'+i))+"=1")
	}
	return strings.Join(r, "&"), strings.Join(s, "&")
}

func TestKeyURL(t *testing.T) {
	reversed, sorted := manyParams()
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{name: "already normal", raw: "http://example.com/a/b", want: "http://example.com/a/b"},
		{name: "scheme lower-cased", raw: "HTTP://example.com/", want: "http://example.com/"},
		{name: "host lower-cased", raw: "http://Example.COM/", want: "http://example.com/"},
		{name: "path case kept", raw: "http://example.com/Path/To", want: "http://example.com/Path/To"},
		{name: "escaped path kept", raw: "http://example.com/a%2Fb/c%20d", want: "http://example.com/a%2Fb/c%20d"},
		{name: "http default port dropped", raw: "http://example.com:80/x", want: "http://example.com/x"},
		{name: "https default port dropped", raw: "https://example.com:443/x", want: "https://example.com/x"},
		{name: "upper-case scheme default port dropped", raw: "HTTPS://example.com:443/x", want: "https://example.com/x"},
		{name: "443 kept for http", raw: "http://example.com:443/x", want: "http://example.com:443/x"},
		{name: "80 kept for https", raw: "https://example.com:80/x", want: "https://example.com:80/x"},
		{name: "non-default port kept", raw: "http://example.com:8080/x", want: "http://example.com:8080/x"},
		{name: "empty port dropped", raw: "http://example.com:/x", want: "http://example.com/x"},
		{name: "IPv6 default port dropped", raw: "http://[::1]:80/", want: "http://[::1]/"},
		{name: "IPv6 without port", raw: "http://[::1]/", want: "http://[::1]/"},
		{name: "IPv6 non-default port kept", raw: "http://[::1]:8080/", want: "http://[::1]:8080/"},
		{name: "IPv6 lower-cased", raw: "https://[FE80::AB]:443/", want: "https://[fe80::ab]/"},
		{name: "userinfo dropped", raw: "http://user:secret@example.com/", want: "http://example.com/"},
		{name: "empty path is /", raw: "http://example.com", want: "http://example.com/"},
		{name: "empty path with query", raw: "http://example.com?a=1", want: "http://example.com/?a=1"},
		{name: "empty query dropped", raw: "http://example.com/?", want: "http://example.com/"},
		{name: "query sorted", raw: "http://example.com/?b=2&a=1&c=3", want: "http://example.com/?a=1&b=2&c=3"},
		{name: "sorted query kept", raw: "http://example.com/?a=1&b=2", want: "http://example.com/?a=1&b=2"},
		{name: "empty items removed", raw: "http://example.com/?a=1&&b=2&", want: "http://example.com/?a=1&b=2"},
		{name: "many params sorted", raw: "http://example.com/?" + reversed, want: "http://example.com/?" + sorted},
		{name: "fragment dropped", raw: "http://example.com/p#frag", want: "http://example.com/p"},
		{name: "fragment dropped after query", raw: "http://example.com/p?b=1&a=2#frag", want: "http://example.com/p?a=2&b=1"},
		{name: "api_key removed", raw: "http://example.com/?api_key=s&a=1", want: "http://example.com/?a=1"},
		{name: "access_token removed", raw: "http://example.com/?a=1&access_token=s", want: "http://example.com/?a=1"},
		{name: "apikey removed", raw: "http://example.com/?apikey=s&z=9&a=1", want: "http://example.com/?a=1&z=9"},
		{name: "ignored without value removed", raw: "http://example.com/?api_key&a=1", want: "http://example.com/?a=1"},
		{name: "only ignored params leaves no query", raw: "http://example.com/p?api_key=s&apikey=t", want: "http://example.com/p"},
		{name: "percent-encoded ignored name removed", raw: "http://example.com/?api%5Fkey=s&a=1", want: "http://example.com/?a=1"},
		{name: "lower-case percent-encoded ignored name removed", raw: "http://example.com/?access%5ftoken=s&a=1", want: "http://example.com/?a=1"},
		{name: "fully percent-encoded ignored name removed", raw: "http://example.com/?%61%70%69%6B%65%79=s&a=1", want: "http://example.com/?a=1"},
		{name: "ignored names match exactly", raw: "http://example.com/?API_KEY=s", want: "http://example.com/?API_KEY=s"},
		{name: "ignored name as value kept", raw: "http://example.com/?x=api_key", want: "http://example.com/?x=api_key"},
		{name: "blank values kept", raw: "http://example.com/?b&a=", want: "http://example.com/?a=&b"},
		{name: "blank value differs from absent", raw: "http://example.com/?a=", want: "http://example.com/?a="},
		{name: "repeated params keep their order", raw: "http://example.com/?a=2&b=0&a=1", want: "http://example.com/?a=2&a=1&b=0"},
		{name: "repeated params already in name order kept", raw: "http://example.com/?a=2&a=1&b=0", want: "http://example.com/?a=2&a=1&b=0"},
		{name: "repeated params sorted stably among others", raw: "http://example.com/?c=1&a=3&b=0&a=1&a=2", want: "http://example.com/?a=3&a=1&a=2&b=0&c=1"},
		{name: "sorted by name, not by item", raw: "http://example.com/?a1=2&a=1", want: "http://example.com/?a=1&a1=2"},
		{name: "trailing separator dropped", raw: "http://example.com/?a=1&", want: "http://example.com/?a=1"},
		{name: "identical repeated params kept", raw: "http://example.com/?a=1&a=1", want: "http://example.com/?a=1&a=1"},
	}
	c := newKeyTestCache(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.keyURL(mustURL(t, tt.raw)); got != tt.want {
				t.Errorf("keyURL(%q): got %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}

func TestKeyURLCustomIgnored(t *testing.T) {
	tests := []struct {
		name    string
		ignored []string
		raw     string
		want    string
	}{
		{name: "none ignored keeps credentials", ignored: nil, raw: "http://example.com/?api_key=s", want: "http://example.com/?api_key=s"},
		{name: "custom name removed", ignored: []string{"session"}, raw: "http://example.com/?session=1&a=1", want: "http://example.com/?a=1"},
		{name: "defaults replaced", ignored: []string{"session"}, raw: "http://example.com/?api_key=s", want: "http://example.com/?api_key=s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newKeyTestCache(t, WithIgnoredParameters(tt.ignored...))
			if got := c.keyURL(mustURL(t, tt.raw)); got != tt.want {
				t.Errorf("keyURL(%q) ignoring %q: got %q, want %q", tt.raw, tt.ignored, got, tt.want)
			}
		})
	}
}

func TestStoredURL(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{name: "no ignored params", raw: "HTTP://Example.com:80/p?b=2&a=1#f", want: "http://example.com/p?a=1&b=2"},
		{name: "api_key redacted", raw: "http://example.com/?api_key=secret&b=1", want: "http://example.com/?api_key=REDACTED&b=1"},
		{name: "redacted and sorted", raw: "http://example.com/?b=1&access_token=t", want: "http://example.com/?access_token=REDACTED&b=1"},
		{name: "every default redacted", raw: "http://example.com/?apikey=1&api_key=2&access_token=3",
			want: "http://example.com/?access_token=REDACTED&api_key=REDACTED&apikey=REDACTED"},
		{name: "ignored without value redacted", raw: "http://example.com/?api_key", want: "http://example.com/?api_key=REDACTED"},
		{name: "percent-encoded name redacted", raw: "http://example.com/?api%5Fkey=secret", want: "http://example.com/?api%5Fkey=REDACTED"},
		{name: "only ignored param", raw: "http://example.com/p?api_key=secret", want: "http://example.com/p?api_key=REDACTED"},
		{name: "userinfo dropped", raw: "http://user:secret@example.com/", want: "http://example.com/"},
	}
	c := newKeyTestCache(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.storedURL(mustURL(t, tt.raw))
			if got != tt.want {
				t.Errorf("storedURL(%q): got %q, want %q", tt.raw, got, tt.want)
			}
			if strings.Contains(got, "secret") {
				t.Errorf("storedURL(%q): got %q, which contains the secret", tt.raw, got)
			}
		})
	}
}

func TestPrimaryKeyFor(t *testing.T) {
	type keyInput struct {
		method string
		url    string
		digest string
	}
	tests := []struct {
		name string
		a, b keyInput
		same bool
	}{
		{name: "identical", a: keyInput{"GET", "http://example.com/a", ""}, b: keyInput{"GET", "http://example.com/a", ""}, same: true},
		{name: "method differs", a: keyInput{"GET", "http://example.com/a", ""}, b: keyInput{"HEAD", "http://example.com/a", ""}, same: false},
		{name: "POST and PUT differ", a: keyInput{"POST", "http://example.com/a", "d"}, b: keyInput{"PUT", "http://example.com/a", "d"}, same: false},
		{name: "body digest differs", a: keyInput{"POST", "http://example.com/a", "d1"}, b: keyInput{"POST", "http://example.com/a", "d2"}, same: false},
		{name: "body digest vs none", a: keyInput{"POST", "http://example.com/a", ""}, b: keyInput{"POST", "http://example.com/a", "d"}, same: false},
		{name: "same URL written differently", a: keyInput{"GET", "HTTP://Example.COM:80?b=2&a=1#top", ""}, b: keyInput{"GET", "http://example.com/?a=1&b=2", ""}, same: true},
		{name: "ignored param does not change key", a: keyInput{"GET", "http://example.com/?a=1&api_key=s1", ""}, b: keyInput{"GET", "http://example.com/?a=1&api_key=s2", ""}, same: true},
		{name: "ignored param vs none", a: keyInput{"GET", "http://example.com/?a=1&api_key=s1", ""}, b: keyInput{"GET", "http://example.com/?a=1", ""}, same: true},
		{name: "https default port", a: keyInput{"GET", "https://example.com:443/", ""}, b: keyInput{"GET", "https://example.com/", ""}, same: true},
		{name: "scheme differs", a: keyInput{"GET", "http://example.com/", ""}, b: keyInput{"GET", "https://example.com/", ""}, same: false},
		{name: "port differs", a: keyInput{"GET", "http://example.com/", ""}, b: keyInput{"GET", "http://example.com:8080/", ""}, same: false},
		{name: "path differs", a: keyInput{"GET", "http://example.com/a", ""}, b: keyInput{"GET", "http://example.com/b", ""}, same: false},
		{name: "path case differs", a: keyInput{"GET", "http://example.com/a", ""}, b: keyInput{"GET", "http://example.com/A", ""}, same: false},
		{name: "query value differs", a: keyInput{"GET", "http://example.com/?a=1", ""}, b: keyInput{"GET", "http://example.com/?a=2", ""}, same: false},
		{name: "blank value vs absent", a: keyInput{"GET", "http://example.com/?a=", ""}, b: keyInput{"GET", "http://example.com/", ""}, same: false},
		{name: "blank value vs bare name", a: keyInput{"GET", "http://example.com/?a=", ""}, b: keyInput{"GET", "http://example.com/?a", ""}, same: false},
		{name: "repeated param vs single", a: keyInput{"GET", "http://example.com/?a=1&a=1", ""}, b: keyInput{"GET", "http://example.com/?a=1", ""}, same: false},
		{name: "repeated param value order matters", a: keyInput{"GET", "http://example.com/?a=1&a=2", ""}, b: keyInput{"GET", "http://example.com/?a=2&a=1", ""}, same: false},
		{name: "repeated param among others", a: keyInput{"GET", "http://example.com/?b=0&a=1&a=2", ""}, b: keyInput{"GET", "http://example.com/?a=1&b=0&a=2", ""}, same: true},
	}
	c := newKeyTestCache(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka := c.primaryKeyFor(mustRequest(t, tt.a.method, tt.a.url), tt.a.method, tt.a.digest)
			kb := c.primaryKeyFor(mustRequest(t, tt.b.method, tt.b.url), tt.b.method, tt.b.digest)
			if got := ka == kb; got != tt.same {
				t.Errorf("primaryKeyFor(%v) == primaryKeyFor(%v): got %v (%s, %s), want %v", tt.a, tt.b, got, ka, kb, tt.same)
			}
		})
	}
}

func checkKeyFormat(t *testing.T, what, k string) {
	t.Helper()
	if len(k) != 35 {
		t.Errorf("%s: got key %q of length %d, want length 35", what, k, len(k))
	}
	if !strings.HasPrefix(k, keyPrefix) || keyPrefix != "h2:" {
		t.Errorf("%s: got key %q, want prefix %q", what, k, "h2:")
		return
	}
	if _, err := hex.DecodeString(k[len(keyPrefix):]); err != nil || strings.ToLower(k) != k {
		t.Errorf("%s: got key %q, want lower-case hex after the prefix", what, k)
	}
}

func TestKeyFormat(t *testing.T) {
	c := newKeyTestCache(t)
	tests := []struct {
		name string
		key  string
	}{
		{name: "primary GET", key: c.primaryKeyFor(mustRequest(t, "GET", "http://example.com/"), "GET", "")},
		{name: "primary POST with body key", key: c.primaryKeyFor(mustRequest(t, "POST", "http://example.com/"), "POST", c.bodyKey("application/json", []byte(`{}`)))},
		{name: "long URL", key: c.primaryKeyFor(mustRequest(t, "GET", "http://example.com/"+strings.Repeat("x", 2000)), "GET", "")},
		{name: "hashKey", key: hashKey("a", "b", "c")},
		{name: "hashKey empty", key: hashKey()},
		{name: "variant", key: variantKey(hashKey("p"), &Variants{Generation: 0xabcdef}, "Accept=gzip\x00")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkKeyFormat(t, tt.name, tt.key)
		})
	}
}

func TestKeyFunc(t *testing.T) {
	c := newKeyTestCache(t)
	var gotDefault string
	custom := newKeyTestCache(t, WithKeyFunc(func(req *http.Request, defaultKey string) string {
		gotDefault = defaultKey
		return defaultKey + "|tenant=" + req.Header.Get("X-Tenant")
	}))
	reqA := mustRequest(t, "GET", "http://example.com/")
	reqA.Header.Set("X-Tenant", "a")
	reqB := mustRequest(t, "GET", "http://example.com/")
	reqB.Header.Set("X-Tenant", "b")

	def := c.primaryKeyFor(reqA, "GET", "")
	ka := custom.primaryKeyFor(reqA, "GET", "")
	if gotDefault != def {
		t.Errorf("key function's default key: got %q, want %q", gotDefault, def)
	}
	kb := custom.primaryKeyFor(reqB, "GET", "")
	checkKeyFormat(t, "custom key", ka)
	if ka == def {
		t.Errorf("custom key: got %q, the default key, want a different key", ka)
	}
	if ka == kb {
		t.Errorf("custom keys for tenants a and b: got both %q, want different keys", ka)
	}
	if want := hashKey("custom", "GET", def+"|tenant=a"); ka != want {
		t.Errorf("custom key: got %q, want %q", ka, want)
	}
}

// TestKeyGolden pins the exact key of a few requests. Keys must be stable
// across runs and releases: stored entries are found by them. Changing these
// values requires bumping keyPrefix (and so orphaning every stored entry on
// purpose).
func TestKeyGolden(t *testing.T) {
	// sha256("GET\x00http://example.com/?a=1&b=2\x00")[:16] in hex, after "h2:".
	const wantGET = "h2:a2e705a3181865623d9093cf96522d55"
	// sha256("POST\x00http://example.com/\x00application/json; charset=utf-8\x00" +
	// hex(sha256(`{"a":1,"b":2}`)[:16]))[:16] in hex, after "h2:".
	const wantPOST = "h2:64e67bce9e19f0e02c7272cb8a921f24"
	c := newKeyTestCache(t, WithAllowableMethods("GET", "POST"))
	tests := []struct {
		name   string
		method string
		raw    string
		host   string
		ctype  string
		body   string
		want   string
	}{
		{name: "canonical", method: "GET", raw: "http://example.com/?a=1&b=2", want: wantGET},
		{name: "written differently", method: "GET", raw: "HTTP://EXAMPLE.COM:80?b=2&a=1#x", want: wantGET},
		{name: "effective host", method: "GET", raw: "http://10.0.0.1:8080/?b=2&a=1", host: "Example.com:80", want: wantGET},
		{name: "POST", method: "POST", raw: "http://example.com/", ctype: "application/json; charset=utf-8", body: `{"a":1,"b":2}`, want: wantPOST},
		{name: "POST written differently", method: "POST", raw: "http://example.com", ctype: `Application/JSON;Charset="UTF-8"`, body: `{ "b":2, "a":1 }`, want: wantPOST},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, tt.raw, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			lr, err := c.Lookup(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if lr.Key != tt.want {
				t.Errorf("primary key of %s %s: got %q, want %q", tt.method, tt.raw, lr.Key, tt.want)
			}
		})
	}
}

func TestHashKeySeparatesParts(t *testing.T) {
	tests := []struct {
		name string
		a, b []string
	}{
		{name: "boundary moved", a: []string{"a", "bc"}, b: []string{"ab", "c"}},
		{name: "empty part", a: []string{"a", ""}, b: []string{"a"}},
		{name: "empty first part", a: []string{"", "a"}, b: []string{"a"}},
		{name: "two empties", a: []string{"", ""}, b: []string{""}},
		{name: "order", a: []string{"a", "b"}, b: []string{"b", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ka, kb := hashKey(tt.a...), hashKey(tt.b...); ka == kb {
				t.Errorf("hashKey(%q) == hashKey(%q): got both %q, want different keys", tt.a, tt.b, ka)
			}
		})
	}
	if a, b := hashKey("x", "y"), hashKey("x", "y"); a != b {
		t.Errorf("hashKey(x, y) twice: got %q and %q, want equal", a, b)
	}
	long := strings.Repeat("z", 1000)
	if a, b := hashKey(long, "1"), hashKey(long, "2"); a == b {
		t.Errorf("hashKey of parts longer than the stack buffer: got both %q, want different keys", a)
	}
}

func rawDigest(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:16])
}

func TestBodyDigest(t *testing.T) {
	type body struct {
		contentType string
		body        string
	}
	const js = "application/json"
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name string
		a, b body
		same bool
	}{
		{name: "JSON key order irrelevant", a: body{js, `{"a":1,"b":2}`}, b: body{js, `{"b":2,"a":1}`}, same: true},
		{name: "JSON white space irrelevant", a: body{js, `{"a": 1, "b": [1, 2]}`}, b: body{js, "{\n\t\"b\":[1,2],\"a\":1}\n"}, same: true},
		{name: "nested key order irrelevant", a: body{js, `{"o":{"x":1,"y":2}}`}, b: body{js, `{"o":{"y":2,"x":1}}`}, same: true},
		{name: "nested values preserved", a: body{js, `{"o":{"x":1}}`}, b: body{js, `{"o":{"x":2}}`}, same: false},
		{name: "array order preserved", a: body{js, `[1,2]`}, b: body{js, `[2,1]`}, same: false},
		{name: "objects in arrays normalised", a: body{js, `[{"b":1,"a":2}]`}, b: body{js, `[{"a":2,"b":1}]`}, same: true},
		{name: "number text preserved", a: body{js, `{"a":1.0}`}, b: body{js, `{"a":1}`}, same: false},
		{name: "large integers preserved", a: body{js, `{"a":12345678901234567890}`}, b: body{js, `{"a":12345678901234567891}`}, same: false},
		{name: "values differ", a: body{js, `{"a":1}`}, b: body{js, `{"a":2}`}, same: false},
		{name: "ignored top-level JSON key removed", a: body{js, `{"a":1,"api_key":"s1"}`}, b: body{js, `{"a":1}`}, same: true},
		{name: "every default ignored JSON key removed", a: body{js, `{"apikey":1,"a":1,"access_token":"t","api_key":"s"}`}, b: body{js, `{"a":1}`}, same: true},
		{name: "nested ignored JSON key kept", a: body{js, `{"o":{"api_key":"s1"}}`}, b: body{js, `{"o":{"api_key":"s2"}}`}, same: false},
		{name: "content-type parameters accepted", a: body{js + "; charset=utf-8", `{"b":2,"a":1}`}, b: body{js, `{"a":1,"b":2}`}, same: true},
		{name: "content-type case-insensitive", a: body{"Application/JSON", `{"b":2,"a":1}`}, b: body{js, `{"a":1,"b":2}`}, same: true},
		{name: "vnd api+json treated as JSON", a: body{"application/vnd.api+json", `{"b":2,"a":1}`}, b: body{"application/vnd.api+json", `{"a":1,"b":2}`}, same: true},
		{name: "vnd api+json same as application/json", a: body{"application/vnd.api+json", `{"b":2,"a":1}`}, b: body{js, `{"a":1,"b":2}`}, same: true},
		{name: "text/plain is raw", a: body{"text/plain", `{"a":1,"b":2}`}, b: body{"text/plain", `{"b":2,"a":1}`}, same: false},
		{name: "no content type is raw", a: body{"", `{"a":1,"b":2}`}, b: body{"", `{"b":2,"a":1}`}, same: false},
		{name: "invalid JSON is raw", a: body{js, `{"a":`}, b: body{"application/octet-stream", `{"a":`}, same: true},
		{name: "two JSON values are raw", a: body{js, `{"a":1} {"b":2}`}, b: body{js, `{"b":2} {"a":1}`}, same: false},
		{name: "JSON with trailing brace is raw", a: body{js, `{"a":1}}`}, b: body{js, `{"a":1}`}, same: false},
		{name: "JSON with trailing bracket is raw", a: body{js, `{"a":1}]`}, b: body{js, `{"a":1}`}, same: false},
		// RFC 8259 §8.1: JSON text is UTF-8. Decoding would turn every
		// invalid byte into U+FFFD and make different bodies equal.
		{name: "JSON with invalid UTF-8 is raw", a: body{js, "{\"a\":\"\xff\"}"}, b: body{js, "{\"a\":\"\xfe\"}"}, same: false},
		{name: "form field order irrelevant", a: body{form, "b=2&a=1"}, b: body{form, "a=1&b=2"}, same: true},
		{name: "form with charset", a: body{form + "; charset=utf-8", "b=2&a=1"}, b: body{form, "a=1&b=2"}, same: true},
		{name: "form ignored field removed", a: body{form, "a=1&api_key=s"}, b: body{form, "a=1"}, same: true},
		{name: "form percent-encoded ignored field removed", a: body{form, "api%5Fkey=s&a=1"}, b: body{form, "a=1"}, same: true},
		{name: "form values differ", a: body{form, "a=1"}, b: body{form, "a=2"}, same: false},
		{name: "form repeated field order kept", a: body{form, "a=1&a=2"}, b: body{form, "a=2&a=1"}, same: false},
		{name: "form repeated field sorted stably", a: body{form, "b=0&a=1&a=2"}, b: body{form, "a=1&b=0&a=2"}, same: true},
		{name: "form blank value vs absent", a: body{form, "a=1&b="}, b: body{form, "a=1"}, same: false},
		{name: "multipart is raw", a: body{"multipart/form-data; boundary=x", "--x\r\nA\r\n--x--"}, b: body{"multipart/form-data; boundary=x", "--x\r\nB\r\n--x--"}, same: false},
	}
	c := newKeyTestCache(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			da := c.bodyDigest(tt.a.contentType, []byte(tt.a.body))
			db := c.bodyDigest(tt.b.contentType, []byte(tt.b.body))
			if got := da == db; got != tt.same {
				t.Errorf("bodyDigest(%q, %q) == bodyDigest(%q, %q): got %v, want %v",
					tt.a.contentType, tt.a.body, tt.b.contentType, tt.b.body, got, tt.same)
			}
		})
	}
}

func TestBodyDigestValue(t *testing.T) {
	big := `{"b":1,"a":"` + strings.Repeat("x", maxNormalizedBody) + `"}`
	tests := []struct {
		name        string
		contentType string
		body        string
		want        string
	}{
		{name: "empty body", contentType: "application/json", body: "", want: ""},
		{name: "raw octets", contentType: "application/octet-stream", body: "hello", want: rawDigest("hello")},
		{name: "invalid JSON falls back to raw bytes", contentType: "application/json", body: `{"a":`, want: rawDigest(`{"a":`)},
		{name: "JSON normalised", contentType: "application/json", body: `{ "b" : 2, "a" : 1 }`, want: rawDigest(`{"a":1,"b":2}`)},
		{name: "form normalised", contentType: "application/x-www-form-urlencoded", body: "b=2&api_key=s&a=1", want: rawDigest("a=1&b=2")},
		{name: "multipart raw", contentType: "multipart/form-data; boundary=x", body: "--x\r\n\r\nv\r\n--x--", want: rawDigest("--x\r\n\r\nv\r\n--x--")},
		{name: "malformed content type is raw", contentType: "application json", body: `{"b":1,"a":2}`, want: rawDigest(`{"b":1,"a":2}`)},
		{name: "bad content-type parameters still JSON", contentType: "application/json;;", body: `{"b":1,"a":2}`, want: rawDigest(`{"a":2,"b":1}`)},
		{name: "body above the normalisation limit is raw", contentType: "application/json", body: big, want: rawDigest(big)},
	}
	c := newKeyTestCache(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.bodyDigest(tt.contentType, []byte(tt.body))
			if got != tt.want {
				t.Errorf("bodyDigest(%q, %.40q): got %q, want %q", tt.contentType, tt.body, got, tt.want)
			}
			if tt.body != "" && len(got) != 32 {
				t.Errorf("bodyDigest(%q, %.40q): got length %d, want 32", tt.contentType, tt.body, len(got))
			}
		})
	}
}
