package dynamostore_test

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/core"
)

// cannedTransport answers every request with the same response and no
// network, so that a benchmark measures the cache and the store alone.
type cannedTransport struct {
	body []byte
	n    atomic.Int64
}

func (c *cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return &http.Response{
		Status: "200 OK", StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{
			"Content-Type":   {"application/octet-stream"},
			"Content-Length": {strconv.Itoa(len(c.body))},
			"Cache-Control":  {"max-age=3600"},
			"Date":           {time.Now().UTC().Format(http.TimeFormat)},
		},
		Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: int64(len(c.body)), Request: req,
	}, nil
}

var benchSizes = []struct {
	name string
	size int
}{
	{"1KiB", 1 << 10},
	{"256KiB", 256 << 10},
	{"1MiB-chunked", 1 << 20},
}

// BenchmarkHit is a fresh hit through http.Client + nethttpcache + core over
// a dynamostore on the test server: one strongly consistent GetItem (plus a
// BatchGetItem of the chunks for the chunked size) per request.
func BenchmarkHit(b *testing.B) {
	client := testClient(b)
	for _, bs := range benchSizes {
		b.Run(bs.name, func(b *testing.B) {
			st := storeOnPrefix(b, client)
			base := &cannedTransport{body: bytes.Repeat([]byte("x"), bs.size)}
			c, err := core.New(st)
			if err != nil {
				b.Fatal(err)
			}
			httpc := nethttpcache.NewClient(c, base)
			req, _ := http.NewRequest(http.MethodGet, "http://example.test/item?b=2&a=1", nil)
			get := func() {
				resp, err := httpc.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
			get()
			b.ReportAllocs()
			b.SetBytes(int64(bs.size))
			b.ResetTimer()
			for b.Loop() {
				get()
			}
			b.StopTimer()
			if base.n.Load() != 1 {
				b.Fatalf("origin hits = %d, want 1", base.n.Load())
			}
			if s := c.Stats(); s.StoreErrors != 0 {
				b.Fatalf("StoreErrors = %d", s.StoreErrors)
			}
		})
	}
}

// BenchmarkBareGetItem is a strongly consistent GetItem of an item holding
// the same number of bytes, with the SDK alone: the floor of BenchmarkHit.
func BenchmarkBareGetItem(b *testing.B) {
	client := testClient(b)
	for _, bs := range benchSizes[:2] {
		b.Run(bs.name, func(b *testing.B) {
			st := storeOnPrefix(b, client)
			table, pk := st.Table(), st.Prefix()+"bare"
			key := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}
			_, err := client.PutItem(b.Context(), &dynamodb.PutItemInput{
				TableName: &table,
				Item: map[string]types.AttributeValue{
					"pk":  &types.AttributeValueMemberS{Value: pk},
					"val": &types.AttributeValueMemberB{Value: bytes.Repeat([]byte("x"), bs.size)},
				},
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(bs.size))
			for b.Loop() {
				out, err := client.GetItem(b.Context(), &dynamodb.GetItemInput{TableName: &table, Key: key, ConsistentRead: aws.Bool(true)})
				if err != nil || out.Item == nil {
					b.Fatalf("GetItem: %v", err)
				}
			}
		})
	}
}
