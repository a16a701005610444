package mongostore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/hoardhttp/hoard/core"
)

// readBatchChunks is how many chunks a stream reader asks the server for at
// a time: the reader's memory is about this many chunks.
const readBatchChunks = 4

// openAttempts bounds how often OpenStream starts again when the stream it
// found is replaced before it could open it.
const openAttempts = 8

// errStreamGone reports that a GridFS file went away while it was opened.
var errStreamGone = errors.New("GridFS file removed while it was opened (replaced or deleted)")

// CreateStream returns a writer for a new stream of key. The bytes go to a
// fresh GridFS file, chunk by chunk (one chunk is held in memory); Commit
// makes it the key's stream and deletes the previous one, Abort deletes what
// was written. ctx bounds CreateStream only: the writer outlives it (the
// core writes while the caller reads the response body), and each of its
// operations is bounded by Options.StreamTimeout.
func (s *Store) CreateStream(ctx context.Context, key string, meta core.Meta) (core.StreamWriter, error) {
	if err := s.check(ctx, "create stream", key); err != nil {
		return nil, err
	}
	return &streamWriter{
		s:    s,
		ctx:  context.WithoutCancel(ctx),
		key:  key,
		meta: meta,
		id:   bson.NewObjectID(),
		buf:  make([]byte, 0, s.chunkSize),
	}, nil
}

// streamWriter writes one GridFS file in the standard layout (a files
// document and numbered chunks), so that GridFS tools can read it.
type streamWriter struct {
	s     *Store
	ctx   context.Context
	key   string
	meta  core.Meta
	id    bson.ObjectID
	buf   []byte // the chunk being filled
	n     int32  // chunks written
	size  int64  // bytes written
	wrote bool   // a chunk insert was attempted
	err   error  // the first write error
	done  bool   // Commit or Abort was called
}

// opCtx bounds one database operation of a stream by Options.StreamTimeout.
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.streamTimeout > 0 {
		return context.WithTimeout(ctx, s.streamTimeout)
	}
	return ctx, func() {}
}

// Write buffers p and writes every chunk it fills.
func (w *streamWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("mongostore: write to the stream of %q after Commit or Abort", w.key)
	}
	if w.err != nil {
		return 0, w.err
	}
	written := 0
	for len(p) > 0 {
		n := min(len(p), cap(w.buf)-len(w.buf))
		w.buf = append(w.buf, p[:n]...)
		p = p[n:]
		written += n
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// flush writes the buffered bytes as the next chunk.
func (w *streamWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if w.s.closed.Load() {
		w.err = ErrClosed
		return w.err
	}
	ctx, cancel := w.s.opCtx(w.ctx)
	defer cancel()
	w.wrote = true
	_, err := w.s.chunks.InsertOne(ctx, bson.D{
		// The id carries the time of the write: the sweep takes a stream
		// whose last chunk is an hour old, without a files document, for
		// the remains of a writer that died.
		{Key: fID, Value: bson.NewObjectIDFromTimestamp(w.s.now())},
		{Key: "files_id", Value: w.id},
		{Key: "n", Value: w.n},
		{Key: "data", Value: bson.Binary{Subtype: bson.TypeBinaryGeneric, Data: w.buf}},
	})
	if err != nil {
		w.err = opError("write stream", w.key, err)
		return w.err
	}
	w.n++
	w.size += int64(len(w.buf))
	w.buf = w.buf[:0] // the driver encoded the chunk; the buffer is free
	return nil
}

var commitOpts = options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.Before)

// Commit writes the last chunk and the files document, then points key's
// document at the new file and deletes the file it pointed at before. A
// stream whose Meta.Expires has passed is discarded instead, with any
// previous stream of key.
func (w *streamWriter) Commit() error {
	if w.done {
		return fmt.Errorf("mongostore: commit of the stream of %q after Commit or Abort", w.key)
	}
	if w.err != nil {
		err := w.err
		_ = w.Abort()
		return err
	}
	if err := w.flush(); err != nil {
		_ = w.Abort()
		return err
	}
	w.done = true
	s := w.s
	if s.closed.Load() {
		w.discard()
		return ErrClosed
	}
	meta := bson.D{{Key: "key", Value: docID(w.key)}}
	if !w.meta.Expires.IsZero() {
		meta = append(meta, bson.E{Key: "expires", Value: w.meta.Expires})
	}
	ctx, cancel := s.opCtx(w.ctx)
	defer cancel()
	_, err := s.files.InsertOne(ctx, bson.D{
		{Key: fID, Value: w.id},
		{Key: "length", Value: w.size},
		{Key: "chunkSize", Value: int32(s.chunkSize)},
		{Key: "uploadDate", Value: s.now()},
		{Key: "filename", Value: strings.ToValidUTF8(w.key, "\uFFFD")},
		{Key: "metadata", Value: meta},
	})
	if err != nil {
		w.discard()
		return opError("commit stream", w.key, err)
	}

	filter := bson.D{{Key: fID, Value: docID(w.key)}}
	if expired(w.meta.Expires, s.now()) {
		// Dead on arrival: the key keeps no stream.
		raw, err := s.entries.FindOneAndUpdate(ctx, filter,
			bson.D{{Key: "$unset", Value: bson.D{{Key: fStream, Value: ""}}}}).Raw()
		w.discard()
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			return nil
		case err != nil:
			return opError("commit stream", w.key, err)
		}
		if prev, ok := streamFile(raw); ok {
			w.deletePrevious(prev)
		}
		return nil
	}

	stream := bson.D{{Key: fStreamFile, Value: w.id}, {Key: fStreamSize, Value: w.size}}
	if !w.meta.Expires.IsZero() {
		stream = append(stream, bson.E{Key: fStreamExpires, Value: w.meta.Expires})
	}
	// A document created for the stream alone is marked pending until Set
	// writes its value (the sweep removes one that a writer dying in
	// between left pending), and expires with the stream; Set gives it the
	// value's deletion time.
	onInsert := bson.D{{Key: fPending, Value: s.now()}}
	if !w.meta.Expires.IsZero() {
		onInsert = append(onInsert, bson.E{Key: fExpires, Value: w.meta.Expires})
	}
	update := bson.D{{Key: "$set", Value: bson.D{{Key: fStream, Value: stream}}}, {Key: "$setOnInsert", Value: onInsert}}
	raw, err := s.entries.FindOneAndUpdate(ctx, filter, update, commitOpts).Raw()
	if mongo.IsDuplicateKeyError(err) {
		raw, err = s.entries.FindOneAndUpdate(ctx, filter, update, commitOpts).Raw()
	}
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return nil // a new document: no previous stream
	case err != nil:
		w.discard()
		return opError("commit stream", w.key, err)
	}
	if prev, ok := streamFile(raw); ok && prev != w.id {
		w.deletePrevious(prev)
	}
	return nil
}

// deletePrevious deletes the file a commit replaced. Readers that opened it
// before either finish it or fail; none mixes it with the new one. If the
// deletion fails the file is left to the sweeper when it has a deletion
// time, and logged.
func (w *streamWriter) deletePrevious(prev bson.ObjectID) {
	ctx, cancel := w.s.opCtx(w.ctx)
	defer cancel()
	if err := w.s.deleteFiles(ctx, prev); err != nil {
		w.s.logger.LogAttrs(ctx, slog.LevelWarn, "mongostore: could not delete a replaced GridFS file",
			slog.String("bucket", w.s.bucket), slog.String("file", prev.Hex()), slog.Any("error", err))
	}
}

// discard deletes what the writer wrote, chunks and files document (best
// effort: the caller reports the error that made it give up).
func (w *streamWriter) discard() {
	ctx, cancel := w.s.opCtx(w.ctx)
	defer cancel()
	_ = w.s.deleteFiles(ctx, w.id)
}

// Abort deletes the chunks written so far. Calling it after Commit, or
// again, does nothing.
func (w *streamWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.buf = nil
	if !w.wrote {
		return nil
	}
	ctx, cancel := w.s.opCtx(w.ctx)
	defer cancel()
	if _, err := w.s.chunks.DeleteMany(ctx, bson.D{{Key: "files_id", Value: w.id}}); err != nil {
		return opError("abort stream", w.key, err)
	}
	return nil
}

var (
	openDocOpts  = options.FindOne().SetProjection(bson.D{{Key: fStream, Value: 1}})
	openFileOpts = options.FindOne().SetProjection(bson.D{{Key: "length", Value: 1}, {Key: "chunkSize", Value: 1}})
)

// OpenStream returns a reader of key's committed stream and its size, or an
// error wrapping core.ErrNotFound when key has none or its deletion time has
// passed. The reader reads the GridFS file a few chunks at a time with ctx;
// if the stream is replaced or deleted while it is read, the reader either
// finishes the old bytes or fails with an error.
func (s *Store) OpenStream(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := s.check(ctx, "open stream", key); err != nil {
		return nil, 0, err
	}
	for range openAttempts {
		r, size, err := s.openStream(ctx, key)
		if errors.Is(err, errStreamGone) {
			continue // replaced meanwhile: find the new one
		}
		return r, size, err
	}
	return nil, 0, opError("open stream", key, fmt.Errorf("replaced %d times while being opened", openAttempts))
}

// openStream is one attempt of OpenStream.
func (s *Store) openStream(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	raw, err := s.entries.FindOne(ctx, bson.D{{Key: fID, Value: docID(key)}}, openDocOpts).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, 0, errNotFound
	}
	if err != nil {
		return nil, 0, opError("open stream", key, err)
	}
	fid, ok := streamFile(raw)
	if !ok {
		return nil, 0, errNotFound
	}
	if exp, err := raw.LookupErr(fStream, fStreamExpires); err == nil && expired(dateOf(exp), s.now()) {
		return nil, 0, errNotFound
	}
	file, err := s.files.FindOne(ctx, bson.D{{Key: fID, Value: fid}}, openFileOpts).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, 0, errStreamGone
	}
	if err != nil {
		return nil, 0, opError("open stream", key, err)
	}
	length, ok1 := intOf(file.Lookup("length"))
	chunkSize, ok2 := intOf(file.Lookup("chunkSize"))
	if !ok1 || !ok2 || length < 0 || (length > 0 && chunkSize <= 0) {
		return nil, 0, opError("open stream", key, fmt.Errorf("GridFS file %s has an invalid length or chunk size", fid.Hex()))
	}
	r := &streamReader{s: s, ctx: ctx, key: key, file: fid, length: length, chunkSize: chunkSize}
	if length == 0 {
		return r, 0, nil
	}
	cur, err := s.chunks.Find(ctx, bson.D{{Key: "files_id", Value: fid}},
		options.Find().SetSort(bson.D{{Key: "n", Value: 1}}).SetBatchSize(readBatchChunks))
	if err != nil {
		return nil, 0, opError("open stream", key, err)
	}
	r.cur = cur
	// Read the first chunk now: a file deleted between the two queries
	// above shows as a missing chunk, and OpenStream tries again.
	if err := r.next(); err != nil {
		r.Close()
		if errors.Is(err, errStreamGone) {
			return nil, 0, errStreamGone
		}
		return nil, 0, err
	}
	return r, length, nil
}

// streamReader reads a GridFS file chunk by chunk, checking that every chunk
// is there, in order and of the right size. It implements io.Seeker: after a
// Seek, the next Read queries the chunks from the one that holds the offset
// (by files_id and n, which GridFS indexes), so a Range of a large body is
// served without reading the chunks before it.
type streamReader struct {
	seekTo  int64 // offset of the next Read, when seeking is set
	seeking bool

	s         *Store
	ctx       context.Context
	key       string
	file      bson.ObjectID
	length    int64
	chunkSize int64
	cur       *mongo.Cursor
	chunk     []byte // the unread part of the current chunk
	n         int64  // index of the next chunk
	off       int64  // bytes returned so far
	err       error
	closed    bool
}

// next loads chunk r.n into r.chunk.
func (r *streamReader) next() error {
	ctx, cancel := r.s.opCtx(r.ctx)
	defer cancel()
	if !r.cur.Next(ctx) {
		if err := r.cur.Err(); err != nil {
			return opError("read stream", r.key, err)
		}
		if r.n == 0 {
			return errStreamGone
		}
		return opError("read stream", r.key, fmt.Errorf("chunk %d of GridFS file %s missing: %w", r.n, r.file.Hex(), errStreamGone))
	}
	n, ok := intOf(r.cur.Current.Lookup("n"))
	_, data, okData := r.cur.Current.Lookup("data").BinaryOK()
	want := min(r.chunkSize, r.length-r.n*r.chunkSize)
	if !ok || !okData || n != r.n || int64(len(data)) != want {
		if r.n == 0 && (!ok || n != 0) {
			return errStreamGone
		}
		return opError("read stream", r.key, fmt.Errorf("GridFS file %s: chunk %d is missing or has the wrong size: %w", r.file.Hex(), r.n, errStreamGone))
	}
	r.chunk = data
	r.n++
	return nil
}

// Seek sets the offset of the next Read (io.SeekStart, io.SeekCurrent or
// io.SeekEnd), without reading anything. An offset past the end reads as
// the end.
func (r *streamReader) Seek(offset int64, whence int) (int64, error) {
	pos := r.off
	if r.seeking {
		pos = r.seekTo
	}
	offset, err := core.SeekOffset(offset, whence, pos, r.length)
	if err != nil {
		return pos, fmt.Errorf("mongostore: seek stream %q: %w", r.key, err)
	}
	if offset != r.off || r.seeking {
		r.seekTo, r.seeking = offset, offset != r.off
	}
	return offset, nil
}

// reposition opens a cursor from the chunk that holds r.seekTo and skips
// into it.
func (r *streamReader) reposition() error {
	r.seeking = false
	at := min(r.seekTo, r.length)
	r.chunk, r.off = nil, at
	if at == r.length {
		return nil
	}
	if r.cur != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 5*time.Second)
		r.cur.Close(ctx)
		cancel()
		r.cur = nil
	}
	n := at / r.chunkSize
	ctx, cancel := r.s.opCtx(r.ctx)
	defer cancel()
	cur, err := r.s.chunks.Find(ctx, bson.D{{Key: "files_id", Value: r.file}, {Key: "n", Value: bson.D{{Key: "$gte", Value: n}}}},
		options.Find().SetSort(bson.D{{Key: "n", Value: 1}}).SetBatchSize(readBatchChunks))
	if err != nil {
		return opError("read stream", r.key, err)
	}
	r.cur, r.n = cur, n
	if err := r.next(); err != nil {
		if errors.Is(err, errStreamGone) && n == 0 {
			err = opError("read stream", r.key, fmt.Errorf("chunk 0 of GridFS file %s missing: %w", r.file.Hex(), errStreamGone))
		}
		return err
	}
	r.chunk = r.chunk[at-n*r.chunkSize:]
	return nil
}

// Read implements io.Reader.
func (r *streamReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, fmt.Errorf("mongostore: read of the stream of %q after Close", r.key)
	}
	if r.err != nil {
		return 0, r.err
	}
	if r.seeking {
		if err := r.reposition(); err != nil {
			r.err = err
			return 0, err
		}
	}
	for len(r.chunk) == 0 {
		if r.off >= r.length {
			return 0, io.EOF
		}
		if err := r.next(); err != nil {
			r.err = err
			return 0, err
		}
	}
	n := copy(p, r.chunk)
	r.chunk = r.chunk[n:]
	r.off += int64(n)
	return n, nil
}

// Close releases the cursor.
func (r *streamReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.chunk = nil
	if r.cur == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 5*time.Second)
	defer cancel()
	return r.cur.Close(ctx)
}
