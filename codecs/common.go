package codecs

import (
	"fmt"

	"github.com/hoardhttp/hoard/core"
)

// Format identifiers of the codecs and wrappers of this package (see the
// package documentation for the registry).
const (
	idJSON      = '{'
	idGzip      = 0xE1
	idSigned    = 0x51
	idEncrypted = 0xA1
)

// corrupt returns an error wrapping core.ErrCorrupt, prefixed with the
// package and codec names.
func corrupt(codec, format string, args ...any) error {
	return fmt.Errorf("codecs: %s: %w: %s", codec, core.ErrCorrupt, fmt.Sprintf(format, args...))
}

// maxStatus is the largest status code an entry may hold (three digits, as
// core.BinaryCodec enforces).
const maxStatus = 999
