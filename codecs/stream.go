package codecs

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"

	"github.com/hoardhttp/hoard/core"
)

// Stream protection (core.StreamSealer) of Signed and Encrypted.
//
// The core frames every streamed body into 64 KiB segments and asks the
// codec to seal each one with its index, a final flag (last segment only)
// and associated data binding the stream header (with its random salt),
// the StreamID and the store key. The keys used for segments are derived
// from the entry keys with HKDF-SHA256 under labels of their own, so an
// entry's MAC or ciphertext can never be taken for a segment's, nor the
// other way round.

// Labels of the HKDF derivations of segment keys.
const (
	segmentMACLabel = "hoard/v1/stream-segment/hmac-sha256"
	segmentGCMLabel = "hoard/v1/stream-segment/aes-gcm"
)

// segmentMAC signs the segments of one stream with HMAC-SHA256 under the
// segment key: the tag covers the salt, the index, the final flag, the
// associated data and the plaintext, each of fixed or prefixed length.
type segmentMAC struct {
	h    hash.Hash
	salt []byte
	sum  [sha256.Size]byte
	b    [9]byte // lengths, index and flag, written to h
}

func newSegmentMAC(segKey, salt []byte) *segmentMAC {
	return &segmentMAC{h: hmac.New(sha256.New, segKey), salt: append([]byte(nil), salt...)}
}

func (m *segmentMAC) tag(plain []byte, index uint64, final bool, ad []byte) []byte {
	b := m.b[:]
	m.h.Reset()
	binary.BigEndian.PutUint64(b, uint64(len(m.salt)))
	m.h.Write(b[:8])
	m.h.Write(m.salt)
	binary.BigEndian.PutUint64(b, index)
	b[8] = 0
	if final {
		b[8] = 1
	}
	m.h.Write(b[:9])
	binary.BigEndian.PutUint64(b, uint64(len(ad)))
	m.h.Write(b[:8])
	m.h.Write(ad)
	m.h.Write(plain)
	return m.h.Sum(m.sum[:0])
}

// Seal implements core.SegmentSealer.
func (m *segmentMAC) Seal(seg []byte, index uint64, final bool, ad []byte) []byte {
	return append(seg, m.tag(seg, index, final, ad)...)
}

// Open implements core.SegmentSealer.
func (m *segmentMAC) Open(sealed []byte, index uint64, final bool, ad []byte) ([]byte, error) {
	n := len(sealed) - sha256.Size
	if n < 0 || !hmac.Equal(m.tag(sealed[:n], index, final, ad), sealed[n:]) {
		return nil, corrupt("hmac", "stream segment %d: bad signature", index)
	}
	return sealed[:n], nil
}

// segmentGCM encrypts the segments of one stream with AES-GCM under a key
// of the stream's own, derived from the entry key and the stream's salt;
// the nonce is the segment index and the final flag, unique within the
// stream, so no random nonce limits how much one key encrypts.
type segmentGCM struct {
	aead  cipher.AEAD
	nonce [12]byte
}

func newSegmentGCM(key, salt []byte) (*segmentGCM, error) {
	sk, err := hkdf.Key(sha256.New, key, salt, segmentGCMLabel, len(key))
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(sk)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &segmentGCM{aead: aead}, nil
}

// nonceFor is 3 zero bytes, the big-endian index and the final flag.
func (g *segmentGCM) nonceFor(index uint64, final bool) []byte {
	binary.BigEndian.PutUint64(g.nonce[3:11], index)
	g.nonce[11] = 0
	if final {
		g.nonce[11] = 1
	}
	return g.nonce[:]
}

// Seal implements core.SegmentSealer.
func (g *segmentGCM) Seal(seg []byte, index uint64, final bool, ad []byte) []byte {
	return g.aead.Seal(seg[:0], g.nonceFor(index, final), seg, ad)
}

// Open implements core.SegmentSealer.
func (g *segmentGCM) Open(sealed []byte, index uint64, final bool, ad []byte) ([]byte, error) {
	if len(sealed) < g.aead.Overhead() {
		return nil, corrupt("aes-gcm", "stream segment %d: too short", index)
	}
	plain, err := g.aead.Open(sealed[:0], g.nonceFor(index, final), sealed, ad)
	if err != nil {
		return nil, corrupt("aes-gcm", "stream segment %d: cannot decrypt: tampered, moved or cut", index)
	}
	return plain, nil
}

// StreamProtection implements core.StreamSealer: streams signed by Signed
// carry its format identifier, 0x51.
func (s *Signed) StreamProtection() byte { return idSigned }

// StreamOverhead implements core.StreamSealer: a 32-byte HMAC-SHA256 tag
// per segment.
func (s *Signed) StreamOverhead() int { return sha256.Size }

// SealingStream implements core.StreamSealer: segments are signed with the
// newest key's segment key.
func (s *Signed) SealingStream(salt []byte) (core.SegmentSealer, uint32, error) {
	k := s.keys[0]
	return newSegmentMAC(k.segKey, salt), k.id, nil
}

// OpeningStream implements core.StreamSealer.
func (s *Signed) OpeningStream(keyID uint32, salt []byte) (core.SegmentSealer, error) {
	for _, k := range s.keys {
		if k.id == keyID {
			return newSegmentMAC(k.segKey, salt), nil
		}
	}
	return nil, corrupt("hmac", "stream signed with an unknown key")
}

// Unwrap returns the inner codec, so the cache finds the stream protection
// of codecs Signed wraps (an encrypting one keeps encrypting streams).
func (s *Signed) Unwrap() core.Codec { return s.inner }

// StreamProtection implements core.StreamSealer: streams encrypted by
// Encrypted carry its format identifier, 0xA1.
func (c *Encrypted) StreamProtection() byte { return idEncrypted }

// StreamOverhead implements core.StreamSealer: a 16-byte GCM tag per
// segment.
func (c *Encrypted) StreamOverhead() int { return 16 }

// SealingStream implements core.StreamSealer: the stream's key is derived
// from the newest key and salt with HKDF-SHA256.
func (c *Encrypted) SealingStream(salt []byte) (core.SegmentSealer, uint32, error) {
	k := c.keys[0]
	g, err := newSegmentGCM(k.key, salt)
	if err != nil {
		return nil, 0, err
	}
	return g, k.id, nil
}

// OpeningStream implements core.StreamSealer.
func (c *Encrypted) OpeningStream(keyID uint32, salt []byte) (core.SegmentSealer, error) {
	for _, k := range c.keys {
		if k.id == keyID {
			g, err := newSegmentGCM(k.key, salt)
			if err != nil {
				return nil, corrupt("aes-gcm", "stream key: %v", err)
			}
			return g, nil
		}
	}
	return nil, corrupt("aes-gcm", "stream encrypted with an unknown key")
}

// Unwrap returns the inner codec, so the cache finds the stream protection
// of codecs Encrypted wraps.
func (c *Encrypted) Unwrap() core.Codec { return c.inner }

// Unwrap returns the inner codec: compression leaves streamed bodies as
// they are, so the cache looks for their protection in the codec inside
// (a compressed, encrypted codec keeps encrypting streams).
func (c *Compressed) Unwrap() core.Codec { return c.inner }
