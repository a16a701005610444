// Package zstdcodec is the zstd compression wrapper of hoard (format
// identifier 0xF1), with github.com/klauspost/compress/zstd. It is a module
// of its own so that only users who import it pull that dependency.
//
//	c, err := zstdcodec.New(core.BinaryCodec{}, nil)
//	cache, err := core.New(store, core.WithCodec(c))
//
// The wrapper is a codecs.Compressed: it compresses the inner encoding when
// it is at least MinSize bytes and compression saves space, and bounds what
// a decoded entry may declare (codecs.CompressOptions.MaxDecodedSize), so it
// is safe on bytes from an untrusted store. See package codecs for the
// format registry and the compatibility promise.
package zstdcodec

import (
	"fmt"

	"github.com/hoardhttp/hoard/codecs"
	"github.com/hoardhttp/hoard/core"
	"github.com/klauspost/compress/zstd"
)

// ID is the format identifier byte of the zstd wrapper, version 1.
const ID = 0xF1

// New wraps inner with zstd compression; opts may be nil.
// codecs.CompressOptions.Level is a zstd.EncoderLevel (1 fastest to 4 best
// compression); 0 means zstd.SpeedDefault.
func New(inner core.Codec, opts *codecs.CompressOptions) (*codecs.Compressed, error) {
	level := zstd.SpeedDefault
	if opts != nil && opts.Level != 0 {
		level = zstd.EncoderLevel(opts.Level)
		if level < zstd.SpeedFastest || level > zstd.SpeedBestCompression {
			return nil, fmt.Errorf("zstdcodec: New: level %d outside 1..4", opts.Level)
		}
	}
	// EncodeAll and DecodeAll are safe for concurrent use; the encoder and
	// decoder keep per-goroutine state in their own pools.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderCRC(true), zstd.WithZeroFrames(true))
	if err != nil {
		return nil, fmt.Errorf("zstdcodec: New: %w", err)
	}
	maxSize := 128 << 20
	if opts != nil && opts.MaxDecodedSize > 0 {
		maxSize = opts.MaxDecodedSize
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(uint64(maxSize)+1),
		zstd.WithDecoderMaxWindow(uint64(min(maxSize+1, zstd.MaxWindowSize))),
		zstd.IgnoreChecksum(false))
	if err != nil {
		return nil, fmt.Errorf("zstdcodec: New: %w", err)
	}
	return codecs.NewCompressed(inner, &compression{enc: enc, dec: dec}, opts)
}

// compression is codecs.Compression with zstd.
type compression struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

func (*compression) ID() byte     { return ID }
func (*compression) Name() string { return "zstd" }

func (c *compression) AppendCompressed(dst, src []byte) ([]byte, error) {
	return c.enc.EncodeAll(src, dst), nil
}

func (c *compression) AppendDecompressed(dst, src []byte, limit int) ([]byte, error) {
	start := len(dst)
	out, err := c.dec.DecodeAll(src, dst)
	if err != nil {
		return nil, err
	}
	if len(out)-start > limit {
		return nil, fmt.Errorf("more than the %d bytes declared", limit)
	}
	return out, nil
}
