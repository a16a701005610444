package dynamostore

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DynamoDB string attributes must be valid UTF-8, and core keys are arbitrary
// bytes. encodeKey maps every key to a valid UTF-8 string, one to one: a
// printable rune other than '%' stands for itself, and every other byte (a
// control character, '%', or a byte of an invalid UTF-8 sequence) becomes
// "%XX" with two upper-case hex digits. A key of 512 bytes encodes to at most
// 1536 bytes, well under DynamoDB's 2048-byte partition-key limit.
//
// Chunk items append chunkSep, a sequence that no encoded key contains ('%'
// followed by something other than a hex digit), so a chunk's partition key
// never equals an entry's.

const hexDigits = "0123456789ABCDEF"

// chunkSep separates an encoded entry key from the generation and index of
// one of its chunks.
const chunkSep = "%!"

// encodeKey returns the partition-key form of key (without the prefix).
func encodeKey(key string) string {
	clean := true
	for i := 0; i < len(key); {
		r, size := utf8.DecodeRuneInString(key[i:])
		if !plainRune(r, size) {
			clean = false
			break
		}
		i += size
	}
	if clean {
		return key
	}
	var b strings.Builder
	b.Grow(len(key) + 16)
	for i := 0; i < len(key); {
		r, size := utf8.DecodeRuneInString(key[i:])
		if plainRune(r, size) {
			b.WriteString(key[i : i+size])
			i += size
			continue
		}
		c := key[i]
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
		i++
	}
	return b.String()
}

// plainRune reports whether the rune r, of size bytes, is copied as it is.
func plainRune(r rune, size int) bool {
	if r == utf8.RuneError && size <= 1 {
		return false // an invalid byte
	}
	return r >= 0x20 && r != 0x7f && r != '%' && !(r >= 0x80 && r < 0xa0)
}

var errBadKey = errors.New("dynamostore: malformed partition key")

// decodeKey reverses encodeKey.
func decodeKey(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) {
			return "", errBadKey
		}
		hi, lo := unhex(s[i+1]), unhex(s[i+2])
		if hi < 0 || lo < 0 {
			return "", errBadKey
		}
		b.WriteByte(byte(hi<<4 | lo))
		i += 2
	}
	return b.String(), nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// chunkKey is the partition key of chunk i of generation gen of the entry
// whose partition key is pk.
func chunkKey(pk, gen string, i int) string {
	return pk + chunkSep + gen + "/" + strconv.Itoa(i)
}
