// Package core is hoard's framework-agnostic HTTP cache: RFC 9111 caching for
// Go HTTP clients over a pluggable Store.
//
// A *Cache is built with New(store, opts...) and used through an adapter
// (adapters/nethttp for net/http) or directly through Do, which runs the whole
// algorithm over a send function. Do is nothing but the composition of the
// public hooks, so an adapter built on them gets exactly Do's semantics:
//
//   - Lookup(ctx, req): key, read, decode, Vary match and freshness, giving a
//     LookupResult whose State says Hit, StaleWhileRevalidate, Revalidate,
//     Miss or Bypass, with the response to serve or the request to send.
//   - RevalidateInBackground(&lr, send): the stale-while-revalidate refresh
//     of a StaleWhileRevalidate lookup, on a detached context.
//   - Join(ctx, &lr): collapsing of identical concurrent misses and
//     revalidations; a waiter gets the leader's response.
//   - Store(ctx, &lr, resp, err): invalidation after unsafe methods (RFC 9111
//     §4.4), storability (§3 plus the settings), then the response with its
//     body buffered or streamed into the store.
//   - Revalidate(ctx, &lr, resp, err): §4.4 too, the §4.3.4 304 merge, a
//     replacement on a full response, stale-if-error on a 500, 502, 503,
//     504 or transport error; ErrResend when the request must be sent again
//     without validators.
//
// Store and Revalidate take what Lookup found: nothing reads the store twice
// for one request.
//
// # Writing an adapter
//
// Put hoard under another client library at the point of its middleware
// where a request can be answered without the network (usually an
// http.RoundTripper, or whatever the library calls its transport). There,
// for each request:
//
//	lr, err := cache.Lookup(ctx, req)
//	switch {
//	case err != nil:
//		return nil, err
//	case lr.State == core.Hit:
//		return lr.Response, nil
//	case lr.State == core.StaleWhileRevalidate:
//		cache.RevalidateInBackground(&lr, next)
//		return lr.Response, nil
//	}
//	if resp, err := cache.Join(ctx, &lr); resp != nil || err != nil {
//		return resp, err // answered by an identical request in flight
//	}
//	resp, err := next(lr.Request)
//	if lr.State == core.Revalidate {
//		resp, err = cache.Revalidate(ctx, &lr, resp, err)
//	} else {
//		resp, err = cache.Store(ctx, &lr, resp, err)
//	}
//	if errors.Is(err, core.ErrResend) { // send once more, unconditionally
//		resp, err = next(lr.Request)
//		resp, err = cache.Store(ctx, &lr, resp, err)
//	}
//	return resp, err
//
// next is the library's own sending (ExampleCache_Lookup puts hoard under a
// made-up client this way). Per-request options (ForceRefresh, OnlyIfCached, …)
// travel in the request's context. A leader of a flight (Join returned nil,
// nil) must hand its outcome to Store or Revalidate, or the others wait until
// their contexts end. conformance.HooksHarness is such an adapter; the
// conformance suite runs every adapter scenario through it.
//
// # Semantics
//
// By default the cache is private (like a browser and like requests-cache) and
// follows RFC 9111: freshness from max-age, Expires and the Last-Modified
// heuristic (§4.2); the full §4.2.3 age calculation, emitted as an Age header on
// every stored response served; no-store, no-cache, must-revalidate,
// immutable, must-understand; request max-age, min-fresh, max-stale,
// no-cache, no-store and only-if-cached; Vary with several variants per URL;
// ETag / Last-Modified revalidation; stale-while-revalidate and stale-if-error
// (RFC 5861); invalidation after unsafe methods (§4.4). WithShared switches to
// shared-cache rules; WithTargetedCacheControl makes targeted fields such as
// CDN-Cache-Control (RFC 9213) replace Cache-Control. Every response that went through the cache carries an
// RFC 9211 Cache-Status field ("hoard; hit", "hoard; fwd=miss; stored", ...);
// InfoOf reads it back.
//
// # Precedence
//
// The lifetime of a response that is stored comes from the first row that
// applies:
//
//	| # | source                                    | applies when                          |
//	|---|-------------------------------------------|---------------------------------------|
//	| 1 | DoNotCache from ExpireAfter(ctx), else    | the first of them that is set is      |
//	|   | the first matching WithURLExpireAfter,    | DoNotCache: the request is a bypass   |
//	|   | else WithExpireAfter                      | (nothing read, nothing written)       |
//	| 2 | per-request ExpireAfter(ctx, d)           | set on the request's context; the     |
//	|   |                                           | status is an allowable code           |
//	| 3 | WithURLExpireAfter(pattern, d)            | first pattern that matches the URL;   |
//	|   |                                           | the status is an allowable code       |
//	| 4 | response s-maxage (shared) / max-age /    | WithCacheControl(true) (the default)  |
//	|   | Expires (or the WithTargetedCacheControl  | and the response has one              |
//	|   | field); immutable without max-age = ∞     |                                       |
//	| 5 | WithExpireAfter(d)                        | set; the status is an allowable code  |
//	| 6 | heuristic: 10% of Date − Last-Modified    | WithCacheControl(true), status        |
//	|   | (at most WithHeuristicCap)                | heuristically cacheable, or public    |
//	| 7 | NeverExpire                               | WithCacheControl(false) (only         |
//	|   |                                           | allowable codes are stored then)      |
//	| 8 | zero: stored only with a validator or a   | otherwise                             |
//	|   | stale window, revalidated on use          |                                       |
//
// The allowable codes are those of WithAllowableCodes, 200 when it is not
// set. Whatever the lifetime, a response is not stored when: the method is
// not in WithAllowableMethods; the status is not allowed (with
// WithAllowableCodes set, a status it does not list; unset, a status that is
// not 200 and, with Cache-Control honoured, neither heuristically cacheable
// nor covered by the response's explicit freshness or public, or is 401 or
// 407, which answer credentials no key holds); the status
// is 206, 304, 412 or 416 (they answer Range or precondition fields that are
// not part of the key); the request has no-store; the response has no-store (with Cache-Control honoured;
// must-understand with a known status overrides it); the response is
// private or answers an Authorization request without public, s-maxage or
// must-revalidate (shared cache only); WithFilter rejects it; WithReadOnly is
// set; with Cache-Control honoured, the response has no explicit freshness,
// is neither public nor private and its status is not heuristically
// cacheable, and no configured lifetime applies to it (RFC 9111 §3); the
// lifetime is zero (ExpireImmediately) and the response has no
// validator and no stale window; it has Vary: *, or varies on an ignored
// parameter the request carries; or its body exceeds WithMaxBodySize.
//
// A qualified no-cache="Set-Cookie" lets the response be stored and reused
// without validation, the listed fields left out of what is stored (RFC 9111
// §5.2.2.4, §3.1); a qualified private="Set-Cookie" keeps the listed fields
// out of a shared cache and changes nothing in a private one (§5.2.2.7). A
// list naming a field the stored response depends on (Vary, Content-Type,
// Content-Encoding, Content-Length, Content-Range, Transfer-Encoding) counts
// as the unqualified directive. An invalid max-age makes the response stale;
// a repeated directive counts by its most restrictive value (§4.2.1:
// max-age or s-maxage with different values make the response stale).
// Dates are read strictly in the three formats of RFC 9110 §5.6.7: an
// Expires in any other form is already expired (§5.3). A list-valued Age
// counts by its first member (§5.1).
//
// A stored response is used, for the first row that applies:
//
//	| # | condition                                            | outcome                              |
//	|---|------------------------------------------------------|--------------------------------------|
//	| 1 | Disable(ctx), WithDisabled or DoNotCache, or a       | bypass: forwarded, nothing read      |
//	|   | request body over WithMaxKeyedBodySize               |                                      |
//	| 2 | method not allowable (unsafe ones still invalidate)  | forwarded                            |
//	| 3 | ForceRefresh(ctx)                                    | forwarded unconditionally, stored    |
//	| 4 | nothing stored / Vary mismatch / filter rejects      | miss: forwarded, stored              |
//	|   |   …with OnlyIfCached(ctx) or only-if-cached          | synthetic 504, nothing forwarded     |
//	| 5 | Refresh(ctx), request no-cache (or Pragma: no-cache),| revalidated (conditional when there  |
//	|   | request max-age=0, ExpireAfter(ctx, 0), entry        | is a validator, full otherwise);     |
//	|   | no-cache, WithAlwaysRevalidate (validator needed,    | OnlyIfCached serves it as stored     |
//	|   | not while fresh and immutable)                       |                                      |
//	| 6 | fresh, age ≤ request max-age / ExpireAfter(ctx),     | hit: served, no store write          |
//	|   | remaining freshness ≥ request min-fresh              |                                      |
//	| 7 | stale, must-revalidate (proxy-revalidate if shared)  | revalidated; never served stale      |
//	| 8 | stale within request max-stale                       | served stale                         |
//	| 9 | stale within stale-while-revalidate (response or     | served stale, one background refresh |
//	|   | WithStaleWhileRevalidate)                            | per key on a detached context        |
//	|10 | stale, OnlyIfCached                                  | served if within stale-if-error,     |
//	|   |                                                      | else synthetic 504                   |
//	|11 | stale                                                | revalidated                          |
//
// When a revalidation or refresh fails with a transport error or a 500, 502,
// 503 or 504 (the errors of RFC 5861 §4; other statuses are answers), the
// stale response is served if it is within the largest stale-if-error window
// of the stored response, the request and WithStaleIfError, and the response
// is not must-revalidate; otherwise the error or the response reaches the
// caller.
// Boolean settings combine with their per-request forms by OR.
//
// A caller's own conditional GET or HEAD (If-None-Match, If-Modified-Since)
// is answered from a stored 200 the cache may use (fresh, or stale within
// max-stale) with a 304 built from it when the conditions say the caller's
// copy is current (RFC 9111 §4.3.2; the 304 carries Cache-Control,
// Content-Location, Date, ETag, Expires, Vary and Last-Modified, RFC 9110
// §15.4.5). If-None-Match takes precedence and compares weakly, over a list
// or "*"; If-Modified-Since is compared with Last-Modified, else Date, and
// ignored unless it is one valid HTTP-date. If-Match, If-Unmodified-Since
// and the preconditions of other methods only apply to an origin: the
// request is forwarded as it is. When the stored response must be
// revalidated, the caller's request is forwarded with its own validators:
// the origin's 304 goes to the caller and, when it selects the stored
// response (§4.3.4), freshens it; a full response replaces it (§4.3.3). A
// 304 to the cache's own conditional request freshens the stored response
// when it selects it (or has no validator at all); otherwise the response is
// fetched again unconditionally.
//
// A GET with a Range header (RFC 9110 §14) is answered from a stored
// complete 200 the cache may use, after the caller's own conditions (a 304
// wins, §14.2) and If-Range (§13.1.5: the strong ETag, or a Last-Modified
// that is strong by §8.8.2.2): one satisfiable byte range (bytes=a-b, a-,
// -n) gives a 206 with the stored fields, Content-Range and the range's
// Content-Length (§15.3.7, §14.4); no satisfiable range a 416 with
// Content-Range: bytes */length (§15.5.17); several ranges, an invalid or
// unknown specifier, a failed If-Range or an empty body the whole 200. The
// range is of the body as stored (§14.1.2: the encoded bytes of a body with
// a Content-Encoding). A streamed body is read from the 64 KiB segment that
// holds the range's first byte, by Seek when the store's stream readers can
// (see Streamer), every segment served checked as usual. A stored response
// that must be revalidated first is (the Range goes to the origin with the
// cache's validators; a 304 serves the range from the freshened response).
// Range requests the cache does not answer are forwarded as they are; a 206
// is passed through and not stored (RFC 9111 §3.3: parts are not combined,
// §3.4), a 200 is stored as usual. Range on other methods, HEAD included,
// is ignored (RFC 9110 §14.2).
//
// Every non-error response to an unsafe method (any method but GET, HEAD,
// OPTIONS and TRACE, unknown ones included, allowable or not, bypassed or
// not) invalidates the target URI and same-origin Location and
// Content-Location, every variant (RFC 9111 §4.4). A response to a POST
// (not an allowable method) with explicit freshness and a Content-Location
// equal to its target URI is stored as the response to a GET of that URI
// (RFC 9110 §9.3.3): later GETs and HEADs are answered from it, POSTs never.
//
// # Collapsing
//
// Do (through Join) collapses identical concurrent misses and revalidations
// into one origin request; the others wait for it and share what it stored. A waiter never
// depends on how the first caller reads its body: a body up to the stream
// threshold is read from the origin by the cache before the first caller is
// answered, and a larger one, which reaches the store only as fast as the
// first caller reads it, is waited for at most WithCollapseWait, after which
// the waiter is sent on its own.
//
// # Keys
//
// A key is derived, under a versioned format ("h2:"), from the request as it
// goes on the wire: the method; the normalised URL (scheme and host
// lower-cased, default port dropped, fragment dropped, ignored parameters
// removed, query sorted by parameter name, stably, so the values of a
// repeated parameter keep their order) with the effective host, Request.Host
// when set (net/http sends it in place of URL.Host); and, for methods other
// than GET and HEAD, the normalised Content-Type and a digest of the body
// (JSON objects with sorted keys, form fields sorted by name, stably,
// ignored parameters removed). The stored URL, the URLs invalidated after an
// unsafe method (RFC 9111 §4.4), URL rules, Delete and Contains use the same
// effective host. Matched headers and Vary select among variants stored
// below that key, so invalidating a URL reaches every variant and every
// matched-header partition at once.
//
// A request body is read to key it only up to WithMaxKeyedBodySize (default
// 1 MiB). A longer one makes the request a bypass (Cache-Status "hoard;
// fwd=bypass; detail=body-too-large"): the body goes to the origin whole,
// streamed, never held in memory, with the caller's GetBody kept.
//
// Header names are case-insensitive everywhere the cache reads them (RFC
// 9110 §5.1): a request or response whose header has names that are not
// canonical (req.Header["authorization"], which net/http sends as given) is
// read through a copy with canonical names, the values of every spelling
// merged; the caller's request is never modified.
//
// # Stores
//
// A Store is three methods over bytes (Get, Set, Delete) with optional
// Lister, FilterLister, Clearer, Streamer and io.Closer. Store errors fail
// open: the request goes to the origin, the error is logged with log/slog
// (at most a few lines per interval, with a count of those suppressed) and
// counted in Stats. Each store operation of a request is bounded by the store
// timeout (WithStoreTimeout; DefaultStoreTimeout unless the store's
// TimeoutHinter says otherwise), and a circuit breaker (WithBreaker) opens
// after a run of failures: requests then skip the store (Cache-Status
// "hoard; fwd=bypass; detail=store-unavailable") until a background probe
// finds it answering again. Stats().Breaker has its state; each change is
// logged once. The management calls (Contains, Delete, DeleteURL,
// DeleteURLs, Clear, Entries, EntriesWhere, Count, CountWhere, DeleteWhere,
// DeleteExpired, DeleteOlderThan, ResetExpiration, Records, OpenBody, Put)
// do not fail open: they return the store's error, as a *Error carrying the
// operation and key (one wrapping ErrUnavailable while the breaker is open),
// and are bounded by their caller's context rather than the store timeout. A Filter selects the responses EntriesWhere, CountWhere and
// DeleteWhere work on, checked on the Meta a store lists before any value
// is read, and given to a store that implements FilterLister to apply
// itself.
//
// # Observing
//
// WithObserver installs an Observer that Do calls once per request with an
// Event: the outcome in Cache-Status terms (Outcome), the key, the store
// calls made with their durations and errors, and the bytes served from the
// store. WithObserver says when the event fires for streamed bodies,
// collapsed requests and background refreshes. The modules observe/otelhoard
// (OpenTelemetry) and observe/promhoard (Prometheus) build metrics on it.
//
// # Opening stores
//
// OpenStore opens a store from a DSN ("redis://127.0.0.1:6379/0",
// "sqlite:///var/cache/app.db", ...). The stores of this project check
// their server, directory or database file before they return, whether
// opened by DSN or by their package's New: within the caller's context,
// bounded by DefaultOpenTimeout when it has no deadline (OpenContext). Their
// errors are of two kinds, told apart with errors.Is:
//
//   - ErrInvalidConfig: the DSN or an option is wrong (it does not parse, a
//     parameter is unknown or malformed), or the server answered and refused
//     it (a database it does not have, credentials it rejects, a missing
//     table). Retrying does not help.
//   - ErrUnavailable: the server could not be reached or did not answer in
//     time. The message names the address; a later attempt may succeed.
//
// A program that must start while its store is down opens the store lazily
// (the lazy=true DSN parameter, or the Lazy option, of redisstore, mongostore
// and dynamostore): nothing is checked at open, and until the server is
// back the cache fails open. Errors of store operations are not classified:
// they wrap the backend's error once, with the operation and key.
//
// # Close
//
// Cache.Close cancels the background refreshes in flight and waits for them
// (call Wait first to let them finish), waits for the store calls in
// progress, and closes the store. From then on nothing touches the store:
// Do passes requests through to the origin with Cache-Status "hoard;
// fwd=bypass; detail=closed", Lookup reports Bypass, Store and Revalidate
// return the origin's answer unchanged, and the management calls fail with
// ErrClosed (see Cache.Close for the details).
package core
