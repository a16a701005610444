package mongostore_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/mongostore"
)

// A cache shared by every process that uses the same collection. (This
// example needs a MongoDB server, so it has no Output and is compiled but
// not run by go test; the package's tests run the same code against one.)
func Example() {
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:27017/"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Disconnect(ctx)

	store, err := mongostore.New(ctx, client, &mongostore.Options{
		Database:   "myapp",
		Collection: "http_cache", // bodies above 1 MiB go to the GridFS bucket http_cache
	})
	if err != nil {
		log.Fatal(err)
	}
	cache, err := core.New(store,
		core.WithExpireAfter(time.Hour),
		core.WithStoreTimeout(100*time.Millisecond), // a slow database never slows a request down
	)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close() // closes the store; the client stays ours

	httpClient := nethttpcache.NewClient(cache, nil)
	resp, err := httpClient.Get("https://api.example.com/users/1")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(core.InfoOf(resp).FromCache)
}

// Opening the store from a DSN, as configuration files do: hoard's own
// parameters are checked before anything connects, and the rest of the
// string is a MongoDB connection string handed to the driver.
func Example_openStore() {
	_, err := core.OpenStore(context.Background(), "mongodb://127.0.0.1:27017/?database=myapp&colection=http_cache")
	fmt.Println(err)
	// Output:
	// mongostore: DSN "mongodb://127.0.0.1:27017/?database=myapp&colection=http_cache": unknown parameter "colection" (hoard parameters: chunk_size, collection, database, gridfs, lazy, stream_timeout, sweep_interval; anything else must be a MongoDB connection string option)
}

// An http.Client whose cache lives in MongoDB, from one DSN.
func Example_dsn() {
	ctx := context.Background()
	store, err := core.OpenStore(ctx, "mongodb://127.0.0.1:27017/?database=myapp&collection=http_cache&sweep_interval=5m&timeoutMS=2000")
	if err != nil {
		log.Fatal(err)
	}
	cache, err := core.New(store)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close() // a store opened from a DSN disconnects its client
	client := &http.Client{Transport: nethttpcache.NewTransport(cache, http.DefaultTransport)}
	_ = client
}
