module github.com/hoardhttp/hoard

go 1.24.0

require github.com/dgraph-io/ristretto/v2 v2.4.2
