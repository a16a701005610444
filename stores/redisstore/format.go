package redisstore

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/hoardhttp/hoard/core"
)

// A stored Redis value is a small header carrying the entry's core.Meta,
// followed by the value the core gave Set, so that Get needs one GET and
// List can read the Meta with a short GETRANGE:
//
//	byte 0        format version (formatVersion)
//	uvarint       n, the length of the header body that follows
//	header body   (n bytes)
//	  varint      Expires as Unix nanoseconds, 0 for none
//	  varint      Created as Unix nanoseconds, 0 for the zero time
//	  uvarint     Status
//	  uvarint     length of the value, in bytes
//	  uvarint     length of Method, then Method
//	  uvarint     length of URL, then URL
//	value         the rest
//
// Fields added by a later format go at the end of the header body, so a
// reader skips what it does not know by its length; a different version
// byte is a value this package cannot read, which Get and List treat as
// corrupt.
const formatVersion = 1

// listProbe is how many bytes of each value List reads first with
// GETRANGE; a header longer than that (a URL of more than about 450 bytes)
// costs a second GETRANGE for that key.
const listProbe = 512

// errCorrupt reports a value whose header cannot be read.
var errCorrupt = errors.New("redisstore: value has no readable header (written by something else, or an unknown format)")

// header is the decoded header of a stored value.
type header struct {
	meta core.Meta
	// bodyAt is the offset of the value in the stored bytes.
	bodyAt int
}

// unixNano converts t to Unix nanoseconds, the zero time to 0.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnixNano is the inverse of unixNano.
func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// encode returns the stored form of value with meta: header, then value, in
// one new slice.
func encode(value []byte, meta core.Meta) []byte {
	var fixed [5 * binary.MaxVarintLen64]byte
	f := binary.AppendVarint(fixed[:0], unixNano(meta.Expires))
	f = binary.AppendVarint(f, unixNano(meta.Created))
	f = binary.AppendUvarint(f, uint64(max(meta.Status, 0)))
	f = binary.AppendUvarint(f, uint64(len(value)))
	f = binary.AppendUvarint(f, uint64(len(meta.Method)))
	hdrLen := len(f) + len(meta.Method) + uvarintLen(uint64(len(meta.URL))) + len(meta.URL)
	out := make([]byte, 0, 1+uvarintLen(uint64(hdrLen))+hdrLen+len(value))
	out = append(out, formatVersion)
	out = binary.AppendUvarint(out, uint64(hdrLen))
	out = append(out, f...)
	out = append(out, meta.Method...)
	out = binary.AppendUvarint(out, uint64(len(meta.URL)))
	out = append(out, meta.URL...)
	return append(out, value...)
}

// uvarintLen is the length of x encoded as a uvarint.
func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// bodyOffset returns where the value starts in data and the header body,
// without decoding the header. needed > 0 means data is a prefix too short
// to hold the header, which ends at byte needed.
func bodyOffset(data []byte) (at int, hdr []byte, needed int, err error) {
	if len(data) < 2 || data[0] != formatVersion {
		return 0, nil, 0, errCorrupt
	}
	n, k := binary.Uvarint(data[1:])
	if k <= 0 {
		if k == 0 && len(data) < 1+binary.MaxVarintLen64 {
			// The length itself is cut off: ask for the longest possible one.
			return 0, nil, 1 + binary.MaxVarintLen64, nil
		}
		return 0, nil, 0, errCorrupt
	}
	if n > 1<<30 {
		return 0, nil, 0, errCorrupt
	}
	at = 1 + k + int(n)
	if at > len(data) {
		return 0, nil, at, nil
	}
	return at, data[1+k : at], 0, nil
}

// decodeHeader decodes the header at the start of data, which may be a
// prefix of the stored bytes (as List reads it). needed > 0 means data is
// too short and the header ends at byte needed.
func decodeHeader(data []byte) (h header, needed int, err error) {
	at, b, needed, err := bodyOffset(data)
	if err != nil || needed > 0 {
		return header{}, needed, err
	}
	h.bodyAt = at
	var (
		fields [4]uint64
		vals   [2]int64
	)
	for i := range vals {
		v, k := binary.Varint(b)
		if k <= 0 {
			return header{}, 0, errCorrupt
		}
		vals[i], b = v, b[k:]
	}
	for i := range 3 {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return header{}, 0, errCorrupt
		}
		fields[i], b = v, b[k:]
	}
	if fields[2] > uint64(len(b)) {
		return header{}, 0, errCorrupt
	}
	method := string(b[:fields[2]])
	b = b[fields[2]:]
	urlLen, k := binary.Uvarint(b)
	if k <= 0 || urlLen > uint64(len(b)-k) {
		return header{}, 0, errCorrupt
	}
	url := string(b[k : k+int(urlLen)])
	if fields[0] > 1<<31 || fields[1] > 1<<40 {
		return header{}, 0, errCorrupt
	}
	h.meta = core.Meta{
		Expires: fromUnixNano(vals[0]),
		Created: fromUnixNano(vals[1]),
		Status:  int(fields[0]),
		Size:    int64(fields[1]),
		Method:  method,
		URL:     url,
	}
	return h, 0, nil
}

// expiresAt reads only the deletion time from a whole stored value, for Get.
func expiresAt(hdr []byte) (int64, error) {
	v, k := binary.Varint(hdr)
	if k <= 0 {
		return 0, errCorrupt
	}
	return v, nil
}
