package codecs

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
)

// keyIDLen is the length of the key identifier in signed and encrypted
// encodings.
const keyIDLen = 4

// keyID derives the identifier written next to a signature or ciphertext
// from the key itself (an HMAC of a fixed label, so it reveals nothing
// useful about the key): rotating keys needs no identifiers to be managed,
// and a decoder tries only the keys whose identifier matches.
func keyID(key []byte, purpose string) uint32 {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("hoard key id/" + purpose))
	return binary.BigEndian.Uint32(m.Sum(nil))
}
