package filestore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hoardhttp/hoard/core"
)

// numSubdirs is the number of fan-out subdirectories, 00 to ff.
const numSubdirs = 256

// tempMaxAge is the age after which any temporary file is removed, even
// one whose writing process still seems alive (process ids are reused).
const tempMaxAge = 24 * time.Hour

// orphanGrace is how long a committed stream may go without a value under
// its key before the sweep (and New) remove it as the leftover of a writer
// that died between committing the stream and writing the value. The core
// writes the value immediately after the commit, so a few minutes leave room
// for a slow store without keeping a dead writer's body until its expiry.
const orphanGrace = 5 * time.Minute

// List yields every live key with its Meta, read from the value files'
// headers (not from the in-memory index), in the order of the key hashes.
// Entries written or deleted meanwhile may or may not appear. Expired
// entries are not yielded; files that fail their header check are removed.
// Streams are not listed: they belong to the value of the same key. On
// error (a cancelled ctx, a closed store, an unreadable directory) List
// yields a zero core.Listed with the error and stops.
func (s *Store) List(ctx context.Context) iter.Seq2[core.Listed, error] {
	return func(yield func(core.Listed, error) bool) {
		if err := s.check(ctx, "list"); err != nil {
			yield(core.Listed{}, err)
			return
		}
		for d := range numSubdirs {
			sub := s.subdir(d)
			entries, err := os.ReadDir(sub)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				yield(core.Listed{}, fmt.Errorf("filestore: list: %w", err))
				return
			}
			for _, de := range entries {
				if err := s.check(ctx, "list"); err != nil {
					yield(core.Listed{}, err)
					return
				}
				h, kind, ok := parseName(de.Name())
				if !ok || kind != kindValue || int(h[0]) != d {
					continue
				}
				item, ok := s.listOne(h)
				if ok && !yield(item, nil) {
					return
				}
			}
		}
	}
}

// listOne reads the key and Meta of the value file of h.
func (s *Store) listOne(h [32]byte) (core.Listed, bool) {
	f, err := os.Open(s.path(h, kindValue))
	if err != nil {
		return core.Listed{}, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return core.Listed{}, false
	}
	hdr, err := readHeader(f, fi.Size(), true)
	switch {
	case errors.Is(err, errVersion):
		return core.Listed{}, false
	case err != nil || hdr.kind != kindValue || int64(hdr.len)+hdr.payloadLen != fi.Size() || hashKey(string(hdr.key)) != h:
		s.removeIfSame(h, kindValue, idOf(fi))
		return core.Listed{}, false
	case expired(hdr.meta.Expires, s.now()):
		return core.Listed{}, false
	}
	return core.Listed{Key: string(hdr.key), Meta: hdr.meta}, true
}

// Clear removes every value and stream file of the directory, and the
// temporary files crashed writers left; files the store did not name are
// left alone. It works from the directory, not from the index.
func (s *Store) Clear(ctx context.Context) error {
	if err := s.check(ctx, "clear"); err != nil {
		return err
	}
	s.memo.clear()
	for d := range numSubdirs {
		if err := s.check(ctx, "clear"); err != nil {
			return err
		}
		sub := s.subdir(d)
		entries, err := os.ReadDir(sub)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return fmt.Errorf("filestore: clear: %w", err)
		}
		for _, de := range entries {
			name := de.Name()
			if strings.HasPrefix(name, tempPrefix) {
				s.removeStaleTemp(sub, de)
				continue
			}
			h, kind, ok := parseName(name)
			if !ok || int(h[0]) != d {
				continue
			}
			if err := s.removeKind(h, kind); err != nil {
				return fmt.Errorf("filestore: clear: %w", err)
			}
		}
	}
	return nil
}

// scan builds the index from the directory at New and removes stale
// temporary files.
func (s *Store) scan() error {
	for d := range numSubdirs {
		sub := s.subdir(d)
		entries, err := os.ReadDir(sub)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return fmt.Errorf("filestore: open: %w", err)
		}
		for _, de := range entries {
			name := de.Name()
			if strings.HasPrefix(name, tempPrefix) {
				s.removeStaleTemp(sub, de)
				continue
			}
			h, kind, ok := parseName(name)
			if !ok || int(h[0]) != d {
				continue
			}
			fi, err := de.Info()
			if err != nil {
				continue // removed meanwhile
			}
			if kind == kindStream && s.removeIfOrphan(h, fi) {
				continue
			}
			e := s.idx.observe(h, kind, fi.Size(), fi.ModTime())
			if t := fi.ModTime(); t.After(e.atime) {
				e.atime, e.persisted = t, t
			}
		}
	}
	s.idx.reorder()
	return nil
}

// sweeper runs sweepOnce every interval until Close.
func (s *Store) sweeper(interval time.Duration) {
	defer close(s.sweeperDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sweepOnce()
		}
	}
}

// stopped reports whether Close has been called.
func (s *Store) stopped() bool { return s.closed.Load() }

// sweepOnce examines at most Options.SweepBatch files, continuing from where
// the previous sweep stopped and going round the subdirectories at most
// once: expired and corrupt entries and stale temporary files are removed,
// and files the index does not know (written by another process) are added
// to it. It returns the number of files examined.
func (s *Store) sweepOnce() int {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	budget := s.opts.SweepBatch
	examined := 0
	for range numSubdirs {
		sub := s.subdir(s.cursorDir)
		entries, err := os.ReadDir(sub)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			slog.Warn("filestore: sweep", "dir", sub, "err", err)
		}
		// Entries are sorted by name: resume after the cursor.
		i, _ := slices.BinarySearchFunc(entries, s.cursorName, func(de fs.DirEntry, name string) int {
			return strings.Compare(de.Name(), name)
		})
		if i < len(entries) && entries[i].Name() == s.cursorName {
			i++
		}
		for ; i < len(entries); i++ {
			if examined >= budget || s.stopped() {
				s.evictIfOver()
				return examined
			}
			s.examine(sub, s.cursorDir, entries[i])
			s.cursorName = entries[i].Name()
			examined++
		}
		s.cursorDir = (s.cursorDir + 1) % numSubdirs
		s.cursorName = ""
		if examined >= budget || s.stopped() {
			break
		}
	}
	s.evictIfOver()
	return examined
}

// examine is the sweep of one directory entry of fan-out subdirectory d.
func (s *Store) examine(sub string, d int, de fs.DirEntry) {
	name := de.Name()
	if strings.HasPrefix(name, tempPrefix) {
		s.removeStaleTemp(sub, de)
		return
	}
	h, kind, ok := parseName(name)
	if !ok || int(h[0]) != d {
		return
	}
	f, err := os.Open(sub + string(os.PathSeparator) + name)
	if err != nil {
		return
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return
	}
	hdr, err := readHeader(f, fi.Size(), false)
	f.Close()
	switch {
	case errors.Is(err, errVersion):
	case err != nil || hdr.kind != kind || int64(hdr.len)+hdr.payloadLen != fi.Size() || hashKey(string(hdr.key)) != h,
		expired(hdr.meta.Expires, s.now()):
		s.removeIfSame(h, kind, idOf(fi))
		return
	}
	if kind == kindStream && s.removeIfOrphan(h, fi) {
		return
	}
	s.mu.Lock()
	e := s.idx.m[h]
	known := e != nil && e.size[kind] == fi.Size()
	s.mu.Unlock()
	if !known {
		s.reconcile(h, kind, sub+string(os.PathSeparator)+name, idOf(fi))
	}
}

// removeIfOrphan removes the stream file of h, which fi describes, when it
// was last written or read more than orphanGrace ago and its key has no
// value: no entry can refer to it. Under the key lock no write of this
// process can install the value in between; a value another process
// installs at that moment finds its stream gone, which the core treats as a
// miss.
func (s *Store) removeIfOrphan(h [sha256.Size]byte, fi os.FileInfo) bool {
	if s.now().Sub(fi.ModTime()) < orphanGrace {
		return false
	}
	kl := s.keyLock(h)
	kl.Lock()
	defer kl.Unlock()
	if _, err := os.Lstat(s.path(h, kindValue)); !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	path := s.path(h, kindStream)
	if cur, err := os.Stat(path); err != nil || !os.SameFile(cur, fi) || os.Remove(path) != nil {
		return false
	}
	s.mu.Lock()
	s.idx.clearKind(h, kindStream)
	s.mu.Unlock()
	return true
}

// removeStaleTemp removes the temporary file de of sub if no live writer
// owns it: one of this process that no writer has registered, one of a
// process that no longer runs, or any older than tempMaxAge.
func (s *Store) removeStaleTemp(sub string, de fs.DirEntry) {
	path := sub + string(os.PathSeparator) + de.Name()
	if _, live := liveTemps.Load(path); live {
		return
	}
	stale := false
	pid, ok := tempPID(de.Name())
	switch {
	case ok && pid == s.pid:
		stale = true
	case ok && !processAlive(pid):
		stale = true
	default:
		if fi, err := de.Info(); err == nil && time.Since(fi.ModTime()) > tempMaxAge {
			stale = true
		}
	}
	if stale {
		_ = os.Remove(path)
	}
}

// tempPID extracts the process id from a temporary file name
// ".tmp-<pid>-<random>".
func tempPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, tempPrefix)
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}
