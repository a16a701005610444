// Package filestore is a persistent core.Store that keeps one file per entry
// under a directory. It survives restarts and crashes, holds bodies of any
// size as streams (core.Streamer) without reading them into memory, can cap
// its size on disk, deletes expired entries in the background, and keeps the
// values it has read in memory behind one stat of their file.
//
// # Options
//
// New takes a directory and an *Options; nil means defaults.
//
//	| Options field | DSN parameter  | default | meaning                                              |
//	|---------------|----------------|---------|------------------------------------------------------|
//	| MaxBytes      | max_bytes      | 1 GiB   | cap on the bytes of value and stream files on disk   |
//	| SweepInterval | sweep_interval | 1m      | pause between background sweeps; off (or < 0): none  |
//	| SweepBatch    | sweep_batch    | 1000    | files one sweep examines at most                     |
//	| MemoryBytes   | memory_bytes   | 8 MiB   | bound on the values kept in process; off (or < 0): none |
//
// # URLs
//
// Importing the package registers the scheme "file" with core.RegisterStore,
// so core.OpenStore accepts
//
//	file:///var/cache/app
//	file:///var/cache/app?max_bytes=1GiB&sweep_interval=1m&sweep_batch=1000
//
// The path must be absolute, as in every file-based DSN of hoard (sqlite://
// too): a relative one would depend on the working directory of whatever
// starts the program. file://dir/x reads "dir" as a host and is an error, as
// is file:dir (only file://localhost/... is accepted as a host). New takes a
// relative directory too, resolved against the working directory when the
// store opens.
// max_bytes takes the sizes core.ParseSize understands ("1GiB", "500MB");
// sweep_interval a Go duration ("30s", "1m") or "off"; memory_bytes a size
// or "off"; 0 means the default for each. The size is always capped (a cache runs inside other programs
// and must not fill their disk); for no practical cap give a huge one
// (max_bytes=1000TiB, or MaxBytes: math.MaxInt64). User information, a fragment, a repeated parameter and any
// unknown parameter are errors.
//
// # Opening and errors
//
// New (and so core.OpenStore) creates the directory with its missing
// parents (mode 0700) and reads what is in it before it returns. Its errors
// wrap core.ErrInvalidConfig for a DSN or option that is wrong and for a
// path that cannot be a cache directory (permission denied, a file in the
// way, a read-only file system), and core.ErrUnavailable for other file
// system errors and for a context that ended. Errors of operations are
// prefixed "filestore:" and carry the operation and the key.
//
// # Layout
//
// A key is never part of a path. The files of a key are named by the 64
// lower-case hex digits of the SHA-256 of the key, in a subdirectory named
// by the first two digits (256 subdirectories, created as needed, mode
// 0700; files are mode 0600):
//
//	dir/3f/3fa9…c2      the value
//	dir/3f/3fa9…c2.s    the stream
//	dir/3f/.tmp-<pid>-… a file being written
//
// Each file starts with a small header: a magic number, the format version,
// the key and the core.Meta, the payload length and CRC-32C checksums; then
// the payload. List and the sweep read only headers. A file that fails its
// checks (truncated, or a CRC-32C mismatch) is removed, and Get and
// OpenStream report it with an error wrapping core.ErrCorrupt, which the
// cache counts in Stats().CorruptErrors and treats as a miss. A stream's
// payload is checked as it is read: a damaged one ends with that error
// instead of io.EOF. A file written by a newer format version is a miss and
// is left alone. Any other file in the directory is ignored.
//
// The header (see format.go for its layout) is what lets the store list,
// expire and check entries without the codec, so a value file is not the
// codec's bytes alone: even with the JSON codec it is not a document jq can
// read as it is (the JSON document follows the header). To read entries, use the hoard command: hoard show
// file:///dir URL prints one (--json as JSON), hoard export all of them.
//
// # Crash safety
//
// Every write goes to a temporary file in the target's subdirectory, is
// synced to disk (fsync), and is then renamed over the target. A reader sees
// the old file or the new one, never a part of one; a process killed while
// writing leaves only its temporary file, which the next New or sweep removes
// (temporary files of a process that is still running are left alone). A
// process killed between committing a stream and writing the value that
// refers to it (the core's order) leaves a stream without a value: New and
// the sweep remove such a stream once it has not been written or read for
// five minutes, instead of keeping it until its expiry. The directory itself
// is not synced after a rename, so after a power failure the latest writes
// may be missing, but never partial.
//
// # Size cap and eviction
//
// The store keeps an in-memory index of its files (size and last access),
// built by scanning the directory at New and updated by every operation. When a write takes the total above MaxBytes, the least
// recently accessed entries (value and stream together) are deleted. The last
// access is persisted as the file's modification time, at most once a
// minute per entry, so that the order survives a restart without a write on
// every hit. A value whose file alone is larger than MaxBytes is not stored
// (Set returns nil); a stream that grows beyond it fails with ErrTooLarge.
//
// The index only decides what to evict: every read goes to the files (see
// Reads kept in memory for the one exception, which checks the file too), so
// a directory shared with another process, or changed by hand, never makes
// the store serve something it should not. Files another process wrote are added
// to the index when the store meets them (on a read or a sweep). The indexed
// length of a file only lets Get read it in one system call: a file of
// another length is read again by its length on disk, never cut short.
//
// # Reads kept in memory
//
// On Linux, the store keeps the values it has read in process, up to
// MemoryBytes (values larger than a quarter of it are not kept), each with
// a stamp of the file it was read from: device, inode, length, and the
// modification and status-change times. A later Get of the key stats the
// file's path (one system call, instead of open, read and close) and, when
// the file still has that stamp, returns the value kept, which the Cache
// also keeps decoded (core.SlotGetter): no read, no CRC check, no decode. A
// file replaced (a rename gives another inode, or a freed one with a new
// status-change time), written in place (that sets the status-change time,
// which no process can set back) or removed, by this process or another, is
// read again. The kernel's file times move in ticks of a few milliseconds,
// and some file systems keep them to the second, so a file is kept only when
// its file system keeps times below the second and its status last changed
// over 100 ms before it is read: a later change close to the first could
// otherwise leave its stamp unchanged. A damaged file is detected when it is
// read from disk; a value kept in memory is the one that passed its checks.
//
// A file system that caches file attributes for other hosts' changes (NFS,
// by default for up to a minute) delays the stat, and so a change made on
// another host, by as long; turn the memory off (memory_bytes=off) for a
// directory shared between hosts. Other systems than Linux keep nothing.
//
// # Expiry
//
// Get, OpenStream and List compare Meta.Expires with the clock and treat an
// expired entry as missing (Get and OpenStream also remove it). A background
// sweep runs every SweepInterval and examines at most SweepBatch files,
// continuing where the previous one stopped: it removes expired entries,
// corrupt files, stale temporary files and streams left without a value.
//
// # Concurrency
//
// A *Store is safe for concurrent use. Reads take no lock; the rename or
// removal of a key's files and the matching index update are serialised per
// key. The slice Get returns is not to be modified: it may be the one kept
// in memory. OpenStream reads from an open file: on
// Unix an open file keeps its contents when it is replaced or deleted, so a
// reader finishes the stream it opened.
//
// After Close, which stops the sweep, every method returns ErrClosed.
package filestore
