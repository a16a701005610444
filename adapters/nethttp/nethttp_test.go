package nethttpcache_test

import (
	"context"
	"net/http"
	"testing"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
)

type harness struct{}

func (harness) Doer(c *core.Cache) conformance.Doer {
	return nethttpcache.NewClient(c, nil).Do
}

func (harness) Close() {}

func TestConformance(t *testing.T) {
	conformance.RunAdapterTests(t, func(context.Context, *testing.T) (conformance.AdapterHarness, error) {
		return harness{}, nil
	})
}

var _ http.RoundTripper = nethttpcache.NewTransport(nil, nil)
