package restycache_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
	restycache "github.com/hoardhttp/hoard/adapters/resty"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
)

// harness runs the conformance scenarios through a resty client (as
// resty.New makes it, with a Timeout, as most resty clients have) with the
// cache installed. Its Doer translates each *http.Request into a resty
// request and returns resty's RawResponse with the body resty read, so that
// the scenarios see what a resty user sees. That body is a new reader, not
// the cache's: InfoOf finds the Info in the Request context, which the
// cache attaches to a hit's response when http.Client sends under a
// Timeout (see core.InfoOf); the other adapters' suites cover the Body.
type harness struct{}

func (h harness) Doer(c *core.Cache) conformance.Doer {
	client := restycache.Install(resty.New().SetTimeout(time.Minute), c)
	return func(req *http.Request) (*http.Response, error) {
		return doResty(client, req)
	}
}

func (harness) Close() {}

// doResty sends req through client as a resty request: method, URL, headers
// (names as written, as SetHeaderVerbatim keeps them), Host (resty's Host
// header), body and context.
func doResty(client *resty.Client, req *http.Request) (*http.Response, error) {
	r := client.R().SetContext(req.Context())
	for name, values := range req.Header {
		for _, v := range values {
			r.Header[name] = append(r.Header[name], v)
		}
	}
	if req.Host != "" && req.Host != req.URL.Host {
		r.SetHeader("Host", req.Host)
	}
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		r.SetBody(b)
	}
	resp, err := r.Execute(req.Method, req.URL.String())
	if err != nil {
		return nil, err
	}
	out := *resp.RawResponse // keeps Request, which core.InfoOf reads
	body := resp.Body()
	out.Body = io.NopCloser(bytes.NewReader(body))
	if restyGunzipped(resp.RawResponse) {
		// resty decoded the body above the transport; say so the way
		// net/http does when it decompresses (Uncompressed, no
		// Content-Encoding or Content-Length), or the translated
		// response would claim gzip for plain bytes.
		out.Header = out.Header.Clone()
		out.Header.Del("Content-Encoding")
		out.Header.Del("Content-Length")
		out.ContentLength = int64(len(body))
		out.Uncompressed = true
	}
	return &out, nil
}

// restyGunzipped reports whether resty gunzipped raw's body: its rule in
// Client.execute (resty v2.17.2 client.go, "GitHub #142 & #187").
func restyGunzipped(raw *http.Response) bool {
	return strings.EqualFold(raw.Header.Get("Content-Encoding"), "gzip") && raw.ContentLength != 0
}

func TestConformance(t *testing.T) {
	// RunAdapterTests runs every scenario over memstore and over filestore.
	conformance.RunAdapterTests(t, func(context.Context, *testing.T) (conformance.AdapterHarness, error) {
		return harness{}, nil
	})
}
