package redisstore

import "context"

// EncodeForTest exposes the stored form to the external tests.
var EncodeForTest = encode

// ClientParams exposes the go-redis parameters the DSN opener passes on.
func ClientParams() []string { return clientParams }

// ClusterParams exposes the go-redis parameters the cluster DSN opener
// passes on.
func ClusterParams() []string { return clusterParams }

// GoRedisLogger exposes the logger this package gives go-redis.
func GoRedisLogger() interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	return slogLogger{}
}
