module github.com/hoardhttp/hoard/adapters/retryablehttp

go 1.24.0

require (
	github.com/hashicorp/go-cleanhttp v0.5.2
	github.com/hashicorp/go-retryablehttp v0.7.8
	github.com/hoardhttp/hoard v0.0.0
)

replace github.com/hoardhttp/hoard => ../..
