// Command hoard inspects, cleans up, moves and uses the caches that
// programs using the hoard library keep, in any of hoard's stores, named by
// a DSN (mem://, file:///dir, sqlite:///path, redis://, mongodb://,
// dynamodb://):
//
//	hoard ls DSN [--url GLOB] [--host H] [--status N] [--expired|--fresh] [--json] [--limit N]
//	hoard show DSN URL|KEY [--body [-o file]] [--json]
//	hoard stats DSN [--json]
//	hoard rm DSN URL...
//	hoard purge DSN (--expired | --older-than 24h | --url GLOB | ... | --all [--yes])
//	hoard export DSN [-o file.jsonl]
//	hoard import DSN file.jsonl
//	hoard get URL --dsn DSN [-H 'Name: value'] [-i]
//	hoard proxy --dsn DSN --listen 127.0.0.1:8080 --upstream URL
//
// Every command has --help. The exit status is 0 on success, 1 on an error
// (the message names the store and says whether its configuration is wrong
// or it is unavailable) and 2 for a command line that is wrong.
//
// # Codecs and keys
//
// Entries are decoded with the codec the cache uses: --codec (binary, the
// default, json, cbor, bson), --compress (gzip, zstd), and for a signed or
// encrypted cache the keys, hex, newest first, from --sign-keys-file and
// --encrypt-keys-file (one a line) or the variables HOARD_SIGN_KEYS and
// HOARD_ENCRYPT_KEYS (separated by commas) — never on the command line,
// which every user of the machine can read. The wrappers are applied in one
// order: the codec, then compression, then signing, then encryption
// (outermost), which is the order the codecs package recommends; a cache
// built in another order cannot be read by this command. A command first
// checks that the store's entries decode with the codec given and refuses
// to go on otherwise (the cache would take them for corrupt and delete
// them); ls, show, stats and export never change the store.
//
// # Export format, version 1
//
// export writes JSON Lines (one JSON value a line, UTF-8); import reads
// them (a json.Decoder: line breaks are not significant):
//
//	{"hoard_export":1,"created":"2026-12-01T10:00:00Z","source":"sqlite:///tmp/c.db"}
//	{"key":"h2:…","entry":{"method":"GET","url":"https://…","status":200,"header":{…},"body":"<base64>",…}}
//	{"key":"h2:…","entry":{…,"streamed":true,"body_size":1500000}}
//	{"chunk":"<base64 of at most 48 KiB>"}
//	…
//	{"body_end":{"size":1500000,"sha256":"<hex>"}}
//	{"key":"h2:…","entry":{"method":"GET","url":"https://…","variants":{"names":["Accept-Language"],"generation":"123"}}}
//	{"end":{"records":3}}
//
// The first line names the format and its version; a reader refuses any
// other version. Every other line but the last is a record — one stored
// entry under its store key: a response, or a variant index (the record
// that leads from a URL to its Vary variants, "variants" set) — or belongs
// to the streamed body of the record before it. The entry's members are
// those of core.Entry: method, url, status, proto, header, trailer, body
// (base64, for a body that is not streamed), uncompressed, streamed,
// body_size, request_time, response_time, created, expires, deletion (RFC
// 3339 with nanoseconds, absent when zero), initial_age_ns, no_cache,
// must_revalidate, immutable, stale_while_revalidate_ns and
// stale_if_error_ns (nanoseconds; -1 when the response had no such
// directive), vary_header (the request header values a variant was
// selected by) and variants (names, all_headers, generation as a decimal
// string). A streamed body follows its record as chunk lines, in order,
// then a body_end line with its size and SHA-256, so that neither export
// nor import holds a whole body in memory. The end line counts the
// records: a file without it was cut, and import fails on it.
//
// The keys are those the exporting cache computed, so the programs that
// read the imported cache must use the same key settings (ignored
// parameters, matched headers, key function). The file holds the responses
// decoded — signed or encrypted caches included — so protect it as the
// data it holds: export creates it with mode 0600.
//
// # get and proxy
//
// get fetches one URL through a cache over the store, as a program using
// hoard would, and shows the Cache-Status (with -i, every header field, as
// curl -i does). proxy is a caching reverse proxy in front of one origin,
// for clients in any language; it follows shared-cache rules unless
// --private, and listens only on the --listen address (127.0.0.1:8080 by
// default).
package main
