//go:build linux

package filestore

import (
	"crypto/sha256"
	"io/fs"
	"math"
	"os"
	"syscall"
	"unsafe"
)

// atFDCWD is AT_FDCWD of Linux (every architecture), which package syscall
// does not export, as a variable: a negative constant cannot be converted to
// a uintptr.
var atFDCWD = -100

// readFile reads the whole file of kind for h with four system calls
// (openat, fstat, read, close) into a buffer of the file's exact size, the
// only allocation. os.Open would cost five more calls on Linux (two pairs of
// fcntl to make the descriptor non-blocking and back, and an epoll_ctl that
// a regular file refuses), an *os.File with a finalizer, a FileInfo and the
// path twice on the heap. The path is built on the stack.
//
// A file shorter than a header, or that ends before its size, gives
// errCorrupt; a missing one an error wrapping fs.ErrNotExist. The returned
// fileID identifies the file that was read (also with errCorrupt).
func (s *Store) readFile(h [sha256.Size]byte, kind byte) ([]byte, fileID, error) {
	var pbuf [512]byte
	p := append(s.appendPath(pbuf[:0], h, kind), 0)
	var fd int
	for {
		r, _, errno := syscall.Syscall6(syscall.SYS_OPENAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(&p[0])),
			uintptr(syscall.O_RDONLY|syscall.O_CLOEXEC), 0, 0, 0)
		if errno == 0 {
			fd = int(r)
			break
		}
		if errno == syscall.ENOENT {
			return nil, fileID{}, errno // a miss: no path to build
		}
		if errno != syscall.EINTR {
			return nil, fileID{}, &fs.PathError{Op: "open", Path: string(p[:len(p)-1]), Err: errno}
		}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	for {
		err := syscall.Fstat(fd, &st)
		if err == nil {
			break
		}
		if err != syscall.EINTR {
			return nil, fileID{}, &fs.PathError{Op: "stat", Path: string(p[:len(p)-1]), Err: err}
		}
	}
	id := fileID{size: st.Size, dev: uint64(st.Dev), ino: uint64(st.Ino)}
	if st.Size < fixedLen || st.Size > math.MaxInt {
		return nil, id, errCorrupt
	}
	buf := make([]byte, st.Size)
	for n := 0; n < len(buf); {
		m, err := syscall.Read(fd, buf[n:])
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return nil, id, &fs.PathError{Op: "read", Path: string(p[:len(p)-1]), Err: err}
		case m == 0:
			return nil, id, errCorrupt // shorter than its size: truncated
		}
		n += m
	}
	return buf, id, nil
}

// sameDevIno reports whether fi describes the file with device dev and inode
// ino.
func sameDevIno(fi os.FileInfo, dev, ino uint64) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(st.Dev) == dev && uint64(st.Ino) == ino
}
