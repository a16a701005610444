//go:build !linux

package filestore

import (
	"crypto/sha256"
	"errors"
	"io"
	"math"
	"os"
)

// readFile reads the whole file of kind for h into a buffer of the file's
// exact size. A file shorter than a header, or that ends before its size,
// gives errCorrupt; a missing one an error wrapping fs.ErrNotExist. The
// returned fileID identifies the file that was read (also with errCorrupt).
func (s *Store) readFile(h [sha256.Size]byte, kind byte) ([]byte, fileID, error) {
	f, err := os.Open(s.path(h, kind))
	if err != nil {
		return nil, fileID{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileID{}, err
	}
	id := idOf(fi)
	if fi.Size() < fixedLen || fi.Size() > math.MaxInt {
		return nil, id, errCorrupt
	}
	buf := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, id, errCorrupt
		}
		return nil, id, err
	}
	return buf, id, nil
}

// sameDevIno is never needed here: every fileID of this platform carries the
// FileInfo it was made from.
func sameDevIno(os.FileInfo, uint64, uint64) bool { return false }
