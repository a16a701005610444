//go:build linux

package filestore

import (
	"crypto/sha256"
	"io/fs"
	"math"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// atFDCWD is AT_FDCWD of Linux (every architecture), which package syscall
// does not export, as a variable: a negative constant cannot be converted to
// a uintptr.
var atFDCWD = -100

// rfile is a file of the store open for reading with raw system calls: on
// Linux os.Open costs five more (two pairs of fcntl to make the descriptor
// non-blocking and back, and an epoll_ctl that a regular file refuses), an
// *os.File with a finalizer and the path twice on the heap. A hit costs
// openat, read and close, and an fstat only when the index does not know
// the file's size (or the file does not have that size).
type rfile struct {
	fd      int
	path    []byte // NUL-terminated, for errors
	statted bool
	st      syscall.Stat_t
}

// openFile opens the file of kind for h for reading, building its path in
// buf (on the caller's stack). A missing file gives an error wrapping
// fs.ErrNotExist.
func (s *Store) openFile(h [sha256.Size]byte, kind byte, buf []byte) (rfile, error) {
	p := append(s.appendPath(buf[:0], h, kind), 0)
	for {
		r, _, errno := syscall.Syscall6(syscall.SYS_OPENAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(&p[0])),
			uintptr(syscall.O_RDONLY|syscall.O_CLOEXEC), 0, 0, 0)
		switch errno {
		case 0:
			return rfile{fd: int(r), path: p}, nil
		case syscall.EINTR:
			continue
		case syscall.ENOENT:
			return rfile{fd: -1}, errno // a miss: no error to build
		}
		f := rfile{fd: -1, path: p}
		return f, f.pathError("open", errno)
	}
}

// close closes the file.
func (f *rfile) close() { _ = syscall.Close(f.fd) }

func (f *rfile) pathError(op string, err error) error {
	return &fs.PathError{Op: op, Path: string(f.path[:len(f.path)-1]), Err: err}
}

// stat fills f.st (once).
func (f *rfile) stat() error {
	for !f.statted {
		err := syscall.Fstat(f.fd, &f.st)
		switch err {
		case nil:
			f.statted = true
		case syscall.EINTR:
		default:
			return f.pathError("stat", err)
		}
	}
	return nil
}

// id identifies the open file, or returns the zero fileID (which matches no
// file) when it cannot be stated.
func (f *rfile) id() fileID {
	if f.stat() != nil {
		return fileID{}
	}
	return fileID{size: f.st.Size, raw: true, dev: uint64(f.st.Dev), ino: uint64(f.st.Ino)}
}

// readChecked reads the whole file, a file of kind, and checks it (see
// checkFile). size is what the index says the file's length is (0 if it
// does not know): one read of size+1 bytes that returns size bytes is the
// whole file, and there is no fstat. Anything else (another length, a
// failed check) is decided from the file's length as fstat gives it, read
// again from the start, so that a size the index got wrong never makes a
// good file corrupt.
func (f *rfile) readChecked(size int64, kind byte) ([]byte, header, error) {
	if size >= fixedLen && size < math.MaxInt {
		buf := make([]byte, size+1)
		for {
			n, err := syscall.Read(f.fd, buf)
			if err == syscall.EINTR {
				continue
			}
			if err == nil && int64(n) == size {
				if hdr, err := checkFile(buf[:n], kind); err != errCorrupt {
					return buf[:n], hdr, err
				}
			}
			break
		}
	}
	if err := f.stat(); err != nil {
		return nil, header{}, err
	}
	if f.st.Size < fixedLen || f.st.Size > math.MaxInt {
		return nil, header{}, errCorrupt
	}
	buf := make([]byte, f.st.Size)
	for n := 0; n < len(buf); {
		m, err := syscall.Pread(f.fd, buf[n:], int64(n))
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return nil, header{}, f.pathError("read", err)
		case m == 0:
			return nil, header{}, errCorrupt // shorter than its size: truncated
		}
		n += m
	}
	hdr, err := checkFile(buf, kind)
	return buf, hdr, err
}

// sameDevIno reports whether fi describes the file with device dev and inode
// ino.
func sameDevIno(fi os.FileInfo, dev, ino uint64) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(st.Dev) == dev && uint64(st.Ino) == ino
}

// memoSupported says that files can be stamped here (see stamp).
const memoSupported = true

// stamp identifies one version of a file: the file (device and inode), its
// length, and its modification and status-change times. A rename over the
// path gives another inode, or a freed one reused; a write in place changes
// the status-change time, which no process can set. The kernel takes file
// times from a clock that moves in ticks of a few milliseconds, and some
// file systems keep them to the second, so two versions written close
// together may carry equal times: a stamp is only trusted (see settled) for
// a file system that keeps times below the second, and for a file whose
// status last changed over stampSettle before the stamp was taken; any
// later change then gives it a later time. The zero stamp matches no file.
type stamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime syscall.Timespec
}

func stampOf(st *syscall.Stat_t) stamp {
	return stamp{dev: uint64(st.Dev), ino: uint64(st.Ino), size: st.Size, mtime: st.Mtim, ctime: st.Ctim}
}

// stamp returns the stamp of the open file (one fstat, shared with id), or
// the zero stamp when it cannot be stated.
func (f *rfile) stamp() stamp {
	if f.stat() != nil {
		return stamp{}
	}
	return stampOf(&f.st)
}

// statStamp returns the stamp of the file of kind for h, building its path
// in buf. A missing file gives an error wrapping fs.ErrNotExist.
func (s *Store) statStamp(h [sha256.Size]byte, kind byte, buf []byte) (stamp, error) {
	p := s.appendPath(buf[:0], h, kind)
	var st syscall.Stat_t
	for {
		switch err := syscall.Stat(unsafe.String(&p[0], len(p)), &st); err {
		case nil:
			return stampOf(&st), nil
		case syscall.EINTR:
			continue
		default:
			return stamp{}, err // ENOENT wraps fs.ErrNotExist
		}
	}
}

// id is the fileID of the file st stamps.
func (st stamp) id() fileID { return fileID{size: st.size, raw: true, dev: st.dev, ino: st.ino} }

// stampSettle is how long ago a file's status must have changed for its
// stamp to be trusted: ten times a tick of the kernel's file clock at its
// coarsest (HZ=100), and ten times the granularity of the coarsest file
// systems this trusts (FAT's 10 ms).
const stampSettle = 100 * time.Millisecond

// settled reports whether st, taken at now, can tell its file from any later
// version of it: the file system keeps times below the second (a
// status-change time of a whole second means it may not: a file system
// with finer times gives one once in 10⁹ files, which are then just not
// kept), and the file's status last changed over stampSettle before now.
func (st stamp) settled(now time.Time) bool {
	return st != (stamp{}) && st.ctime.Nsec != 0 && now.Sub(time.Unix(st.ctime.Unix())) > stampSettle
}
