package dynamostore

import "net/url"

// SetChunking lowers the item budget and the chunk payload of s, so that
// tests exercise chunked values without writing hundreds of kilobytes.
func SetChunking(s *Store, itemBudget, chunkSize int) {
	s.itemBudget = itemBudget
	s.chunkSize = chunkSize
}

// EncodeKey and DecodeKey expose the partition-key encoding to tests.
var (
	EncodeKey = encodeKey
	DecodeKey = decodeKey
)

// ParseDSN exposes the DSN parser to tests: the options, region and endpoint
// it found, and whether static credentials were given.
func ParseDSN(dsn string) (opts Options, region, endpoint string, static bool, err error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return Options{}, "", "", false, err
	}
	c, err := parseDSN(u)
	return c.opts, c.region, c.endpoint, c.accessKey != "", err
}
