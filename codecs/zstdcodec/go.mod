module github.com/hoardhttp/hoard/codecs/zstdcodec

go 1.24.0

require (
	github.com/hoardhttp/hoard v0.0.0
	github.com/klauspost/compress v1.19.2
)

require github.com/maypok86/otter/v2 v2.4.0 // indirect

replace github.com/hoardhttp/hoard => ../..
