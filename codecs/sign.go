package codecs

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sync"

	"github.com/hoardhttp/hoard/core"
)

// MinSigningKeyLen is the shortest HMAC key NewSigned accepts, in bytes.
const MinSigningKeyLen = 16

// signedHeaderLen is the format byte and the key identifier.
const signedHeaderLen = 1 + keyIDLen

// Signed is a codec wrapper that appends an HMAC-SHA256 signature to the
// inner codec's encoding, so that an entry someone else wrote to the store,
// or changed there, is never served: a tampered, truncated, unsigned or
// unknown-key entry fails to decode with an error wrapping core.ErrCorrupt,
// which the cache treats as a miss (deleted, counted in
// Stats().CorruptErrors).
//
// Its encoding is the format identifier 0x51, the 4-byte identifier of the
// signing key (derived from the key), the inner encoding, and the 32-byte
// HMAC-SHA256 of everything before it. The inner encoding is stored in the
// clear: use NewEncrypted to hide it (encryption also authenticates, so
// signing an encrypted entry adds nothing).
//
// The signature covers the entry's bytes, not the store key it is stored
// under; because Signed is Authenticated, the cache checks that an entry it
// reads was written for the request's method and URL, so a signed entry
// copied over another key is a miss. Putting back an older entry of the same
// key is not detected.
//
// Streamed bodies (see core.SealStream) are signed too: Signed is a
// core.StreamSealer that appends to every 64 KiB segment an HMAC-SHA256,
// under a key derived from the signing key with HKDF-SHA256 for that purpose
// alone, of the segment, its index, a final-segment flag, the stream's salt,
// header, StreamID and store key. The cache checks each segment before
// releasing any of its bytes. Putting back an older entry together with its
// stream is not detected either.
//
// It is safe for concurrent use if the inner codec is.
type Signed struct {
	inner core.Codec
	keys  []signingKey
}

type signingKey struct {
	id   uint32
	pool *sync.Pool // hash.Hash: an HMAC-SHA256 keyed with the key
	// segKey signs the segments of streamed bodies: derived from the key
	// with HKDF under a label of its own (see stream.go).
	segKey []byte
}

// NewSigned wraps inner with HMAC-SHA256 signing. keys lists the keys for
// rotation, newest first: entries are signed with keys[0] and verified with
// whichever key of the list signed them. Each key must be at least
// MinSigningKeyLen (16) bytes; 32 random bytes are recommended. The keys
// are copied.
func NewSigned(inner core.Codec, keys [][]byte) (*Signed, error) {
	if inner == nil {
		return nil, errors.New("codecs: NewSigned: nil codec")
	}
	if len(keys) == 0 {
		return nil, errors.New("codecs: NewSigned: no keys")
	}
	s := &Signed{inner: inner}
	for i, k := range keys {
		if len(k) < MinSigningKeyLen {
			return nil, fmt.Errorf("codecs: NewSigned: key %d is %d bytes, want at least %d", i, len(k), MinSigningKeyLen)
		}
		k := append([]byte(nil), k...)
		segKey, err := hkdf.Key(sha256.New, k, nil, segmentMACLabel, sha256.Size)
		if err != nil {
			return nil, fmt.Errorf("codecs: NewSigned: key %d: %w", i, err)
		}
		s.keys = append(s.keys, signingKey{
			id:     keyID(k, "hmac-sha256"),
			pool:   &sync.Pool{New: func() any { return hmac.New(sha256.New, k) }},
			segKey: segKey,
		})
	}
	return s, nil
}

// mac appends the HMAC of msg with k to dst.
func (k signingKey) mac(dst, msg []byte) []byte {
	h := k.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(msg)
	dst = h.Sum(dst)
	k.pool.Put(h)
	return dst
}

// Encode implements core.Codec.
func (s *Signed) Encode(e *core.Entry) ([]byte, error) {
	inner, err := s.inner.Encode(e)
	if err != nil {
		return nil, err
	}
	k := s.keys[0]
	out := make([]byte, signedHeaderLen, signedHeaderLen+len(inner)+sha256.Size)
	out[0] = idSigned
	binary.BigEndian.PutUint32(out[1:], k.id)
	out = append(out, inner...)
	return k.mac(out, out), nil
}

// Decode implements core.Codec.
func (s *Signed) Decode(data []byte, e *core.Entry) error {
	if len(data) < signedHeaderLen+sha256.Size || data[0] != idSigned {
		return corrupt("hmac", "not a signed entry")
	}
	id := binary.BigEndian.Uint32(data[1:])
	end := len(data) - sha256.Size
	var sum [sha256.Size]byte
	for _, k := range s.keys {
		if k.id != id {
			continue
		}
		if hmac.Equal(k.mac(sum[:0], data[:end]), data[end:]) {
			return s.inner.Decode(data[signedHeaderLen:end:end], e)
		}
	}
	return corrupt("hmac", "bad signature or unknown key")
}

// Authenticated reports that entries cannot be forged without a key: the
// cache then also checks that an entry read under a key was written for the
// request it answers (see core.Authenticated).
func (s *Signed) Authenticated() bool { return true }
