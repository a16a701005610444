package redisstore

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// go-redis logs on its own, through a process-wide logger, a line per failed
// dial or broken connection: during an outage, one per operation, on top of
// the error the store returns (which the cache logs, rate-limited). This
// package routes those lines to slog.Default at debug level, so they are
// silent unless debug logging is on. A program that wants them elsewhere
// calls redis.SetLogger after importing this package.
func init() { redis.SetLogger(slogLogger{}) }

// slogLogger is go-redis's logging interface over slog.
type slogLogger struct{}

func (slogLogger) Printf(ctx context.Context, format string, v ...any) {
	l := slog.Default()
	if ctx == nil {
		ctx = context.Background()
	}
	if !l.Enabled(ctx, slog.LevelDebug) {
		return
	}
	l.LogAttrs(ctx, slog.LevelDebug, "redisstore: go-redis", slog.String("msg", fmt.Sprintf(format, v...)))
}
