module github.com/hoardhttp/hoard/codecs/yamlcodec

go 1.24.0

require (
	github.com/hoardhttp/hoard v0.0.0
	go.yaml.in/yaml/v3 v3.0.6
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dgraph-io/ristretto/v2 v2.4.2 // indirect
	github.com/dustin/go-humanize v1.0.1 // indirect
	golang.org/x/sys v0.36.0 // indirect
)

replace github.com/hoardhttp/hoard => ../..
