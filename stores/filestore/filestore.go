package filestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hoardhttp/hoard/core"
)

// Scheme is the DSN scheme the package registers with core.RegisterStore:
// core.OpenStore(ctx, "file:///var/cache/app") opens a *Store.
const Scheme = "file"

// DefaultSweepInterval is the pause between two expiry sweeps when
// Options.SweepInterval is 0.
const DefaultSweepInterval = time.Minute

// DefaultSweepBatch is the number of files one sweep examines at most when
// Options.SweepBatch is 0.
const DefaultSweepBatch = 1000

// DefaultMaxBytes caps the bytes of the store's files when Options.MaxBytes
// is 0: 1 GiB, as sqlitestore. A cache runs inside other programs and must
// not fill their disk by default.
const DefaultMaxBytes int64 = 1 << 30

// ErrClosed is returned by every method of a Store after Close.
var ErrClosed = errors.New("filestore: closed")

// ErrTooLarge is returned by a stream's Write and Commit when the stream
// alone would exceed Options.MaxBytes.
var ErrTooLarge = errors.New("filestore: stream larger than MaxBytes")

// errNotFound is what a miss returns: core.ErrNotFound with the package
// prefix, built once so that a miss does not allocate.
var errNotFound = fmt.Errorf("filestore: %w", core.ErrNotFound)

// Options configures a Store. A nil *Options means all defaults. Each field
// is mirrored by a DSN parameter (see the package documentation).
type Options struct {
	// MaxBytes caps the bytes the store's value and stream files take on
	// disk, headers included. When a write takes the total above it, the
	// least recently accessed entries are deleted. 0 means DefaultMaxBytes
	// (1 GiB); a negative value is an error. For no practical cap, give
	// math.MaxInt64.
	// DSN parameter: max_bytes (for example max_bytes=1GiB).
	MaxBytes int64
	// SweepInterval is the pause between two background sweeps, which
	// delete expired entries, corrupt files, and temporary files and
	// streams without a value left by a crash. 0 means DefaultSweepInterval; a negative value turns the
	// background sweep off (expired entries are then deleted when read).
	// DSN parameter: sweep_interval (a Go duration such as 1m, or off).
	SweepInterval time.Duration
	// SweepBatch bounds the cost of one sweep: the number of files it
	// examines; the next sweep continues where it stopped. 0 means
	// DefaultSweepBatch; a negative value is an error.
	// DSN parameter: sweep_batch (for example sweep_batch=5000).
	SweepBatch int
	// MemoryBytes bounds the values the store keeps in process after reading
	// them (their bytes, plus about 512 bytes each for the key and the
	// Cache's decoded form of the header). A kept value is served after one
	// stat of its file shows the file is the one it was read from, instead
	// of being read and checked again; a file another process replaced,
	// changed or removed is read again. Values larger than a quarter of it
	// are not kept. 0 means DefaultMemoryBytes (8 MiB); a negative value
	// keeps nothing. On systems other than Linux nothing is kept.
	// DSN parameter: memory_bytes (for example memory_bytes=8MiB, or off).
	MemoryBytes int64
}

// Store is a core.Store keeping one file per value (and one per stream)
// under a directory. It also implements core.Lister, core.Clearer,
// core.Streamer and io.Closer. Create it with New; the zero value is not
// usable.
type Store struct {
	dir      string
	opts     Options
	maxBytes int64
	now      func() time.Time
	pid      int

	closed      atomic.Bool
	stop        chan struct{}
	sweeperDone chan struct{}

	// keyLocks serialise, per key hash, the steps that change which file a
	// name points to together with the index (rename, remove), so that the
	// index follows the files. Reads take no lock.
	keyLocks [256]sync.Mutex

	// mu guards idx. It is never held while taking a key lock.
	mu  sync.Mutex
	idx index

	// memo keeps recently read values (nil: Options.MemoryBytes < 0, or
	// not supported here).
	memo *memo

	// sweepMu guards the sweep cursor.
	sweepMu    sync.Mutex
	cursorDir  int
	cursorName string
}

var (
	_ core.Store      = (*Store)(nil)
	_ core.Lister     = (*Store)(nil)
	_ core.Clearer    = (*Store)(nil)
	_ core.Streamer   = (*Store)(nil)
	_ core.SlotGetter = (*Store)(nil)
	_ io.Closer       = (*Store)(nil)
)

func init() {
	core.RegisterStore(Scheme, openURL)
}

// liveTemps holds the paths of the temporary files this process is writing
// (any Store of it), registered before a file is created and removed after
// it is renamed or removed: a temporary file with this process's id that is
// not in it was left by an earlier process that had the same id.
var liveTemps sync.Map

// New opens the store in dir, creating the directory (mode 0700) if it is
// missing. It scans dir to learn the size and last access of what is there,
// removes temporary files and streams without a value left by a crashed
// writer, evicts down to MaxBytes, and starts the background sweep. opts nil means defaults. Close
// the store to stop the sweep.
func New(dir string, opts *Options) (*Store, error) {
	return newStore(dir, opts, time.Now)
}

// newStore is New with the clock that expiry and last access follow.
func newStore(dir string, opts *Options, now func() time.Time) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	switch {
	case o.MaxBytes < 0:
		return nil, core.InvalidConfig(fmt.Errorf("filestore: MaxBytes is %d; want 0 (the default, %d) or more", o.MaxBytes, DefaultMaxBytes))
	case o.SweepBatch < 0:
		return nil, core.InvalidConfig(fmt.Errorf("filestore: SweepBatch is %d; want 0 (the default) or more", o.SweepBatch))
	case dir == "":
		return nil, core.InvalidConfig(errors.New("filestore: empty directory name"))
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	if o.SweepBatch == 0 {
		o.SweepBatch = DefaultSweepBatch
	}
	if o.MemoryBytes == 0 {
		o.MemoryBytes = DefaultMemoryBytes
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, openFailed(fmt.Errorf("filestore: open %q: %w", dir, err))
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, openFailed(fmt.Errorf("filestore: open: %w", err))
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, openFailed(fmt.Errorf("filestore: open: %w", err))
	}
	if !fi.IsDir() {
		return nil, core.InvalidConfig(fmt.Errorf("filestore: open %q: not a directory", abs))
	}
	s := &Store{
		dir:      abs,
		opts:     o,
		maxBytes: o.MaxBytes,
		now:      now,
		pid:      os.Getpid(),
		idx:      index{m: map[[sha256.Size]byte]*ientry{}},
		memo:     newMemo(o.MemoryBytes),
	}
	if err := s.scan(); err != nil {
		return nil, openFailed(err)
	}
	s.evictIfOver()
	if o.SweepInterval > 0 {
		s.stop = make(chan struct{})
		s.sweeperDone = make(chan struct{})
		go s.sweeper(o.SweepInterval)
	}
	return s, nil
}

// openFailed classifies an error of the file system met while the store
// opens: a path that cannot be a cache directory (permission denied, a file
// in the way, a read-only file system, a name too long) is a configuration
// error; anything else (an I/O error, a file system that went away) makes
// the store unavailable.
func openFailed(err error) error {
	for _, cfg := range []error{fs.ErrPermission, fs.ErrExist, syscall.ENOTDIR, syscall.EROFS, syscall.ENAMETOOLONG, syscall.ELOOP, syscall.EINVAL} {
		if errors.Is(err, cfg) {
			return core.InvalidConfig(err)
		}
	}
	return core.Unavailable(err)
}

// Dir returns the absolute path of the store's directory.
func (s *Store) Dir() string { return s.dir }

// Options returns the options in effect, defaults applied.
func (s *Store) Options() Options { return s.opts }

// Get returns the value stored under key, read from its file or, when the
// file is the one it was last read from, kept in memory (see
// Options.MemoryBytes); neither the caller nor the store may modify it. A
// missing or expired key gives an error wrapping core.ErrNotFound. A file
// that fails its checks (truncated, or a header or payload CRC-32C mismatch)
// is removed and gives an error wrapping core.ErrCorrupt, which the cache
// counts as a corrupt entry.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	v, _, err := s.get(ctx, key)
	return v, err
}

// GetSlot implements core.SlotGetter: Get, with the slot of the value when
// the store keeps it in memory, and nil otherwise (the Cache then decodes
// the value, as it would from Get).
func (s *Store) GetSlot(ctx context.Context, key string) ([]byte, *core.DecodedSlot, error) {
	v, me, err := s.get(ctx, key)
	if err != nil || me == nil {
		return v, nil, err
	}
	return v, &me.slot, nil
}

// SlotStore implements core.SlotGetter: the store itself, so that a store
// embedding this one is read through its own Get.
func (s *Store) SlotStore() core.Store { return s }

// get is Get, with the memo entry that holds the value returned (nil when it
// is not kept).
func (s *Store) get(ctx context.Context, key string) ([]byte, *memoEntry, error) {
	if err := s.check(ctx, "get"); err != nil {
		return nil, nil, err
	}
	h := hashKey(key)
	var pbuf [512]byte // the path, built on the stack when it fits
	if me := s.memo.get(h); me != nil {
		st, err := s.statStamp(h, kindValue, pbuf[:])
		switch {
		case errors.Is(err, fs.ErrNotExist):
			s.memo.drop(h)
			s.forgetMissing(h, kindValue)
			return nil, nil, errNotFound
		case err == nil && st == me.stamp && me.key == key:
			if now := s.now(); !expired(me.expires, now) {
				s.accessed(h, kindValue, me.fileSize, me.stamp.id(), now)
				return me.value, me, nil
			}
		}
		s.memo.drop(h) // read again below: the file decides
	}
	f, err := s.openFile(h, kindValue, pbuf[:])
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			s.forgetMissing(h, kindValue)
			return nil, nil, errNotFound
		}
		return nil, nil, fmt.Errorf("filestore: get %q: %w", key, err)
	}
	// A value that may be kept is stamped with the file it is read from,
	// before the read: a change meanwhile makes the next Get read it again.
	var stampedAt time.Time
	if s.memo != nil {
		stampedAt = time.Now() // the real clock, as the file's times
		_ = f.stat()
	}
	hint := s.indexedSize(h, kindValue)
	buf, hdr, err := f.readChecked(hint, kindValue)
	now := s.now()
	// The file is closed before anything removes it (Windows cannot remove
	// an open file). What identifies it is taken first, and only when a
	// step below needs it: a removal, or an index that did not know its
	// length.
	var id fileID
	if err == errCorrupt || err == nil && string(hdr.key) == key && (expired(hdr.meta.Expires, now) || int64(len(buf)) != hint) {
		id = f.id()
	}
	// The stamp is of the open file, not of the path, which may name
	// another file by now.
	var st stamp
	if s.memo != nil && err == nil && string(hdr.key) == key {
		st = f.stamp()
	}
	f.close()
	switch {
	case err == nil:
	case errors.Is(err, errVersion):
		return nil, nil, errNotFound
	case err == errCorrupt:
		s.removeIfSame(h, kindValue, id)
		return nil, nil, fmt.Errorf("filestore: get %q: %w", key, errCorrupt)
	default:
		return nil, nil, fmt.Errorf("filestore: get %q: %w", key, err)
	}
	switch {
	case string(hdr.key) != key:
		return nil, nil, errNotFound // another key with the same SHA-256
	case expired(hdr.meta.Expires, now):
		s.removeIfSame(h, kindValue, id)
		return nil, nil, errNotFound
	}
	s.accessed(h, kindValue, int64(len(buf)), id, now)
	value := buf[hdr.len:]
	if !st.settled(stampedAt) {
		return value, nil, nil
	}
	me := &memoEntry{stamp: st, fileSize: int64(len(buf)), key: key, value: value, expires: hdr.meta.Expires}
	s.memo.put(h, me)
	return value, me, nil
}

// checkFile decodes the header of b, the whole of a file that should be of
// kind, and checks it and the payload's CRC-32C. It returns errVersion for a
// file of a newer format and errCorrupt for one that fails a check.
func checkFile(b []byte, kind byte) (header, error) {
	hdr, err := parseHeader(b, false)
	switch {
	case errors.Is(err, errVersion):
		return header{}, errVersion
	case err != nil || hdr.kind != kind || int64(hdr.len)+hdr.payloadLen != int64(len(b)) ||
		crc32.Checksum(b[hdr.len:], castagnoli) != hdr.payloadCRC:
		return header{}, errCorrupt
	}
	return hdr, nil
}

// indexedSize is the length the index knows for the file of kind for h, or
// 0.
func (s *Store) indexedSize(h [sha256.Size]byte, kind byte) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.idx.m[h]; e != nil {
		return e.size[kind]
	}
	return 0
}

// Set stores value under key: it writes a temporary file, syncs it to disk
// and renames it over the key's file, so that a reader (or a process that
// starts after a crash) sees the old value or the new one, never a part.
// The value is copied. meta.Size is recorded as len(value). A meta.Expires
// that is not in the future deletes the key (value and stream). A value whose
// file would be larger than MaxBytes is not stored, and the key's previous
// value is deleted; Set then returns nil.
func (s *Store) Set(ctx context.Context, key string, value []byte, meta core.Meta) error {
	if err := s.check(ctx, "set"); err != nil {
		return err
	}
	if err := checkHeaderFields(key, meta); err != nil {
		return fmt.Errorf("filestore: set %q: %w", key, err)
	}
	h := hashKey(key)
	s.memo.drop(h) // the new file has another stamp; free the memory now
	if expired(meta.Expires, s.now()) {
		if err := s.removeFiles(h); err != nil {
			return fmt.Errorf("filestore: set %q: %w", key, err)
		}
		return nil
	}
	meta.Size = int64(len(value))
	hl := headerLen(key, meta)
	size := int64(hl) + int64(len(value))
	if size > s.maxBytes {
		if err := s.removeKind(h, kindValue); err != nil {
			return fmt.Errorf("filestore: set %q: %w", key, err)
		}
		return nil
	}
	crc := crc32.Checksum(value, castagnoli)
	// Small values go out in one write; large ones in two, without a copy.
	inline := len(value) <= 64<<10
	capacity := hl
	if inline {
		capacity += len(value)
	}
	buf := appendHeader(make([]byte, 0, capacity), kindValue, key, meta, int64(len(value)), crc)
	if inline {
		buf = append(buf, value...)
	}
	f, tmp, err := s.createTemp(h)
	if err != nil {
		return fmt.Errorf("filestore: set %q: %w", key, err)
	}
	_, err = f.Write(buf)
	if err == nil && !inline {
		_, err = f.Write(value)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = s.install(h, kindValue, tmp, size)
	}
	if err != nil {
		removeTemp(tmp)
		return fmt.Errorf("filestore: set %q: %w", key, err)
	}
	s.evictIfOver()
	return nil
}

// Delete removes the value and the stream of key. Deleting a missing key is
// not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.check(ctx, "delete"); err != nil {
		return err
	}
	h := hashKey(key)
	s.memo.drop(h)
	if err := s.removeFiles(h); err != nil {
		return fmt.Errorf("filestore: delete %q: %w", key, err)
	}
	return nil
}

// Close stops the background sweep. After Close every other method returns
// ErrClosed; closing again returns nil. Streams opened before Close stay
// readable, and a stream written across Close fails its Commit.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if s.stop != nil {
		close(s.stop)
		<-s.sweeperDone
	}
	s.memo.clear()
	return nil
}

// check returns ErrClosed after Close, and ctx's error (wrapped with op)
// when ctx is done.
func (s *Store) check(ctx context.Context, op string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("filestore: %s: %w", op, err)
	}
	return nil
}

// subdir returns the path of fan-out subdirectory i (0 to 255).
func (s *Store) subdir(i int) string {
	const digits = "0123456789abcdef"
	return s.dir + string(os.PathSeparator) + string([]byte{digits[i>>4], digits[i&15]})
}

// path returns the path of the file of kind for the key hash h.
func (s *Store) path(h [sha256.Size]byte, kind byte) string {
	// Built on the stack when it fits, so that the string is the only
	// allocation.
	var buf [512]byte
	return string(s.appendPath(buf[:0], h, kind))
}

// appendPath appends the path of the file of kind for the key hash h to b.
func (s *Store) appendPath(b []byte, h [sha256.Size]byte, kind byte) []byte {
	b = append(b, s.dir...)
	b = append(b, os.PathSeparator)
	b = hex.AppendEncode(b, h[:1])
	b = append(b, os.PathSeparator)
	b = hex.AppendEncode(b, h[:])
	if kind == kindStream {
		b = append(b, streamSuffix...)
	}
	return b
}

func (s *Store) keyLock(h [sha256.Size]byte) *sync.Mutex { return &s.keyLocks[h[0]] }

// createTemp creates a temporary file in the subdirectory of h, creating the
// subdirectory if needed. Its name carries the process id, and its path is
// registered in liveTemps before the file exists.
func (s *Store) createTemp(h [sha256.Size]byte) (*os.File, string, error) {
	sub := s.subdir(int(h[0]))
	path := sub + string(os.PathSeparator) + tempPrefix + strconv.Itoa(s.pid) + "-" + strconv.FormatUint(rand.Uint64(), 36)
	liveTemps.Store(path, struct{}{})
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(sub, 0o700); err == nil {
			f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		}
	}
	if err != nil {
		liveTemps.Delete(path)
		return nil, "", err
	}
	return f, path, nil
}

// removeTemp removes a temporary file of this process, then unregisters it.
func removeTemp(path string) {
	_ = os.Remove(path)
	liveTemps.Delete(path)
}

// install renames the synced temporary file tmp over the file of kind for
// h and records it in the index, under the key lock.
func (s *Store) install(h [sha256.Size]byte, kind byte, tmp string, size int64) error {
	final := s.path(h, kind)
	kl := s.keyLock(h)
	kl.Lock()
	err := os.Rename(tmp, final)
	if err == nil {
		now := s.now()
		s.mu.Lock()
		e := s.idx.observe(h, kind, size, now)
		s.idx.touch(e, now)
		e.persisted = now
		s.mu.Unlock()
	}
	kl.Unlock()
	if err == nil {
		liveTemps.Delete(tmp)
	}
	return err
}

// removeFiles removes the value and stream files of h and its index entry.
func (s *Store) removeFiles(h [sha256.Size]byte) error {
	kl := s.keyLock(h)
	kl.Lock()
	defer kl.Unlock()
	err := removeMissingOK(s.path(h, kindValue))
	if err2 := removeMissingOK(s.path(h, kindStream)); err == nil {
		err = err2
	}
	s.mu.Lock()
	s.idx.drop(h)
	s.mu.Unlock()
	return err
}

// removeKind removes the file of kind for h.
func (s *Store) removeKind(h [sha256.Size]byte, kind byte) error {
	kl := s.keyLock(h)
	kl.Lock()
	defer kl.Unlock()
	err := removeMissingOK(s.path(h, kind))
	s.mu.Lock()
	s.idx.clearKind(h, kind)
	s.mu.Unlock()
	return err
}

// fileID identifies a file the store opened, so that a later step can tell
// whether a path still names it (and not a newer file renamed over it). The
// zero fileID matches no file.
type fileID struct {
	size int64
	// fi describes the file when it was opened as an *os.File; otherwise,
	// if raw is set (a raw fstat, see rfile), dev and ino identify it.
	fi       os.FileInfo
	raw      bool
	dev, ino uint64
}

// idOf is the fileID of the file fi describes.
func idOf(fi os.FileInfo) fileID { return fileID{size: fi.Size(), fi: fi} }

// same reports whether cur describes the file id identifies.
func (id fileID) same(cur os.FileInfo) bool {
	switch {
	case id.fi != nil:
		return os.SameFile(cur, id.fi)
	case id.raw:
		return sameDevIno(cur, id.dev, id.ino)
	}
	return false
}

// removeIfSame removes the file of kind for h if it is still the file id
// identifies (not a newer one renamed over it meanwhile).
func (s *Store) removeIfSame(h [sha256.Size]byte, kind byte, id fileID) {
	path := s.path(h, kind)
	kl := s.keyLock(h)
	kl.Lock()
	defer kl.Unlock()
	cur, err := os.Stat(path)
	switch {
	case err == nil && id.same(cur):
		if os.Remove(path) != nil {
			return
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return
	}
	s.mu.Lock()
	s.idx.clearKind(h, kind)
	s.mu.Unlock()
}

// forgetMissing drops the file of kind for h from the index when the index
// has it but the file is gone (another process removed it).
func (s *Store) forgetMissing(h [sha256.Size]byte, kind byte) {
	s.mu.Lock()
	e := s.idx.m[h]
	known := e != nil && e.size[kind] > 0
	s.mu.Unlock()
	if !known {
		return
	}
	kl := s.keyLock(h)
	kl.Lock()
	defer kl.Unlock()
	if _, err := os.Stat(s.path(h, kind)); errors.Is(err, fs.ErrNotExist) {
		s.mu.Lock()
		s.idx.clearKind(h, kind)
		s.mu.Unlock()
	}
}

// touchEvery is how often at most the last access of an entry is written to
// its file's modification time.
const touchEvery = time.Minute

// accessed records a read at now of the file of kind for h, size bytes long,
// in the index, and persists the access time as the file's mtime at most
// once per touchEvery. id identifies the file that was read; it is needed
// only when the index does not know the file (with the zero fileID, the
// index learns nothing then).
func (s *Store) accessed(h [sha256.Size]byte, kind byte, size int64, id fileID, now time.Time) {
	s.mu.Lock()
	e := s.idx.m[h]
	if e == nil || e.size[kind] != size {
		// The index does not know this file (another process wrote it, or
		// it changed since): learn it, unless it is already replaced.
		s.mu.Unlock()
		s.reconcile(h, kind, s.path(h, kind), id)
		s.mu.Lock()
		if e = s.idx.m[h]; e == nil {
			s.mu.Unlock()
			return
		}
	}
	s.idx.touch(e, now)
	touch := now.Sub(e.persisted) >= touchEvery
	if touch {
		e.persisted = now
	}
	over := s.idx.total > s.maxBytes
	s.mu.Unlock()
	if touch {
		_ = os.Chtimes(s.path(h, kind), now, now)
	}
	if over {
		s.evictIfOver()
	}
}

// reconcile records the size of the file of kind for h in the index, if
// path still names the file id identifies. Under the key lock, no write of
// this process can change the file between the check and the update.
func (s *Store) reconcile(h [sha256.Size]byte, kind byte, path string, id fileID) {
	kl := s.keyLock(h)
	kl.Lock()
	defer kl.Unlock()
	cur, err := os.Stat(path)
	if err != nil || !id.same(cur) {
		return
	}
	s.mu.Lock()
	s.idx.observe(h, kind, cur.Size(), cur.ModTime())
	s.mu.Unlock()
}

// evictIfOver deletes least recently accessed entries until the indexed
// total is within MaxBytes.
func (s *Store) evictIfOver() {
	for {
		s.mu.Lock()
		victim := s.idx.tail
		if s.idx.total <= s.maxBytes || victim == nil {
			s.mu.Unlock()
			return
		}
		h := victim.h
		s.mu.Unlock()
		_ = s.removeFiles(h) // drops h from the index whatever happens
	}
}

// removeMissingOK removes path; a missing file is not an error.
func removeMissingOK(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// StoreTimeout implements core.TimeoutHinter: a local disk gets 2s per
// operation (an fsync on a loaded disk can take longer than a network
// store's bound, yet a disk that hangs still fails open).
func (s *Store) StoreTimeout() time.Duration { return 2 * time.Second }
