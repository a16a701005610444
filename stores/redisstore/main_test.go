package redisstore_test

import (
	"context"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

// quietRedisLog drops go-redis's own log lines (redials while a fault test
// has the server down); the cache's errors are checked through Stats.
type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	if os.Getenv("HOARD_TEST_REDIS_LOG") == "" {
		redis.SetLogger(quietRedisLog{})
	}
	os.Exit(m.Run())
}
