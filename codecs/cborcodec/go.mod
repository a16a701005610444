module github.com/hoardhttp/hoard/codecs/cborcodec

go 1.24.0

require (
	github.com/fxamacker/cbor/v2 v2.9.6
	github.com/hoardhttp/hoard v0.0.0
)

require (
	github.com/maypok86/otter/v2 v2.4.0 // indirect
	github.com/x448/float16 v0.8.4 // indirect
)

replace github.com/hoardhttp/hoard => ../..
