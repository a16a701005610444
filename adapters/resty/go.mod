module github.com/hoardhttp/hoard/adapters/resty

go 1.24.0

require (
	github.com/go-resty/resty/v2 v2.17.2
	github.com/hoardhttp/hoard v0.0.0
)

require (
	github.com/maypok86/otter/v2 v2.4.0 // indirect
	golang.org/x/net v0.43.0 // indirect
)

replace github.com/hoardhttp/hoard => ../..
