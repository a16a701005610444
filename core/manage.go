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
	l := new(exchange)
	if err := c.lookup(WithoutOptions(ctx), req, l); err != nil {
		return err
	}
	l.release(req)
	if l.resp != nil {
		l.resp.Body.Close()
	}
	if l.detail == detailClosed {
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
// recorded for the URL (for example POST responses keyed by body). It is
// DeleteURLs for one URL.
func (c *Cache) DeleteURL(ctx context.Context, rawURL string) error {
	if c.gate.closed() {
		return fmt.Errorf("core: DeleteURL: %w", ErrClosed)
	}
	_, err := c.deleteURLs(ctx, "DeleteURL", []string{rawURL})
	return err
}

// Removed says what a deletion removed.
type Removed struct {
	// Entries is the number of stored responses removed (variant indexes
	// are not counted).
	Entries int
	// Bytes is the length of their content (Entry.BodyLen), streamed
	// bodies included.
	Bytes int64
}

// DeleteURLs removes everything stored for each of urls: the GET and HEAD
// responses with every variant and, when the store can list, every other
// entry recorded for the URL (POST responses keyed by body, for example),
// in one listing for all of them. A URL that does not parse is an error
// and nothing is deleted. The URLs are normalised as the cache keys them,
// so "HTTP://Example.com:80/a?b=1&a=2" removes what "http://example.com/a?a=2&b=1"
// stored.
//
// Removed counts the responses the listing found (and their bytes); over a
// store that cannot list, the GET and HEAD entries are deleted and Removed
// is zero, for they were not read.
func (c *Cache) DeleteURLs(ctx context.Context, urls ...string) (Removed, error) {
	if c.gate.closed() {
		return Removed{}, fmt.Errorf("core: DeleteURLs: %w", ErrClosed)
	}
	return c.deleteURLs(ctx, "DeleteURLs", urls)
}

func (c *Cache) deleteURLs(ctx context.Context, op string, urls []string) (Removed, error) {
	var primaries []string
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			return Removed{}, fmt.Errorf("core: %s: %w", op, err)
		}
		keys := c.urlKeys(ctx, http.Header{}, u)
		primaries = append(primaries, keys[:]...)
	}
	var r Removed
	var keys []string
	if _, ok := c.store.(Lister); ok && len(urls) > 0 {
		m, err := c.compile(Filter{URLs: urls})
		if err != nil {
			return Removed{}, fmt.Errorf("core: %s: %w", op, err)
		}
		m.indexes = true
		for e, err := range c.all(ctx, op, m) {
			if err != nil {
				return Removed{}, err
			}
			keys = append(keys, e.Key)
			if e.Variants == nil {
				r.Entries++
				r.Bytes += e.BodyLen()
			}
		}
	}
	// The primary keys first: deleting an index makes its variants
	// unreachable at once, whatever happens to the rest.
	if err := c.deleteKeys(ctx, primaries); err != nil {
		return Removed{}, err
	}
	return r, c.deleteKeys(ctx, keys)
}

func (c *Cache) deleteKeys(ctx context.Context, keys []string) error {
	for _, k := range keys {
		err := c.call(ctx, "delete", k, managed, func(ctx context.Context) error {
			return c.store.Delete(ctx, k)
		})
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
	l := new(exchange)
	ctx = WithoutOptions(ctx)
	if err := c.lookup(OnlyIfCached(ctx), req, l); err != nil {
		return false, err
	}
	l.release(req)
	if l.resp != nil {
		defer l.resp.Body.Close()
	}
	if l.detail == detailClosed {
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
	err := c.call(ctx, "clear", "", managed, cl.Clear)
	if errors.Is(err, ErrClosed) {
		return fmt.Errorf("core: Clear: %w", ErrClosed)
	}
	if err != nil {
		return &Error{Op: "clear", Err: err}
	}
	return nil
}

// all yields every stored entry (variant indexes included) with its key, for
// stores that implement Lister; with a matcher, only the entries it selects,
// checked on the listed Meta before anything is read.
func (c *Cache) all(ctx context.Context, op string, m *matcher) iter.Seq2[*Entry, error] {
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
		if err := c.admit(ctx); errors.Is(err, ErrClosed) {
			closed()
			return
		} else if err != nil {
			yield(nil, &Error{Op: "list", Err: err})
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
		listing := lister.List
		if m != nil {
			listing = func(ctx context.Context) iter.Seq2[Listed, error] { return m.listing(ctx, lister) }
		}
		for it, err := range listing(ctx) {
			if err != nil {
				c.record(ctx, "list", "", managed, err)
				pass(nil, &Error{Op: "list", Err: err})
				return
			}
			if m != nil && !m.meta(it.Meta) {
				continue
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
			if m != nil && !m.entry(e) {
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
// wrapping ErrNotSupported. It is EntriesWhere with the zero Filter.
func (c *Cache) Entries(ctx context.Context) iter.Seq2[*Entry, error] {
	return c.EntriesWhere(ctx, Filter{})
}

// EntriesWhere yields the stored responses f selects, with Key set, in the
// store's listing order. The fields of f that need only what the store
// records beside a value (URL, URLs, Host, Method, Status) are checked
// before the value is read, and given to the store when it implements
// FilterLister; the others on the decoded entry. A store error, or an
// invalid f, is yielded once; listing needs a store that implements Lister
// (otherwise one error wrapping ErrNotSupported).
func (c *Cache) EntriesWhere(ctx context.Context, f Filter) iter.Seq2[*Entry, error] {
	return func(yield func(*Entry, error) bool) {
		m, err := c.compile(f)
		if err != nil {
			yield(nil, fmt.Errorf("core: EntriesWhere: %w", err))
			return
		}
		for e, err := range c.all(ctx, "Entries", m) {
			if !yield(e, err) {
				return
			}
		}
	}
}

// Count returns the number of stored responses (variant indexes are not
// counted). It is CountWhere with the zero Filter.
func (c *Cache) Count(ctx context.Context) (int, error) {
	return c.CountWhere(ctx, Filter{})
}

// CountWhere returns the number of stored responses f selects: the number
// EntriesWhere would yield. When f needs only what the store records beside
// each value (no Expiry, no OlderThan), it counts from the listing without
// reading any value; it then skips the items whose store deletion time
// (Meta.Expires) has passed by the wall clock, as the stores judge it, so an
// entry the store has let go of is not counted even while the store still
// lists it. It needs a store that implements Lister (otherwise an error
// wrapping ErrNotSupported).
func (c *Cache) CountWhere(ctx context.Context, f Filter) (int, error) {
	m, err := c.compile(f)
	if err != nil {
		return 0, fmt.Errorf("core: CountWhere: %w", err)
	}
	n := 0
	if m.needsEntry() {
		for _, err := range c.all(ctx, "Count", m) {
			if err != nil {
				return 0, err
			}
			n++
		}
		return n, nil
	}
	lister, ok := c.store.(Lister)
	if !ok {
		return 0, fmt.Errorf("core: Count: %w (the store does not implement core.Lister)", ErrNotSupported)
	}
	if err := c.admit(ctx); errors.Is(err, ErrClosed) {
		return 0, fmt.Errorf("core: Count: %w", ErrClosed)
	} else if err != nil {
		return 0, &Error{Op: "list", Err: err}
	}
	defer c.gate.leave()
	now := time.Now()
	for it, err := range m.listing(ctx, lister) {
		if err != nil {
			c.record(ctx, "list", "", managed, err)
			return 0, &Error{Op: "list", Err: err}
		}
		if !m.meta(it.Meta) || (!it.Meta.Expires.IsZero() && !now.Before(it.Meta.Expires)) {
			continue
		}
		n++
	}
	c.record(ctx, "list", "", managed, nil)
	return n, nil
}

// DeleteWhere removes the stored responses f selects and says how many,
// with their bytes. It reads them first (to check the fields of f that
// need the entry, and to count), then deletes them; a response stored
// meanwhile is left alone. Deleting a response that has Vary variants
// leaves the URL's other variants and its index in place.
func (c *Cache) DeleteWhere(ctx context.Context, f Filter) (Removed, error) {
	m, err := c.compile(f)
	if err != nil {
		return Removed{}, fmt.Errorf("core: DeleteWhere: %w", err)
	}
	var r Removed
	var keys []string
	for e, err := range c.all(ctx, "DeleteWhere", m) {
		if err != nil {
			return Removed{}, err
		}
		keys = append(keys, e.Key)
		r.Entries++
		r.Bytes += e.BodyLen()
	}
	if err := c.deleteKeys(ctx, keys); err != nil {
		return Removed{}, err
	}
	return r, nil
}

// deleteWhere deletes the entries for which match is true and counts them.
func (c *Cache) deleteWhere(ctx context.Context, op string, match func(*Entry) bool) (int, error) {
	var keys []string
	for e, err := range c.all(ctx, op, nil) {
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
	for e, err := range c.all(ctx, "ResetExpiration", nil) {
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
