// Package mongostore is a core.Store on MongoDB (or a server speaking its
// wire protocol, such as FerretDB), built on the official driver
// go.mongodb.org/mongo-driver/v2. Entries are ordinary documents that users
// can inspect with Mongo tools; bodies too large to keep in a document go to
// GridFS through core.Streamer, so neither writing nor reading them needs the
// whole body in memory. Many processes and hosts can share one cache.
//
// # Documents
//
// Each key is one document of the collection (Options.Collection):
//
//	{
//	  _id:     "GET https://api.example.com/users/1",  // the key
//	  url:     "https://api.example.com/users/1",       // core.Meta fields
//	  method:  "GET",
//	  status:  200,
//	  created: ISODate("2025-01-02T03:04:05Z"),
//	  expires: ISODate("2025-01-03T03:04:05Z"),         // deletion time; absent = none
//	  size:    NumberLong(1234),                         // length of value
//	  value:   BinData(0, "..."),                        // the encoded entry
//	  stream:  { file: ObjectId("..."), size: NumberLong(...), expires: ISODate(...) }
//	}
//
// so that, for example, db.hoard.find({status: 404}, {value: 0}) lists the
// cached 404s. The _id is the key as a string when the key is valid UTF-8 and
// its bytes as BinData otherwise. stream is present when the key has a
// committed stream: the id of its GridFS file. A document that a stream's
// commit created also holds pending: ISODate(...) (the commit time) until
// its value is written.
//
// # Expiry
//
// New tries to create a TTL index on expires (expireAfterSeconds: 0), so that
// the server removes expired entries itself; NativeTTL reports whether it
// could. Servers without TTL indexes (FerretDB answers NotImplemented) get a
// plain index instead. Either way Get never returns an entry whose deletion
// time has passed, compared with the store's own clock, and a background
// sweep (Options.SweepInterval, at most 500 entries and 500 files per run)
// deletes expired entries with their GridFS files, and GridFS files past
// their own deletion time, which a TTL index cannot reach. Close stops it.
//
// The sweep also removes the leftovers of a writer that died: once they are
// five minutes old, a document still pending (its stream was committed, the
// value the core writes next never came) with its file, and a GridFS file
// that no document refers to; and the chunks of a stream that was never
// committed once its last chunk is an hour old (a chunk's ObjectID carries
// the time it was written). Files and unfinished streams are checked 500 per
// run, going round the bucket. Files of the bucket that the store did not
// write are left alone.
//
// # Large bodies (GridFS)
//
// The store implements core.Streamer over a GridFS bucket (Options.GridFS,
// by default named like the collection: collections <name>.files and
// <name>.chunks), written in the standard GridFS layout so that tools such as
// mongofiles read it. CreateStream writes chunks (Options.ChunkSize, one held
// in memory) under a fresh file id; Commit writes the files document, points
// the key's document at the file in one atomic update and deletes the file it
// pointed at before; Abort deletes the chunks written. OpenStream reads a few
// chunks at a time. A reader whose stream is replaced or deleted while it
// reads either finishes the old bytes or fails; it never mixes two streams.
// Delete and Clear remove streams with their values. Each chunk written and
// each batch read is bounded by Options.StreamTimeout: those operations run
// while the caller reads a response body, outside core.WithStoreTimeout.
//
// # Options
//
// New takes a connected *mongo.Client and an *Options; nil means defaults.
// The client stays the caller's (Close does not disconnect it).
//
//	| Options field | DSN parameter  | default           | meaning                                  |
//	|---------------|----------------|-------------------|------------------------------------------|
//	| Database      | database       | URI path, "hoard" | database of the collections              |
//	| Collection    | collection     | "hoard"           | collection of the entries (namespace)    |
//	| GridFS        | gridfs         | the collection    | GridFS bucket of the large bodies        |
//	| ChunkSize     | chunk_size     | 255 KiB           | GridFS chunk size (1 KiB to 8 MiB)       |
//	| SweepInterval | sweep_interval | 1m                | period of the expiry sweep; off disables |
//	| StreamTimeout | stream_timeout | 30s               | bound on each stream operation; off: none |
//	| Lazy          | lazy           | false             | open without checking the server          |
//
// # URLs
//
// Importing the package registers the schemes "mongodb" and "mongodb+srv"
// with core.RegisterStore, so core.OpenStore accepts MongoDB connection
// strings with the parameters above added:
//
//	mongodb://127.0.0.1:27017/?database=cache&collection=http
//	mongodb://user:pass@db1:27017,db2:27017/app?replicaSet=rs0&collection=http&sweep_interval=5m
//	mongodb+srv://cluster0.example.net/?collection=http&gridfs=bodies
//
// The hoard parameters are removed and the rest of the string goes to the
// driver, so every connection option (timeoutMS, maxPoolSize, tls, ...)
// works; a parameter that is neither is an error. Without database, the
// database named in the path is used. A store opened this way owns its
// client and disconnects it on Close.
//
// # Opening and errors
//
// New (and so core.OpenStore) pings the server, then creates the indexes,
// each within the caller's context and bounded by core.DefaultOpenTimeout
// when it has no deadline, so an unreachable server fails in seconds (not
// after the driver's 30 s server selection) with the address in the
// message:
//
//	mongostore: checking the server at 127.0.0.1:27017: server selection error: context deadline exceeded, current topology: ...
//
// The errors of New and of the opener wrap core.ErrInvalidConfig for a DSN
// or option that is wrong and for a server that refuses the credentials or
// a command, and core.ErrUnavailable for a server that cannot be reached or
// does not answer in time. A program that must start while MongoDB is down
// sets Lazy (lazy=true): New then contacts nothing, creates the indexes in
// the background once the server answers (retrying with a growing pause up
// to a minute), operations fail until then, and the cache fails open
// meanwhile. Errors of operations are prefixed "mongostore:" and carry the
// operation and the key.
//
// # Concurrency
//
// A *Store is safe for concurrent use, from one process or many: every
// write is a single-document atomic update (or upsert), and a stream becomes
// visible only when one update points the key at its complete file. Get
// returns the bytes of the driver's reply without a copy; neither the store
// nor the caller may modify them, as the core.Store contract requires.
package mongostore
