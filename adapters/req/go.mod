module github.com/hoardhttp/hoard/adapters/req

go 1.24.0

require (
	github.com/hoardhttp/hoard v0.0.0
	github.com/imroc/req/v3 v3.58.0
)

require (
	github.com/andybalholm/brotli v1.2.0 // indirect
	github.com/google/go-querystring v1.1.0 // indirect
	github.com/icholy/digest v1.1.0 // indirect
	github.com/klauspost/compress v1.18.2 // indirect
	github.com/maypok86/otter/v2 v2.4.0 // indirect
	github.com/quic-go/qpack v0.6.0 // indirect
	github.com/quic-go/quic-go v0.59.0 // indirect
	github.com/refraction-networking/utls v1.8.2 // indirect
	golang.org/x/crypto v0.46.0 // indirect
	golang.org/x/net v0.48.0 // indirect
	golang.org/x/sys v0.39.0 // indirect
	golang.org/x/text v0.32.0 // indirect
)

replace github.com/hoardhttp/hoard => ../..
