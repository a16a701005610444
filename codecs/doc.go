// Package codecs holds the entry codecs and codec wrappers of hoard that need
// nothing beyond the standard library: a readable JSON codec, and wrappers
// that compress (gzip), sign (HMAC-SHA256) or encrypt (AES-GCM) the bytes of
// any other codec. Codecs with third-party dependencies are modules of their
// own under this directory: cborcodec (CBOR, fxamacker/cbor), bsoncodec
// (BSON, mongo-driver) and zstdcodec (zstd compression, klauspost/compress).
//
// A codec is chosen with core.WithCodec; the default, core.BinaryCodec, is
// the fastest measured. Wrappers compose, each one a core.Codec around
// another:
//
//	signed, err := codecs.NewSigned(codecs.NewGzip(core.BinaryCodec{}, nil), keys)
//	cache, err := core.New(store, core.WithCodec(signed))
//
// Compress before signing or encrypting (the wrapper nearest the store is
// the last applied): encrypted bytes do not compress. Whatever the order,
// streamed bodies keep the protection of every wrapper in the chain: the
// cache finds it through each wrapper's Unwrap method (see
// core.StreamSealer), which a wrapper of your own should have too.
//
// # Format identifiers
//
// Every encoding begins with one byte that names its format and version.
// A decoder accepts only its own byte and fails on any other with an error
// wrapping core.ErrCorrupt, so an entry written by another codec, another
// wrapper or a newer version is a miss (deleted and counted in
// Stats().CorruptErrors), never garbage.
//
//	| byte | format                          | package                |
//	|------|---------------------------------|------------------------|
//	| 0xB1 | binary, version 1 (default)     | core.BinaryCodec       |
//	| 0x7B | JSON ('{'; the "hoard" member   | codecs.JSON            |
//	|      | holds the version: "json/1")    |                        |
//	| 0x68 | YAML ('h'; the "hoard" member   | yamlcodec.Codec        |
//	|      | holds the version: "yaml/1")    |                        |
//	| 0xC1 | CBOR, version 1                 | cborcodec.Codec        |
//	| 0xD1 | BSON, version 1                 | bsoncodec.Codec        |
//	| 0xE1 | gzip wrapper, version 1         | codecs.NewGzip         |
//	| 0xF1 | zstd wrapper, version 1         | zstdcodec.New          |
//	| 0x51 | HMAC-SHA256 wrapper, version 1  | codecs.NewSigned       |
//	| 0xA1 | AES-GCM wrapper, version 1      | codecs.NewEncrypted    |
//
// A new version of a format takes the next byte of its row (0xB2, 0xC2,
// ...) or, for JSON, the next "json/N"; a new format takes an unused byte,
// recorded here.
//
// Streamed bodies have a framing of their own, defined by the core
// (core.SealStream; format byte 0x53): their headers name each protection
// layer by the byte of the wrapper that sealed it, 0x51 (HMAC-SHA256 per
// segment) or 0xA1 (AES-GCM per segment), with the key identifier; no layer
// means the core's CRC-32C per segment.
//
// # Compatibility
//
// A release reads every entry written by an earlier release with the same
// codec and keys, or rejects it as corrupt (a miss) when its format version
// is no longer supported; it never decodes an entry to different values. An
// older release reads an entry of a newer format version as a miss. The
// identifiers above never change meaning.
//
// # Untrusted stores
//
// Every decoder here is safe on bytes from a store someone else can write:
// it checks lengths before allocating or slicing, bounds decompressed sizes
// (CompressOptions.MaxDecodedSize), never executes or instantiates anything
// named by the data, and fails with an error wrapping core.ErrCorrupt rather
// than panicking. The fuzz targets (FuzzXxxDecode, and core's
// FuzzStreamDecode for streams) check this. Only the signing and encryption
// wrappers also stop an attacker from writing entries or streamed bodies the
// cache will serve: with them, a tampered, truncated, unsigned or
// foreign-key entry or stream is a miss, deleted and counted, never served
// (a body already started ends with an error wrapping core.ErrCorrupt).
package codecs
