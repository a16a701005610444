module github.com/hoardhttp/hoard/adapters/retryablehttp

go 1.24.0

require (
	github.com/hashicorp/go-cleanhttp v0.5.2
	github.com/hashicorp/go-retryablehttp v0.7.8
	github.com/hoardhttp/hoard v0.0.0
)

require (
	github.com/maypok86/otter/v2 v2.4.0 // indirect
	golang.org/x/sys v0.36.0 // indirect
)

replace github.com/hoardhttp/hoard => ../..
