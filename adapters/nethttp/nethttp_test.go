package nethttpcache_test

import (
	"net/http"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
)

// The adapter conformance suite runs through this adapter in the store
// suites: every store's TestConformance runs each HTTP scenario through
// nethttpcache.NewClient (conformance's EndToEnd), memstore's and
// filestore's among them, which are the two stores RunAdapterTests would
// run here, so a TestConformance in this package would repeat them.

var _ http.RoundTripper = nethttpcache.NewTransport(nil, nil)
