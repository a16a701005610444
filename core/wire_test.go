package core

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestCanonicalRequest(t *testing.T) {
	t.Run("CanonicalIsReturnedAsIs", func(t *testing.T) {
		req := mustRequest(t, http.MethodGet, "http://example.com/")
		req.Header = http.Header{"Accept": {"a"}, "X-Api-Key": {"k"}, "Cache-Control": {"no-cache"}}
		if got := canonicalRequest(req); got != req {
			t.Errorf("canonicalRequest of a request with canonical names: got a copy, want the request itself")
		}
		if n := testing.AllocsPerRun(100, func() { canonicalRequest(req) }); n != 0 {
			t.Errorf("canonicalRequest of a request with canonical names: %v allocations, want 0", n)
		}
	})
	t.Run("NilHeader", func(t *testing.T) {
		req := mustRequest(t, http.MethodGet, "http://example.com/")
		req.Header = nil
		if got := canonicalRequest(req); got != req {
			t.Errorf("canonicalRequest of a request without header: got a copy, want the request itself")
		}
	})
	t.Run("SpellingsMerged", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, "http://example.com/", strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "tenant.example"
		req.Header = http.Header{
			"accept":        {"b1", "b2"},
			"Accept":        {"a"},
			"ACCEPT":        append(make([]string, 0, 4), "c"),
			"authorization": {"Bearer x"},
			"X-Ok":          {"1"},
		}
		before := req.Header.Clone()
		got := canonicalRequest(req)
		if got == req {
			t.Fatal("canonicalRequest of a request with lower-case names: got the request itself, want a copy")
		}
		if !reflect.DeepEqual(req.Header, before) {
			t.Errorf("the caller's header was modified: %v, want %v", req.Header, before)
		}
		// Spellings in byte order, as net/http writes them: ACCEPT, Accept, accept.
		want := http.Header{"Accept": {"c", "a", "b1", "b2"}, "Authorization": {"Bearer x"}, "X-Ok": {"1"}}
		if !reflect.DeepEqual(got.Header, want) {
			t.Errorf("merged header: got %v, want %v", got.Header, want)
		}
		if got.Body != req.Body || got.URL != req.URL || got.Host != req.Host || got.Method != req.Method ||
			got.ContentLength != req.ContentLength || got.Context() != req.Context() {
			t.Errorf("the copy differs from the request in more than its header")
		}
		if !reflect.DeepEqual(req.Header, before) {
			t.Errorf("merging wrote to the caller's values: %v, want %v", req.Header, before)
		}
	})
}

func TestCanonicalName(t *testing.T) {
	token := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if !strings.ContainsRune("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", rune(s[i])) {
				return false
			}
		}
		return true
	}
	for _, name := range []string{
		"", "A", "a", "Accept", "accept", "ACCEPT", "Accept-Language", "Accept-language", "accept-Language",
		"X-Api-Key", "X-API-Key", "Www-Authenticate", "Content-Md5", "X--Y", "-x", "X-", "1a", "A1b", "X_y", "x_y",
		"Ünicode", "a b", "Host", "HOST", "Etag", "ETag",
	} {
		got, same := canonicalName(name), http.CanonicalHeaderKey(name) == name
		// Safety: a name CanonicalHeaderKey would change is never taken as
		// canonical. Precision: a valid name it keeps is not merged.
		if got && !same {
			t.Errorf("canonicalName(%q) = true, but CanonicalHeaderKey changes it to %q", name, http.CanonicalHeaderKey(name))
		}
		if !got && same && token(name) {
			t.Errorf("canonicalName(%q) = false, but it is canonical", name)
		}
	}
}

func TestCanonicalResponse(t *testing.T) {
	canon := http.Header{"Cache-Control": {"max-age=60"}, "Etag": {`"e"`}}
	resp := &http.Response{Header: canon}
	canonicalResponse(resp)
	if reflect.ValueOf(resp.Header).Pointer() != reflect.ValueOf(canon).Pointer() {
		t.Errorf("canonicalResponse replaced a header whose names are canonical")
	}
	resp = &http.Response{Header: http.Header{"cache-control": {"max-age=60"}, "etag": {`"e"`}, "Vary": {"A"}, "vary": {"B"}}}
	canonicalResponse(resp)
	want := http.Header{"Cache-Control": {"max-age=60"}, "Etag": {`"e"`}, "Vary": {"A", "B"}}
	if !reflect.DeepEqual(resp.Header, want) {
		t.Errorf("canonicalResponse: got %v, want %v", resp.Header, want)
	}
	canonicalResponse(nil) // no panic
}

func TestWireHost(t *testing.T) {
	tests := []struct {
		name, url, host string
		want            string
	}{
		{name: "no Host", url: "http://example.com/a", want: "http://example.com/a"},
		{name: "Host equals URL host", url: "http://example.com/a", host: "example.com", want: "http://example.com/a"},
		{name: "Host replaces URL host", url: "http://10.0.0.1:8080/a?b=1", host: "tenant.example", want: "http://tenant.example/a?b=1"},
		{name: "Host lower-cased, default port dropped", url: "http://10.0.0.1/a", host: "Tenant.EXAMPLE:80", want: "http://tenant.example/a"},
		{name: "https default port", url: "https://10.0.0.1/a", host: "tenant.example:443", want: "https://tenant.example/a"},
		{name: "other port kept", url: "http://10.0.0.1/a", host: "tenant.example:8443", want: "http://tenant.example:8443/a"},
		{name: "IPv6 Host", url: "http://10.0.0.1/a", host: "[FE80::1]:80", want: "http://[fe80::1]/a"},
	}
	c := newKeyTestCache(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := mustRequest(t, http.MethodGet, tt.url)
			req.Host = tt.host
			if got := string(c.appendURL(nil, req.URL, wireHost(req), false)); got != tt.want {
				t.Errorf("key URL: got %q, want %q", got, tt.want)
			}
			if got := c.requestURL(req); got != tt.want {
				t.Errorf("requestURL: got %q, want %q", got, tt.want)
			}
			if got := c.keyURL(mustURL(t, tt.want)); got != tt.want {
				t.Errorf("keyURL of the wire URL %q: got %q, want it unchanged", tt.want, got)
			}
			if wireURL(req).String() != mustURL(t, tt.url).String() && tt.host == "" {
				t.Errorf("wireURL without Host: got %q, want %q", wireURL(req), tt.url)
			}
			if tt.host != "" && wireURL(req).Host != tt.host {
				t.Errorf("wireURL: host %q, want %q", wireURL(req).Host, tt.host)
			}
		})
	}
	t.Run("Keys", func(t *testing.T) {
		a := mustRequest(t, http.MethodGet, "http://10.0.0.1/a")
		a.Host = "tenant-a.example"
		b := mustRequest(t, http.MethodGet, "http://10.0.0.1/a")
		b.Host = "tenant-b.example"
		direct := mustRequest(t, http.MethodGet, "http://TENANT-B.example:80/a")
		ka, kb, kd := c.primaryKeyFor(a, "GET", ""), c.primaryKeyFor(b, "GET", ""), c.primaryKeyFor(direct, "GET", "")
		if ka == kb {
			t.Errorf("requests to the same URL with Host tenant-a and tenant-b: both key %q, want different keys", ka)
		}
		if kb != kd {
			t.Errorf("Host tenant-b.example and URL host tenant-b.example: keys %q and %q, want the same", kb, kd)
		}
	})
	t.Run("VaryHost", func(t *testing.T) {
		// Vary: Host selects by the host on the wire, whatever the map holds.
		a := mustRequest(t, http.MethodGet, "http://10.0.0.1/a")
		a.Host = "Tenant-A.example:80"
		a.Header.Set("Host", "ignored.example")
		if v, ok := selectedValue(a, "Host"); !ok || v != "tenant-a.example" {
			t.Errorf("selected Host: got %q (present %v), want %q", v, ok, "tenant-a.example")
		}
	})
}

func TestNormalizeMediaType(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"  ", ""},
		{"application/json", "application/json"},
		{"Application/JSON", "application/json"},
		{"application/json; charset=UTF-8", "application/json; charset=utf-8"},
		{`application/json;Charset="utf-8"`, "application/json; charset=utf-8"},
		{"text/plain; b=2; a=1", "text/plain; a=1; b=2"},
		{"text/plain; name=Value", "text/plain; name=Value"},
		{"multipart/form-data; boundary=X", "multipart/form-data; boundary=X"},
		{"application json", "application json"},
		{"application/json;;", "application/json;;"},
	}
	for _, tt := range tests {
		if got := normalizeMediaType(tt.in); got != tt.want {
			t.Errorf("normalizeMediaType(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestBodyKeyContentType(t *testing.T) {
	const js = "application/json"
	tests := []struct {
		name         string
		ctA, ctB     string
		bodyA, bodyB string
		same         bool
	}{
		{name: "same type and body", ctA: js, ctB: js, bodyA: `{"a":1}`, bodyB: `{"a":1}`, same: true},
		{name: "JSON vs text with the same bytes", ctA: js, ctB: "text/plain", bodyA: `{"a":1}`, bodyB: `{"a":1}`, same: false},
		{name: "JSON vs form with the same bytes", ctA: js, ctB: "application/x-www-form-urlencoded", bodyA: "a=1", bodyB: "a=1", same: false},
		{name: "type vs none", ctA: js, ctB: "", bodyA: `{"a":1}`, bodyB: `{"a":1}`, same: false},
		{name: "charset matters", ctA: js + "; charset=utf-8", ctB: js + "; charset=iso-8859-1", bodyA: "x", bodyB: "x", same: false},
		{name: "normalised forms are equal", ctA: `Application/JSON;Charset="UTF-8"`, ctB: js + "; charset=utf-8", bodyA: `{"b":1,"a":2}`, bodyB: `{"a":2,"b":1}`, same: true},
		{name: "parameter present vs absent", ctA: js + "; charset=utf-8", ctB: js, bodyA: "x", bodyB: "x", same: false},
		{name: "empty body, type vs none", ctA: js, ctB: "", bodyA: "", bodyB: "", same: false},
		{name: "nothing at all", ctA: "", ctB: "", bodyA: "", bodyB: "", same: true},
	}
	c := newKeyTestCache(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka, kb := c.bodyKey(tt.ctA, []byte(tt.bodyA)), c.bodyKey(tt.ctB, []byte(tt.bodyB))
			if got := ka == kb; got != tt.same {
				t.Errorf("bodyKey(%q, %q) == bodyKey(%q, %q): got %v, want %v", tt.ctA, tt.bodyA, tt.ctB, tt.bodyB, got, tt.same)
			}
		})
	}
	if k := c.bodyKey("", nil); k != "" {
		t.Errorf("bodyKey without type or body: got %q, want empty", k)
	}
}

// BenchmarkCanonicalRequest is the cost of reading every header spelling
// for a request with typical headers: a scan when the names are canonical,
// a merged copy when they are not.
func BenchmarkCanonicalRequest(b *testing.B) {
	names := []string{"Accept", "Accept-Encoding", "User-Agent", "X-Request-Id", "Authorization"}
	for _, tc := range []struct {
		name  string
		canon bool
	}{{"canonical", true}, {"lowercase", false}} {
		b.Run(tc.name, func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodGet, "http://example.com/", nil)
			for _, n := range names {
				if !tc.canon {
					n = strings.ToLower(n)
				}
				req.Header[n] = []string{"v"}
			}
			b.ReportAllocs()
			for b.Loop() {
				canonicalRequest(req)
			}
		})
	}
}
