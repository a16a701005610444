package core

import (
	"context"
	"errors"
	"time"
)

// ErrInvalidConfig is wrapped by the errors of OpenStore, of the store
// packages' DSN openers and of their constructors when the configuration is
// wrong: a DSN that does not parse, an unknown or malformed parameter, an
// invalid option, or a server that answers but refuses what it was asked
// for (a database number it does not have, credentials it rejects, a table
// that does not exist). Trying again does not help; the configuration must
// change. Match it with errors.Is.
var ErrInvalidConfig = errors.New("core: invalid store configuration")

// ErrUnavailable is wrapped by the errors of OpenStore, of the store
// packages' DSN openers and of their constructors when the store's server
// (or file system) could not be reached or did not answer in time while the
// store opened. The configuration may be right and a later attempt may
// succeed; a program that must start while its store is down opens it
// lazily (each networked store has an option for that) and lets the cache
// fail open until it is back. Match it with errors.Is; when the caller's
// context ended the error wraps ctx.Err() too.
var ErrUnavailable = errors.New("core: store unavailable")

// InvalidConfig returns err marked as a configuration error:
// errors.Is(result, ErrInvalidConfig) reports true, errors.Is and errors.As
// still reach err, and the message is err's own. A nil err gives nil, and an
// err already marked with ErrInvalidConfig or ErrUnavailable is returned
// unchanged, so the innermost classification wins.
func InvalidConfig(err error) error { return mark(err, ErrInvalidConfig) }

// Unavailable returns err marked as a failure to reach the store:
// errors.Is(result, ErrUnavailable) reports true; otherwise as InvalidConfig.
func Unavailable(err error) error { return mark(err, ErrUnavailable) }

func mark(err, kind error) error {
	if err == nil || errors.Is(err, ErrInvalidConfig) || errors.Is(err, ErrUnavailable) {
		return err
	}
	return &classified{err: err, kind: kind}
}

// classified is an error with a class (ErrInvalidConfig or ErrUnavailable)
// that does not show in its message.
type classified struct {
	err  error
	kind error
}

func (c *classified) Error() string   { return c.err.Error() }
func (c *classified) Unwrap() []error { return []error{c.err, c.kind} }

// DefaultOpenTimeout bounds the connection check a store makes when it
// opens, when the caller's context has no deadline of its own (see
// OpenContext).
const DefaultOpenTimeout = 5 * time.Second

// OpenContext returns the context a store's constructor checks its server
// with: ctx itself when it has a deadline, otherwise ctx bounded by
// DefaultOpenTimeout, so that an unreachable server makes the open fail in
// seconds rather than hang. Call cancel when the check is done.
func OpenContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, DefaultOpenTimeout)
}
