package core

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"time"
)

// Delete removes what req would be served from: the entry or variant index
// under its key (deleting an index removes every variant at once).
func (c *Cache) Delete(ctx context.Context, req *http.Request) error {
	if c.gate.closed() {
		return fmt.Errorf("core: Delete: %w", ErrClosed)
	}
	req = canonicalRequest(req)
	l := new(lookup)
	if err := c.lookup(WithoutOptions(ctx), req, l); err != nil {
		return err
	}
	l.release(req)
	if l.resp != nil {
		l.resp.Body.Close()
	}
	if l.fwd == fwdClosed {
		return fmt.Errorf("core: Delete: %w", ErrClosed)
	}
	if l.primary == "" {
		return nil
	}
	return c.deleteKeys(ctx, []string{l.primary})
}

// WithoutOptions returns ctx without hoard's per-request options, for
// management calls that must not be bypassed by them.
func WithoutOptions(ctx context.Context) context.Context {
	return context.WithValue(ctx, reqOptsKey{}, &reqOpts{})
}

// DeleteURL removes the GET and HEAD responses stored for rawURL, with every
// variant. When the store can list, it also removes every other entry
// recorded for the URL (for example POST responses keyed by body).
func (c *Cache) DeleteURL(ctx context.Context, rawURL string) error {
	if c.gate.closed() {
		return fmt.Errorf("core: DeleteURL: %w", ErrClosed)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("core: DeleteURL: %w", err)
	}
	primary := c.urlKeys(ctx, http.Header{}, u)
	if err := c.deleteKeys(ctx, primary[:]); err != nil {
		return err
	}
	lister, ok := c.store.(Lister)
	if !ok {
		return nil
	}
	target := c.storedURL(u)
	var keys []string
	if !c.gate.enter() {
		return &Error{Op: "list", Err: ErrClosed}
	}
	for it, err := range lister.List(ctx) {
		if err != nil {
			c.gate.leave()
			return &Error{Op: "list", Err: err}
		}
		if it.Meta.URL == target {
			keys = append(keys, it.Key)
		}
	}
	c.gate.leave()
	return c.deleteKeys(ctx, keys)
}

func (c *Cache) deleteKeys(ctx context.Context, keys []string) error {
	for _, k := range keys {
		if !c.gate.enter() {
			return &Error{Op: "delete", Key: k, Err: ErrClosed}
		}
		err := c.store.Delete(ctx, k)
		c.gate.leave()
		if err != nil {
			return &Error{Op: "delete", Key: k, Err: err}
		}
	}
	return nil
}

// Contains reports whether a response for req is stored, fresh or not. A
// store that fails makes it return false and the store's error (a *Error),
// not a plain false.
func (c *Cache) Contains(ctx context.Context, req *http.Request) (bool, error) {
	req = canonicalRequest(req)
	l := new(lookup)
	ctx = WithoutOptions(ctx)
	if err := c.lookup(OnlyIfCached(ctx), req, l); err != nil {
		return false, err
	}
	l.release(req)
	if l.resp != nil {
		defer l.resp.Body.Close()
	}
	if l.fwd == fwdClosed {
		return false, fmt.Errorf("core: Contains: %w", ErrClosed)
	}
	if l.entry == nil && l.storeErr != nil {
		return false, l.storeErr
	}
	return l.entry != nil, nil
}

// Clear removes every entry, if the store implements Clearer.
func (c *Cache) Clear(ctx context.Context) error {
	cl, ok := c.store.(Clearer)
	if !ok {
		return fmt.Errorf("core: Clear: %w (the store does not implement core.Clearer)", ErrNotSupported)
	}
	if !c.gate.enter() {
		return fmt.Errorf("core: Clear: %w", ErrClosed)
	}
	defer c.gate.leave()
	if err := cl.Clear(ctx); err != nil {
		return &Error{Op: "clear", Err: err}
	}
	return nil
}

// all yields every stored entry (variant indexes included) with its key, for
// stores that implement Lister.
func (c *Cache) all(ctx context.Context, op string) iter.Seq2[*Entry, error] {
	return func(yield func(*Entry, error) bool) {
		lister, ok := c.store.(Lister)
		if !ok {
			yield(nil, fmt.Errorf("core: %s: %w (the store does not implement core.Lister)", op, ErrNotSupported))
			return
		}
		// The listing is a store call from one step to the next; the gate
		// is let go while the caller's loop body runs (which may call
		// Close), and the listing stops if Close has begun meanwhile.
		closed := func() { yield(nil, fmt.Errorf("core: %s: %w", op, ErrClosed)) }
		if !c.gate.enter() {
			closed()
			return
		}
		held := true
		defer func() {
			if held {
				c.gate.leave()
			}
		}()
		pass := func(e *Entry, err error) bool {
			c.gate.leave()
			held = false
			if !yield(e, err) {
				return false
			}
			if held = c.gate.enter(); !held {
				closed()
				return false
			}
			return true
		}
		for it, err := range lister.List(ctx) {
			if err != nil {
				pass(nil, &Error{Op: "list", Err: err})
				return
			}
			e := new(Entry)
			if err := c.readEntry(ctx, it.Key, e); err != nil {
				if errors.Is(err, ErrNotFound) {
					continue // expired, evicted or corrupt since listed
				}
				if errors.Is(err, ErrClosed) {
					pass(nil, err)
					return
				}
				if !pass(nil, err) {
					return
				}
				continue
			}
			e.Key = it.Key
			if !pass(e, nil) {
				return
			}
		}
	}
}

// Entries yields every stored response (not variant indexes) with Key set.
// It needs a store that implements Lister; otherwise it yields one error
// wrapping ErrNotSupported.
func (c *Cache) Entries(ctx context.Context) iter.Seq2[*Entry, error] {
	return func(yield func(*Entry, error) bool) {
		for e, err := range c.all(ctx, "Entries") {
			if err == nil && e.Variants != nil {
				continue
			}
			if !yield(e, err) {
				return
			}
		}
	}
}

// deleteWhere deletes the entries for which match is true and counts them.
func (c *Cache) deleteWhere(ctx context.Context, op string, match func(*Entry) bool) (int, error) {
	var keys []string
	for e, err := range c.all(ctx, op) {
		if err != nil {
			return 0, err
		}
		if match(e) {
			keys = append(keys, e.Key)
		}
	}
	return len(keys), c.deleteKeys(ctx, keys)
}

// DeleteExpired removes every response that is no longer fresh, and variant
// indexes past their deletion time (requests-cache delete(expired=True)).
func (c *Cache) DeleteExpired(ctx context.Context) (int, error) {
	now := c.cfg.now()
	return c.deleteWhere(ctx, "DeleteExpired", func(e *Entry) bool {
		if e.Variants != nil {
			return !e.Deletion.IsZero() && !now.Before(e.Deletion)
		}
		return !e.Expires.IsZero() && !now.Before(e.Expires)
	})
}

// DeleteOlderThan removes every response first stored more than d ago
// (requests-cache delete(older_than=d)).
func (c *Cache) DeleteOlderThan(ctx context.Context, d time.Duration) (int, error) {
	cutoff := c.cfg.now().Add(-d)
	return c.deleteWhere(ctx, "DeleteOlderThan", func(e *Entry) bool {
		return e.Variants == nil && e.Created.Before(cutoff)
	})
}

// ResetExpiration makes every stored response expire d from now (NeverExpire:
// never), as requests-cache reset_expiration does, and returns how many were
// rewritten.
func (c *Cache) ResetExpiration(ctx context.Context, d time.Duration) (int, error) {
	if err := checkExpiration("ResetExpiration", d); err != nil || d == DoNotCache {
		return 0, fmt.Errorf("core: ResetExpiration: invalid duration %v", d)
	}
	now := c.cfg.now()
	var entries []*Entry
	for e, err := range c.all(ctx, "ResetExpiration") {
		if err != nil {
			return 0, err
		}
		entries = append(entries, e)
	}
	n := 0
	for _, e := range entries {
		switch {
		case d == NeverExpire:
			e.Deletion = time.Time{}
			if e.Variants == nil {
				e.Expires = time.Time{}
			}
		case e.Variants != nil:
			// Indexes must outlive the variants they lead to.
			if del := now.Add(d + c.cfg.staleRetention); !e.Deletion.IsZero() && e.Deletion.Before(del) {
				e.Deletion = del
			}
		default:
			e.Expires = now.Add(d)
			if !e.Deletion.IsZero() {
				e.Deletion = e.Expires.Add(c.cfg.staleRetention)
			}
		}
		if !c.writeEntry(ctx, e.Key, e) {
			return n, &Error{Op: "set", Key: e.Key, Err: errors.New("write failed (see log)")}
		}
		if e.Variants == nil {
			n++
		}
	}
	return n, nil
}
