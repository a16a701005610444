module github.com/hoardhttp/hoard/codecs/bsoncodec

go 1.24.0

require (
	github.com/hoardhttp/hoard v0.0.0
	go.mongodb.org/mongo-driver/v2 v2.8.2
)

require github.com/maypok86/otter/v2 v2.4.0 // indirect

replace github.com/hoardhttp/hoard => ../..
