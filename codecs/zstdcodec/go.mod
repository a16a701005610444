module github.com/hoardhttp/hoard/codecs/zstdcodec

go 1.24.0

require (
	github.com/hoardhttp/hoard v0.0.0
	github.com/klauspost/compress v1.19.2
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dgraph-io/ristretto/v2 v2.4.2 // indirect
	github.com/dustin/go-humanize v1.0.1 // indirect
	golang.org/x/sys v0.36.0 // indirect
)

replace github.com/hoardhttp/hoard => ../..
