module github.com/hoardhttp/hoard/stores/redisstore

go 1.24.0

require (
	github.com/hoardhttp/hoard v0.0.0
	github.com/redis/go-redis/v9 v9.17.3
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dgryski/go-rendezvous v0.0.0-20200823014737-9f7001d12a5f // indirect
	github.com/maypok86/otter/v2 v2.4.0 // indirect
)

replace github.com/hoardhttp/hoard => ../..
