package mongostore_test

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/core"
)

// canned is a RoundTripper that answers every request with the same
// cacheable response, without a network.
type canned struct {
	header http.Header
	body   []byte
	n      atomic.Int64
}

func (c *canned) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return &http.Response{
		Status: "200 OK", StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: c.header.Clone(), Body: io.NopCloser(bytes.NewReader(c.body)),
		ContentLength: int64(len(c.body)), Request: req,
	}, nil
}

func newCanned(size int) *canned {
	return &canned{body: bytes.Repeat([]byte("x"), size), header: http.Header{
		"Content-Type":   {"application/json"},
		"Content-Length": {strconv.Itoa(size)},
		"Cache-Control":  {"max-age=3600"},
		"Etag":           {`"v1"`},
		"Date":           {time.Now().UTC().Format(http.TimeFormat)},
	}}
}

func drain(b *testing.B, resp *http.Response, err error) {
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
}

// BenchmarkHit is a fresh hit through http.Client + nethttpcache + core over
// a mongostore on HOARD_TEST_MONGO_URL: one find by _id per request.
func BenchmarkHit(b *testing.B) {
	client := connect(b, mongoURL(b))
	for _, size := range []int{1 << 10, 256 << 10} {
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			st := newStore(b, client, nil)
			c, err := core.New(st)
			if err != nil {
				b.Fatal(err)
			}
			base := newCanned(size)
			hc := nethttpcache.NewClient(c, base)
			req, _ := http.NewRequest(http.MethodGet, "http://example.test/item?b=2&a=1", nil)
			resp, err := hc.Do(req)
			drain(b, resp, err)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			b.ResetTimer()
			for b.Loop() {
				resp, err := hc.Do(req)
				drain(b, resp, err)
			}
			b.StopTimer()
			if n := base.n.Load(); n != 1 {
				b.Fatalf("origin hits = %d, want 1", n)
			}
			if s := c.Stats(); s.StoreErrors != 0 {
				b.Fatalf("store errors = %d", s.StoreErrors)
			}
		})
	}
}

// BenchmarkFindOne is the driver alone reading a document with a value of
// the same sizes, by _id: the floor under BenchmarkHit.
func BenchmarkFindOne(b *testing.B) {
	client := connect(b, mongoURL(b))
	for _, size := range []int{1 << 10, 256 << 10} {
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			st := newStore(b, client, nil)
			coll := client.Database(testDatabase).Collection(st.Collection())
			value := bytes.Repeat([]byte("x"), size)
			if _, err := coll.InsertOne(b.Context(), bson.D{{Key: "_id", Value: "k"}, {Key: "value", Value: value}}); err != nil {
				b.Fatal(err)
			}
			opts := options.FindOne().SetProjection(bson.D{{Key: "value", Value: 1}})
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				raw, err := coll.FindOne(b.Context(), bson.D{{Key: "_id", Value: "k"}}, opts).Raw()
				if err != nil {
					b.Fatal(err)
				}
				if _, data, ok := raw.Lookup("value").BinaryOK(); !ok || len(data) != size {
					b.Fatal("bad document")
				}
			}
		})
	}
}
