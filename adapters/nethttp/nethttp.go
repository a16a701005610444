// Package nethttpcache plugs a hoard cache into net/http as an
// http.RoundTripper.
//
//	cache, _ := core.New(store)
//	client := nethttpcache.NewClient(cache, nil)
//
// Install and Uninstall put the cache under http.DefaultTransport, the
// analogue of requests-cache's install_cache, for code that uses
// http.DefaultClient or http.Get.
//
// # Where the cache goes
//
// net/http has one middleware point, the http.RoundTripper of an
// *http.Client, and it is the place for a cache: it can return a response
// without touching the network, and everything http.Client does above it
// (redirects, cookies, timeouts) applies to hits as to misses. Transport
// wraps the base transport and calls core.Cache.DoTransport (Do, sending
// through it). Per-request options travel in the request's context
// (core.ForceRefresh(ctx) and the others); core.InfoOf(resp) tells how the
// cache produced a response.
package nethttpcache

import (
	"net/http"
	"sync"

	"github.com/hoardhttp/hoard/core"
)

// Transport is an http.RoundTripper that answers from a cache and sends
// everything else to Base. It obeys the RoundTripper contract: it never
// modifies the request (conditional requests are sent on clones), it closes
// the request body on every path, and it is safe for concurrent use.
type Transport struct {
	// Cache is the cache consulted for every request.
	Cache *core.Cache
	// Base sends requests to the network; nil means http.DefaultTransport.
	Base http.RoundTripper
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a Transport over cache; a nil base means
// http.DefaultTransport.
func NewTransport(cache *core.Cache, base http.RoundTripper) *Transport {
	return &Transport{Cache: cache, Base: base}
}

// NewClient returns an *http.Client whose transport is NewTransport(cache, base).
func NewClient(cache *core.Cache, base http.RoundTripper) *http.Client {
	return &http.Client{Transport: NewTransport(cache, base)}
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.Cache.DoTransport(req, t.base())
}

// CloseIdleConnections closes the idle connections of Base (or of
// http.DefaultTransport when Base is nil) if it has a CloseIdleConnections
// method, so that http.Client.CloseIdleConnections keeps working with the
// cache in place.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base().(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

var installed struct {
	sync.Mutex
	previous http.RoundTripper
	active   bool
}

// Install makes http.DefaultTransport answer from cache, sending to the
// transport it replaces. Calling Install again replaces the cache; Uninstall
// restores the original transport. Install and Uninstall are safe for
// concurrent use with each other, but not with requests in flight that read
// http.DefaultTransport: call them at program start and end.
func Install(cache *core.Cache) {
	installed.Lock()
	defer installed.Unlock()
	if !installed.active {
		installed.previous = http.DefaultTransport
		installed.active = true
	}
	http.DefaultTransport = NewTransport(cache, installed.previous)
}

// Uninstall restores the http.DefaultTransport that Install replaced. It does
// nothing when the cache is not installed.
func Uninstall() {
	installed.Lock()
	defer installed.Unlock()
	if !installed.active {
		return
	}
	http.DefaultTransport = installed.previous
	installed.previous, installed.active = nil, false
}
