// Package dynamostore is a core.Store on an Amazon DynamoDB table, through
// aws-sdk-go-v2 (github.com/aws/aws-sdk-go-v2/service/dynamodb). Many
// processes on many hosts can share one cache through it.
//
// # Options
//
// New takes a client (a *dynamodb.Client, or anything implementing API) and
// an *Options, whose Table is required.
//
//	| Options field | DSN parameter       | default | meaning                                        |
//	|---------------|---------------------|---------|------------------------------------------------|
//	| Table         | host (dynamodb://t) | —       | table name                                     |
//	| Prefix        | prefix              | ""      | namespace prepended to every partition key     |
//	| CreateTable   | create_table        | false   | create the table if missing, recreate if lost  |
//	| CreateTimeout | create_timeout      | 2m      | bound on waiting for a table to become ACTIVE  |
//	| Logger        | —                   | slog    | debug messages and warnings                    |
//	| Lazy          | lazy                | false   | open without checking (or creating) the table  |
//
// # URLs
//
// Importing the package registers the scheme "dynamodb" with
// core.RegisterStore, so core.OpenStore accepts
//
//	dynamodb://table
//	dynamodb://table?region=eu-west-1&prefix=app1/&create_table=true
//	dynamodb://table?endpoint=http://127.0.0.1:8027&region=us-east-1&access_key_id=test&secret_access_key=test
//
// The client is configured as config.LoadDefaultConfig does (environment,
// shared configuration files, instance and container roles), overridden by
// the parameters region, endpoint (an http:// or https:// URL, for DynamoDB
// Local, dynalite or a VPC endpoint; with an endpoint and no region anywhere,
// the region is us-east-1) and the static credentials access_key_id and
// secret_access_key (and optionally session_token), which are redacted from
// error messages. create_table and lazy take true or false, create_timeout a
// Go duration ("30s"). A port, a path, user information, a fragment or any
// other parameter is an error, and so is a DSN without endpoint when no
// region is configured anywhere.
//
// # Credentials
//
// Against AWS (no endpoint, or an endpoint that is not on this machine) the
// SDK's default chain finds the credentials: the DSN's access_key_id and
// secret_access_key, else AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a
// profile of the shared files, SSO, or the instance or container role. With
// none of them, opening fails with core.ErrInvalidConfig ("no AWS
// credentials ...").
//
// With an endpoint on this machine (localhost or a loopback address:
// DynamoDB Local, dynalite), the instance metadata service is never
// consulted (it cannot be there, and the SDK would wait for it and print
// warnings); credentials from the DSN, the environment or the shared files
// are used when there are some, and otherwise the store signs with the
// static LocalAccessKeyID and LocalSecretAccessKey ("hoard-local"), which
// local servers accept. DynamoDB Local started without -sharedDb keeps one
// database per access key and region: give the same credentials as the
// tools that create your tables.
//
// # Opening and errors
//
// New (and so core.OpenStore) checks the table with DescribeTable (and the
// client's credentials first), within the caller's context and bounded by
// core.DefaultOpenTimeout when it has no deadline; with CreateTable it
// creates a missing table instead, bounded by CreateTimeout. A table that
// does not exist without CreateTable, an endpoint that cannot be reached
// and missing credentials therefore fail at open, naming the table, the
// endpoint and the region:
//
//	dynamostore: table cache does not exist at http://127.0.0.1:8000 in us-east-1; create it (partition key "pk", a string, no sort key) or set CreateTable (create_table=true): ...
//
// The errors of New and of the opener wrap core.ErrInvalidConfig for a DSN
// or option that is wrong, a missing table, missing credentials and a
// request the server refuses (unknown credentials, access denied), and
// core.ErrUnavailable for an endpoint that cannot be reached, does not
// answer in time, or says it is overloaded or failing. A program that must
// start while DynamoDB is out of reach sets Lazy (lazy=true): New then
// performs no request, operations fail until it answers, and the cache
// fails open meanwhile; with CreateTable too, the first operation that finds
// the table missing starts its creation in the background. Errors of
// operations are prefixed "dynamostore:" and carry the operation and key.
//
// # Table
//
// The table's partition key is a string attribute named "pk", with no sort
// key. With CreateTable, New creates it with on-demand capacity, waits until
// it is ACTIVE, and tries to enable Time to Live on the attribute
// TTLAttribute ("ttl"), which holds each item's deletion time in epoch
// seconds, rounded up; a server without Time to Live (dynalite) refuses,
// which is logged at debug level and is harmless, because Get never returns
// an entry whose deletion time has passed, whether or not the server has
// deleted it yet. Without Time to Live, expired items stay in the table until
// they are overwritten, deleted or cleared. On a table the store did not
// create, enable Time to Live on "ttl" yourself.
//
// If the table disappears while the store is in use (deleted, or a local
// server restarted empty), every operation fails and the cache fails open,
// sending requests to the origin. With CreateTable the store recreates the
// table in the background (one attempt at a time, at most one start a
// second, bounded by CreateTimeout), and caching resumes by itself once it is
// ACTIVE; without it, the store fails open until someone creates the table.
//
// # Items
//
// An entry is one item: partition key Prefix + the encoded key, and the
// attributes kind ("e"), val (the value, binary), size, url, method, status,
// created and expires (Unix nanoseconds) and ttl, so the cache can be
// inspected with the ordinary DynamoDB tools. Keys are arbitrary bytes but
// DynamoDB strings are UTF-8: a key is stored as it is when it is printable
// UTF-8 without '%'; otherwise '%', control characters and the bytes of
// invalid sequences become %XX. Any 512-byte key fits DynamoDB's 2048-byte
// partition key, with a Prefix of up to MaxPrefixLen bytes.
//
// # Values over the item limit
//
// DynamoDB refuses items over 400 KB. A value that does not fit in one item
// with its attributes (about 398 KiB) is split into chunks of 350 KiB, each an
// item of kind "c" whose partition key is derived from the entry's, a random
// generation and the chunk's index; the entry item, written last, is then a
// manifest naming the generation and the number of chunks. A reader reads
// the manifest first, then the chunks of that generation with BatchGetItem;
// if a concurrent Set or Delete has replaced them meanwhile, it reads the
// manifest again, so it never mixes two values (after three replaced
// generations in a row, Get reports a miss). Set deletes the chunks of the
// value it replaced after switching the manifest, Delete those of the value it
// deleted. Chunks carry the entry's ttl. A failed write can leave chunks no
// manifest names: they are never read, expire with their ttl, and Clear
// removes them. A chunked hit costs one GetItem and one BatchGetItem per 32
// chunks, and its value is held in memory whole: the store does not stream
// (it does not implement core.Streamer), so the cache's WithMaxBodySize bounds
// what it stores. Writes use ReturnValues ALL_OLD to learn which chunks they
// replace, so overwriting or deleting an inline value transfers it once more.
//
// # Consistency and concurrency
//
// A *Store is safe for concurrent use. Get and List use strongly consistent
// reads, so a Get sees every Set that returned. Get returns a slice the SDK
// allocated for this call, which neither the store nor the caller modifies.
//
// # Listing and clearing
//
// List (core.Lister) is a paginated Scan that reads entry items under the
// prefix (not chunks, and not values) and skips expired entries. Clear
// (core.Clearer) scans the items under the prefix, entries and chunks, and
// deletes them with BatchWriteItem; other items of the table are left alone.
// A Scan reads the whole table whatever the prefix: on a large shared table,
// both cost accordingly. Give each store sharing a table a prefix that no
// other's begins with (end it with a separator such as '/').
//
// Store also implements io.Closer: Close stops a background table
// recreation and makes every method return ErrClosed; it does not close the
// client, which belongs to the caller.
package dynamostore
