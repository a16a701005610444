module github.com/hoardhttp/hoard/examples

go 1.24.0

require (
	github.com/go-resty/resty/v2 v2.17.2
	github.com/hashicorp/go-retryablehttp v0.7.8
	github.com/hoardhttp/hoard v0.0.0
	github.com/hoardhttp/hoard/adapters/req v0.0.0
	github.com/hoardhttp/hoard/adapters/resty v0.0.0
	github.com/hoardhttp/hoard/adapters/retryablehttp v0.0.0
	github.com/hoardhttp/hoard/stores/sqlitestore v0.0.0
	github.com/imroc/req/v3 v3.58.0
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/maypok86/otter/v2 v2.4.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/client_model v0.6.2 // indirect
	github.com/prometheus/common v0.66.1 // indirect
	github.com/prometheus/procfs v0.16.1 // indirect
	go.yaml.in/yaml/v2 v2.4.2 // indirect
	google.golang.org/protobuf v1.36.8 // indirect
)

require (
	github.com/andybalholm/brotli v1.2.0 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dustin/go-humanize v1.0.1 // indirect
	github.com/google/go-querystring v1.1.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/hashicorp/go-cleanhttp v0.5.2 // indirect
	github.com/hoardhttp/hoard/observe/promhoard v0.0.0
	github.com/icholy/digest v1.1.0 // indirect
	github.com/klauspost/compress v1.18.2 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/ncruces/go-strftime v1.0.0 // indirect
	github.com/prometheus/client_golang v1.23.2
	github.com/quic-go/qpack v0.6.0 // indirect
	github.com/quic-go/quic-go v0.59.0 // indirect
	github.com/refraction-networking/utls v1.8.2 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	golang.org/x/crypto v0.46.0 // indirect
	golang.org/x/exp v0.0.0-20251023183803-a4bb9ffd2546 // indirect
	golang.org/x/net v0.48.0 // indirect
	golang.org/x/sys v0.39.0 // indirect
	golang.org/x/text v0.32.0 // indirect
	modernc.org/libc v1.67.6 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.11.0 // indirect
	modernc.org/sqlite v1.46.1 // indirect
)

replace (
	github.com/hoardhttp/hoard => ../
	github.com/hoardhttp/hoard/adapters/req => ../adapters/req
	github.com/hoardhttp/hoard/adapters/resty => ../adapters/resty
	github.com/hoardhttp/hoard/adapters/retryablehttp => ../adapters/retryablehttp
	github.com/hoardhttp/hoard/observe/promhoard => ../observe/promhoard
	github.com/hoardhttp/hoard/stores/sqlitestore => ../stores/sqlitestore
)
