package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/hoardhttp/hoard/core"
)

// The cache deletes an entry its codec cannot decode (for a request, a
// corrupt entry is a miss to drop). Run with the wrong --codec or keys, a
// command would then empty the cache it was meant to read. Two guards stop
// that: every command first checks that the store's entries decode with
// the codec given (probe), and the commands that only read (ls, show,
// stats, export) work through readOnly, which drops every deletion.

// probeSample is how many listed entries probe tries.
const probeSample = 16

// probe fails when the store holds entries and none of the first
// probeSample listed decode with codec: the codec flags are not the
// cache's.
func probe(ctx context.Context, st core.Store, codec core.Codec) error {
	l, ok := st.(core.Lister)
	if !ok {
		return nil
	}
	tried, listed := 0, 0
	var first error
	for it, err := range l.List(ctx) {
		if err != nil {
			return err
		}
		if listed++; listed > 4*probeSample {
			break
		}
		data, err := st.Get(ctx, it.Key)
		if errors.Is(err, core.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		var e core.Entry
		if err := codec.Decode(data, &e); err == nil {
			return nil
		} else if first == nil {
			first = err
		}
		if tried++; tried == probeSample {
			break
		}
	}
	if first != nil {
		return fmt.Errorf("the stored entries do not decode with the codec given (check --codec, --compress and the keys; nothing was changed): %w", first)
	}
	return nil
}

// readOnly passes reads to the store it wraps and drops deletions (and
// refuses writes), so that reading a cache never changes it.
type readOnly struct{ st core.Store }

var errReadOnly = errors.New("hoard: this command does not write to the store")

func (r readOnly) Get(ctx context.Context, key string) ([]byte, error)  { return r.st.Get(ctx, key) }
func (r readOnly) Set(context.Context, string, []byte, core.Meta) error { return errReadOnly }
func (r readOnly) Delete(context.Context, string) error                 { return nil }

func (r readOnly) List(ctx context.Context) iter.Seq2[core.Listed, error] {
	if l, ok := r.st.(core.Lister); ok {
		return l.List(ctx)
	}
	return func(yield func(core.Listed, error) bool) {
		yield(core.Listed{}, core.ErrNotSupported)
	}
}

func (r readOnly) ListFilter(ctx context.Context, f core.ListFilter) iter.Seq2[core.Listed, error] {
	if fl, ok := r.st.(core.FilterLister); ok {
		return fl.ListFilter(ctx, f)
	}
	return r.List(ctx)
}

func (r readOnly) Clear(context.Context) error { return errReadOnly }

func (r readOnly) CreateStream(context.Context, string, core.Meta) (core.StreamWriter, error) {
	return nil, errReadOnly
}

func (r readOnly) OpenStream(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if s, ok := r.st.(core.Streamer); ok {
		return s.OpenStream(ctx, key)
	}
	return nil, 0, core.ErrNotFound
}

func (r readOnly) Close() error {
	if c, ok := r.st.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
