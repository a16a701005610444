package filestore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/hoardhttp/hoard/core"
)

// The file format, version 1. Every value file and every stream file starts
// with a header, all integers little-endian:
//
//	offset  size  field
//	0       4     magic "HDFS"
//	4       1     format version (1)
//	5       1     kind: 1 value, 2 stream
//	6       2     key length K
//	8       2     method length M
//	10      2     reserved, 0
//	12      4     URL length U
//	16      4     status (int32)
//	20      4     flags: 1 Expires set, 2 Created set
//	24      8     Expires, Unix nanoseconds
//	32      8     Created, Unix nanoseconds
//	40      8     Meta.Size
//	48      8     payload length P
//	56      4     CRC-32C of the payload (streams: checked when read to the end)
//	60      K+M+U key, method, URL
//	60+K+M+U 4    CRC-32C of every header byte before it
//
// followed by the P bytes of payload, and nothing else: a file whose length
// is not header + P is truncated or corrupt.
const (
	magic         = "HDFS"
	formatVersion = 1
	kindValue     = 1
	kindStream    = 2
	fixedLen      = 60
	flagExpires   = 1
	flagCreated   = 2
	// maxURLLen bounds the URL length a header may declare, so that a
	// corrupt header cannot make a reader allocate gigabytes.
	maxURLLen = 1 << 20
	// headerPrefix is what List, OpenStream and the sweeper read first; one
	// read is enough for any header with a URL of a few KiB.
	headerPrefix = 4096
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks a file that fails its header or payload check. It wraps
// core.ErrCorrupt, so the cache counts and deletes what the store reports
// with it.
var errCorrupt = fmt.Errorf("file truncated or failing its CRC-32C: %w", core.ErrCorrupt)

// errVersion marks a file written by a newer format version: not served, and
// left alone (an older and a newer program may share a directory).
var errVersion = errors.New("unknown format version")

// header is a decoded file header.
type header struct {
	kind       byte
	key        []byte // aliases the buffer it was parsed from
	meta       core.Meta
	payloadLen int64
	payloadCRC uint32
	len        int // header length in bytes
}

// headerLen is the length of the header for key and meta.
func headerLen(key string, meta core.Meta) int {
	return fixedLen + len(key) + len(meta.Method) + len(meta.URL) + 4
}

// checkHeaderFields reports whether key and meta fit in a header.
func checkHeaderFields(key string, meta core.Meta) error {
	switch {
	case len(key) > 0xffff:
		return errors.New("key longer than 65535 bytes")
	case len(meta.Method) > 0xffff:
		return errors.New("Meta.Method longer than 65535 bytes")
	case len(meta.URL) > maxURLLen:
		return errors.New("Meta.URL longer than 1 MiB")
	}
	return nil
}

// appendHeader appends the header of a file of kind to dst. The caller has
// checked the fields with checkHeaderFields.
func appendHeader(dst []byte, kind byte, key string, meta core.Meta, payloadLen int64, payloadCRC uint32) []byte {
	start := len(dst)
	var flags uint32
	var expires, created int64
	if !meta.Expires.IsZero() {
		flags |= flagExpires
		expires = meta.Expires.UnixNano()
	}
	if !meta.Created.IsZero() {
		flags |= flagCreated
		created = meta.Created.UnixNano()
	}
	dst = append(dst, magic...)
	dst = append(dst, formatVersion, kind)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(key)))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(meta.Method)))
	dst = binary.LittleEndian.AppendUint16(dst, 0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(meta.URL)))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(int32(meta.Status)))
	dst = binary.LittleEndian.AppendUint32(dst, flags)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(expires))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(created))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(meta.Size))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(payloadLen))
	dst = binary.LittleEndian.AppendUint32(dst, payloadCRC)
	dst = append(dst, key...)
	dst = append(dst, meta.Method...)
	dst = append(dst, meta.URL...)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// needHeader returns the header length declared by the fixed part b (at
// least fixedLen bytes), or an error if the fixed part is not a header.
func needHeader(b []byte) (int, error) {
	if len(b) < fixedLen || string(b[:4]) != magic {
		return 0, errCorrupt
	}
	if b[4] != formatVersion {
		if b[4] > formatVersion {
			return 0, errVersion
		}
		return 0, errCorrupt
	}
	k := int(binary.LittleEndian.Uint16(b[6:]))
	m := int(binary.LittleEndian.Uint16(b[8:]))
	u := binary.LittleEndian.Uint32(b[12:])
	if u > maxURLLen {
		return 0, errCorrupt
	}
	return fixedLen + k + m + int(u) + 4, nil
}

// parseHeader decodes the header at the start of b, which must hold all of
// it (needHeader says how long it is). Strings of meta are not filled in
// unless withStrings is set; key always aliases b.
func parseHeader(b []byte, withStrings bool) (header, error) {
	n, err := needHeader(b)
	if err != nil {
		return header{}, err
	}
	if len(b) < n {
		return header{}, errCorrupt
	}
	if crc32.Checksum(b[:n-4], castagnoli) != binary.LittleEndian.Uint32(b[n-4:]) {
		return header{}, errCorrupt
	}
	h := header{kind: b[5], len: n}
	if h.kind != kindValue && h.kind != kindStream {
		return header{}, errCorrupt
	}
	k := int(binary.LittleEndian.Uint16(b[6:]))
	m := int(binary.LittleEndian.Uint16(b[8:]))
	u := int(binary.LittleEndian.Uint32(b[12:]))
	h.key = b[fixedLen : fixedLen+k]
	h.meta.Status = int(int32(binary.LittleEndian.Uint32(b[16:])))
	flags := binary.LittleEndian.Uint32(b[20:])
	if flags&flagExpires != 0 {
		h.meta.Expires = time.Unix(0, int64(binary.LittleEndian.Uint64(b[24:])))
	}
	if flags&flagCreated != 0 {
		h.meta.Created = time.Unix(0, int64(binary.LittleEndian.Uint64(b[32:])))
	}
	h.meta.Size = int64(binary.LittleEndian.Uint64(b[40:]))
	h.payloadLen = int64(binary.LittleEndian.Uint64(b[48:]))
	h.payloadCRC = binary.LittleEndian.Uint32(b[56:])
	if h.payloadLen < 0 {
		return header{}, errCorrupt
	}
	if withStrings {
		h.meta.Method = string(b[fixedLen+k : fixedLen+k+m])
		h.meta.URL = string(b[fixedLen+k+m : fixedLen+k+m+u])
	}
	return h, nil
}

// expired reports whether a deletion time has passed at now.
func expired(expires, now time.Time) bool {
	return !expires.IsZero() && !now.Before(expires)
}

// hashKey is the SHA-256 of key, which names its files.
func hashKey(key string) [sha256.Size]byte {
	// The conversion of a key longer than the compiler's 32-byte temporary
	// would allocate on every call; a key of usual length (core's are about
	// 70 bytes) is copied to the stack instead.
	var buf [256]byte
	if len(key) <= len(buf) {
		return sha256.Sum256(append(buf[:0], key...))
	}
	return sha256.Sum256([]byte(key))
}

// Names of files: the 64 hex digits of the key's hash, in the subdirectory
// named by the first two, with streamSuffix for a stream. Temporary files
// start with tempPrefix and never have one of these names.
const (
	nameLen      = 2 * sha256.Size
	streamSuffix = ".s"
	tempPrefix   = ".tmp-"
)

// parseName tells what a file name in a fan-out subdirectory is: a value or
// a stream (with the key hash), or neither.
func parseName(name string) (h [sha256.Size]byte, kind byte, ok bool) {
	switch {
	case len(name) == nameLen:
		kind = kindValue
	case len(name) == nameLen+len(streamSuffix) && name[nameLen:] == streamSuffix:
		kind = kindStream
	default:
		return h, 0, false
	}
	// Only lower-case hex digits, as the store writes them.
	for i := range nameLen {
		c := name[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return h, 0, false
		}
	}
	if _, err := hex.Decode(h[:], []byte(name[:nameLen])); err != nil {
		return h, 0, false
	}
	return h, kind, true
}
