package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
)

// Records yields every stored record — responses and the variant indexes
// that lead to them (Entry.Variants set) — with Key set, for copying a cache
// to another store: Put each one, with the body OpenBody gives, into a Cache
// over the other store. It needs a store that implements Lister (otherwise
// it yields one error wrapping ErrNotSupported).
func (c *Cache) Records(ctx context.Context) iter.Seq2[*Entry, error] {
	return c.all(ctx, "Records", nil)
}

// OpenBody returns the content of the stored response e (as yielded by
// Entries, EntriesWhere or Records, with Key set): a reader over e.Body or,
// for a streamed body, the store's stream read through the cache's checks
// (its framing, and the codec's signature or encryption, segment by
// segment), so memory stays bounded whatever the body's size. A streamed
// body that is missing or fails its checks is an error (*Error, op "open
// stream"); a segment that fails later ends the reader with an error
// wrapping ErrCorrupt. The caller closes the reader.
func (c *Cache) OpenBody(ctx context.Context, e *Entry) (io.ReadCloser, error) {
	if e.Variants != nil {
		return nil, fmt.Errorf("core: OpenBody %s: a variant index has no body", e.Key)
	}
	if !e.Streamed {
		return io.NopCloser(bytes.NewReader(e.Body)), nil
	}
	if c.gate.closed() {
		return nil, &Error{Op: "open stream", Key: e.Key, Err: ErrClosed}
	}
	rc, err := c.openStream(ctx, e.Key, e)
	if err != nil {
		return nil, &Error{Op: "open stream", Key: e.Key, Err: err}
	}
	return rc, nil
}

// Put writes e under e.Key as it is, encoded with the cache's codec: the
// other half of Records, for restoring or moving a cache. Nothing about e is
// recomputed (its times, lifetime and key stay those of the cache it came
// from), so the keys must have been made with the same key settings
// (WithIgnoredParameters, WithMatchHeaders, WithKeyFunc) for requests to
// find them.
//
// For a response with Streamed set, body is its content, exactly
// e.BodySize bytes: it is written to the store's stream for the key, framed
// and sealed as the cache frames streamed bodies (a new StreamID), one
// segment in memory at a time, and the entry is written only once the
// stream is committed, so a short or failing body stores nothing. A store
// that cannot stream (or a codec that cannot protect streams) gets the
// body inline instead, when it fits in WithMaxBodySize. For any other record
// body must be nil (the content is e.Body).
//
// An entry whose deletion time (Entry.Deletion) has passed is not written.
// Store errors are returned (*Error), not logged: Put is not a request.
func (c *Cache) Put(ctx context.Context, e *Entry, body io.Reader) error {
	if e.Key == "" {
		return errors.New("core: Put: empty Key")
	}
	if !c.gate.enter() {
		return &Error{Op: "put", Key: e.Key, Err: ErrClosed}
	}
	defer c.gate.leave()
	if !e.Deletion.IsZero() && !c.cfg.now().Before(e.Deletion) {
		return nil
	}
	if !e.Streamed || e.Variants != nil {
		if body != nil {
			return fmt.Errorf("core: Put %s: a body reader for an entry that is not streamed", e.Key)
		}
		return c.putValue(ctx, e)
	}
	if body == nil {
		return fmt.Errorf("core: Put %s: a streamed entry needs its body", e.Key)
	}
	if e.BodySize < 0 || e.BodySize > c.cfg.maxStreamSize {
		return fmt.Errorf("core: Put %s: body of %d bytes, larger than WithMaxStreamSize (%d)", e.Key, e.BodySize, c.cfg.maxStreamSize)
	}
	st, ok := c.store.(Streamer)
	if !ok || c.streams == nil {
		if e.BodySize > c.cfg.maxBodySize {
			return fmt.Errorf("core: Put %s: body of %d bytes, larger than WithMaxBodySize (%d), and the store cannot stream", e.Key, e.BodySize, c.cfg.maxBodySize)
		}
		data, err := readExactly(body, e.BodySize)
		if err != nil {
			return fmt.Errorf("core: Put %s: reading the body: %w", e.Key, err)
		}
		inline := *e
		inline.Streamed, inline.BodySize, inline.StreamID, inline.Body = false, 0, "", data
		return c.putValue(ctx, &inline)
	}
	streamed := *e
	streamed.Body, streamed.StreamID = nil, newStreamID()
	meta := Meta{Expires: e.Deletion, URL: e.URL, Method: e.Method, Status: e.Status, Created: e.Created}
	var w StreamWriter
	err := c.call(ctx, "create stream", e.Key, managed, func(ctx context.Context) (err error) {
		w, err = st.CreateStream(ctx, e.Key, meta)
		return err
	})
	if err != nil {
		return &Error{Op: "create stream", Key: e.Key, Err: err}
	}
	sw, err := c.streams.newWriter(w, e.Key, streamed.StreamID)
	if err == nil {
		var n int64
		n, err = io.Copy(sw, io.LimitReader(body, e.BodySize+1))
		switch {
		case err != nil:
			err = fmt.Errorf("reading the body: %w", err)
		case n != e.BodySize:
			err = fmt.Errorf("body of %d bytes or more, want %d", n, e.BodySize)
		default:
			err = sw.Close()
		}
	}
	if err != nil {
		w.Abort()
		return &Error{Op: "write stream", Key: e.Key, Err: err}
	}
	if err := c.call(ctx, "commit stream", e.Key, managed, func(context.Context) error { return w.Commit() }); err != nil {
		return &Error{Op: "commit stream", Key: e.Key, Err: err}
	}
	if err := c.putValue(ctx, &streamed); err != nil {
		// The stream is committed but its entry is not: remove both
		// rather than leave a previous entry over a stream not its own.
		c.call(context.WithoutCancel(ctx), "delete", e.Key, managed, func(ctx context.Context) error {
			return c.store.Delete(ctx, e.Key)
		})
		return err
	}
	return nil
}

// putValue encodes and writes e under e.Key, returning the store's error.
func (c *Cache) putValue(ctx context.Context, e *Entry) error {
	data, err := c.cfg.codec.Encode(e)
	if err != nil {
		return &Error{Op: "encode", Key: e.Key, Err: err}
	}
	meta := Meta{Expires: e.Deletion, URL: e.URL, Method: e.Method, Status: e.Status, Size: int64(len(data)), Created: e.Created}
	err = c.call(ctx, "set", e.Key, managed, func(ctx context.Context) error {
		return c.store.Set(ctx, e.Key, data, meta)
	})
	if err != nil {
		return &Error{Op: "set", Key: e.Key, Err: err}
	}
	return nil
}

// readExactly reads exactly n bytes from r, failing on fewer or more.
func readExactly(r io.Reader, n int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, n+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != n {
		return nil, fmt.Errorf("body of %d bytes or more, want %d", len(data), n)
	}
	return data, nil
}
