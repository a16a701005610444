package codecs

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hoardhttp/hoard/core"
)

// encryptedHeaderLen is the format byte and the key identifier, which are
// also the additional authenticated data.
const encryptedHeaderLen = 1 + keyIDLen

// Encrypted is a codec wrapper that encrypts the inner codec's encoding
// with AES-GCM, so that the entries the store holds (the responses, their
// header fields and the request URL inside the entry) are not in the clear.
// The store still sees what the cache tells it besides the bytes: the key
// (a hash), and the core.Meta it records to expire and list entries, which
// holds the redacted URL, the method, the status and the times. GCM also
// authenticates: a tampered, truncated,
// unencrypted or unknown-key entry fails to decode with an error wrapping
// core.ErrCorrupt, which the cache treats as a miss (deleted, counted in
// Stats().CorruptErrors); no separate signature is needed.
//
// Its encoding is the format identifier 0xA1, the 4-byte identifier of the
// key (derived from the key), a random 12-byte nonce, and the ciphertext
// with its 16-byte tag; the first five bytes are authenticated with it.
// With random nonces a key should encrypt at most about 2³² entries: rotate
// keys long before that.
//
// As with Signed, the ciphertext itself is not bound to the store key, but
// the cache checks that an entry it reads with an Authenticated codec was
// written for the request's method and URL, so an entry copied over another
// key is a miss; putting back an older entry of the same key is not
// detected. Nobody without a key can read or forge an entry. Compress before encrypting
// (NewEncrypted(NewGzip(...))) when the entries compress; encrypted bytes
// do not.
//
// Streamed bodies (see core.SealStream) are encrypted too: Encrypted is a
// core.StreamSealer that encrypts every 64 KiB segment with AES-GCM under a
// key of the stream's own, derived with HKDF-SHA256 from the entry key and
// the stream's random salt, with the segment index and a final-segment flag
// as the nonce and the stream's header, StreamID and store key as
// associated data. No byte of a body reaches the store in clear, and a
// segment changed, moved to another place, stream or key, or a stream cut
// short, fails to decrypt before any of its bytes are released. The
// stream's length, and so the body's, is visible.
//
// It is safe for concurrent use if the inner codec is.
type Encrypted struct {
	inner core.Codec
	keys  []aeadKey
}

type aeadKey struct {
	id   uint32
	aead cipher.AEAD
	key  []byte // a copy of the key, from which stream keys are derived
}

// NewEncrypted wraps inner with AES-GCM encryption. keys lists the keys for
// rotation, newest first: entries are encrypted with keys[0] and decrypted
// with whichever key of the list encrypted them. Each key is 16, 24 or 32
// bytes (AES-128, AES-192, AES-256); 32 random bytes are recommended.
func NewEncrypted(inner core.Codec, keys [][]byte) (*Encrypted, error) {
	if inner == nil {
		return nil, errors.New("codecs: NewEncrypted: nil codec")
	}
	if len(keys) == 0 {
		return nil, errors.New("codecs: NewEncrypted: no keys")
	}
	c := &Encrypted{inner: inner}
	for i, k := range keys {
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("codecs: NewEncrypted: key %d: %w", i, err)
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("codecs: NewEncrypted: key %d: %w", i, err)
		}
		c.keys = append(c.keys, aeadKey{id: keyID(k, "aes-gcm"), aead: aead, key: append([]byte(nil), k...)})
	}
	return c, nil
}

// Encode implements core.Codec.
func (c *Encrypted) Encode(e *core.Entry) ([]byte, error) {
	plain, err := c.inner.Encode(e)
	if err != nil {
		return nil, err
	}
	k := c.keys[0]
	var hdr [encryptedHeaderLen]byte
	hdr[0] = idEncrypted
	binary.BigEndian.PutUint32(hdr[1:], k.id)
	out := make([]byte, 0, encryptedHeaderLen+len(plain)+k.aead.Overhead())
	out = append(out, hdr[:]...)
	// Seal with a random nonce, which it writes before the ciphertext; the
	// header is authenticated with it.
	return k.aead.Seal(out, nil, plain, hdr[:]), nil
}

// Decode implements core.Codec.
func (c *Encrypted) Decode(data []byte, e *core.Entry) error {
	if len(data) < encryptedHeaderLen || data[0] != idEncrypted {
		return corrupt("aes-gcm", "not an encrypted entry")
	}
	id := binary.BigEndian.Uint32(data[1:])
	for _, k := range c.keys {
		if k.id != id || len(data) < encryptedHeaderLen+k.aead.Overhead() {
			continue
		}
		plain, err := k.aead.Open(nil, nil, data[encryptedHeaderLen:], data[:encryptedHeaderLen])
		if err == nil {
			return c.inner.Decode(plain, e)
		}
	}
	return corrupt("aes-gcm", "cannot decrypt: tampered, or encrypted with an unknown key")
}

// Authenticated reports that entries cannot be forged without a key: the
// cache then also checks that an entry read under a key was written for the
// request it answers (see core.Authenticated).
func (c *Encrypted) Authenticated() bool { return true }
