module github.com/hoardhttp/hoard/bench

go 1.24.0

require (
	github.com/bartventer/httpcache v0.5.0
	github.com/gregjones/httpcache v0.0.0-20190611155906-901d90724c79
	github.com/hoardhttp/hoard v0.0.0
	github.com/hoardhttp/hoard/stores/pgstore v0.0.0
	github.com/hoardhttp/hoard/stores/redisstore v0.0.0
	github.com/hoardhttp/hoard/stores/sqlitestore v0.0.0
	github.com/jackc/pgx/v5 v5.8.0
	github.com/redis/go-redis/v9 v9.17.3
	modernc.org/sqlite v1.46.1
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dgryski/go-rendezvous v0.0.0-20200823014737-9f7001d12a5f // indirect
	github.com/dustin/go-humanize v1.0.1 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.2 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/maypok86/otter/v2 v2.4.0 // indirect
	github.com/ncruces/go-strftime v1.0.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	golang.org/x/exp v0.0.0-20251023183803-a4bb9ffd2546 // indirect
	golang.org/x/sync v0.17.0 // indirect
	golang.org/x/sys v0.37.0 // indirect
	golang.org/x/text v0.29.0 // indirect
	modernc.org/libc v1.67.6 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.11.0 // indirect
)

replace (
	github.com/hoardhttp/hoard => ../
	github.com/hoardhttp/hoard/stores/pgstore => ../stores/pgstore
	github.com/hoardhttp/hoard/stores/redisstore => ../stores/redisstore
	github.com/hoardhttp/hoard/stores/sqlitestore => ../stores/sqlitestore
)
