package redisstore

// EncodeForTest exposes the stored form to the external tests.
var EncodeForTest = encode
