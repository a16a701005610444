//go:build !linux

package filestore

import (
	"crypto/sha256"
	"errors"
	"io"
	"math"
	"os"
	"time"
)

// rfile is a file of the store open for reading.
type rfile struct {
	f  *os.File
	fi os.FileInfo
}

// openFile opens the file of kind for h for reading. A missing file gives
// an error wrapping fs.ErrNotExist. buf is scratch space for the path.
func (s *Store) openFile(h [sha256.Size]byte, kind byte, buf []byte) (rfile, error) {
	f, err := os.Open(string(s.appendPath(buf[:0], h, kind)))
	return rfile{f: f}, err
}

// close closes the file.
func (f *rfile) close() { _ = f.f.Close() }

// stat fills f.fi (once).
func (f *rfile) stat() error {
	if f.fi != nil {
		return nil
	}
	fi, err := f.f.Stat()
	if err != nil {
		return err
	}
	f.fi = fi
	return nil
}

// id identifies the open file, or returns the zero fileID (which matches no
// file) when it cannot be stated.
func (f *rfile) id() fileID {
	if f.stat() != nil {
		return fileID{}
	}
	return idOf(f.fi)
}

// readChecked reads the whole file, a file of kind, into a buffer of its
// exact length, and checks it (see checkFile). size, the length the index
// knows, is not used here.
func (f *rfile) readChecked(size int64, kind byte) ([]byte, header, error) {
	if err := f.stat(); err != nil {
		return nil, header{}, err
	}
	if f.fi.Size() < fixedLen || f.fi.Size() > math.MaxInt {
		return nil, header{}, errCorrupt
	}
	buf := make([]byte, f.fi.Size())
	if _, err := io.ReadFull(f.f, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, header{}, errCorrupt
		}
		return nil, header{}, err
	}
	hdr, err := checkFile(buf, kind)
	return buf, hdr, err
}

// sameDevIno is never needed here: every fileID of this platform carries the
// FileInfo it was made from.
func sameDevIno(os.FileInfo, uint64, uint64) bool { return false }

// memoSupported says that files cannot be stamped here: without the
// status-change time and the inode, a file replaced in place could keep its
// stamp, so the Store keeps no values in process (Options.MemoryBytes).
const memoSupported = false

// stamp is empty here: see memoSupported.
type stamp struct{}

func (f *rfile) stamp() stamp { return stamp{} }

func (s *Store) statStamp([sha256.Size]byte, byte, []byte) (stamp, error) {
	return stamp{}, errors.ErrUnsupported
}

func (st stamp) id() fileID { return fileID{} }

func (st stamp) settled(time.Time) bool { return false }
