package dynamostore_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/dynamostore"
)

// Opening the store from a DSN, as configuration files do. OpenStore
// checks the table (DescribeTable) unless lazy=true, as here: then opening
// performs no request, and a table or server that is missing shows later as
// store errors, on which the cache fails open.
func Example_openStore() {
	ctx := context.Background()
	st, err := core.OpenStore(ctx, "dynamodb://http-cache?region=eu-west-1&prefix=app1/&lazy=true")
	if err != nil {
		log.Fatal(err)
	}
	ds := st.(*dynamostore.Store)
	defer ds.Close()
	fmt.Println(ds.Table(), ds.Prefix())
	// Output:
	// http-cache app1/
}

// A cache on a DynamoDB table, created if missing. The client comes from
// the usual AWS configuration (environment, shared files, instance role).
// Not run as a test: it needs AWS credentials and a network.
func Example() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("eu-west-1"))
	if err != nil {
		log.Fatal(err)
	}
	st, err := dynamostore.New(ctx, dynamodb.NewFromConfig(cfg), &dynamostore.Options{
		Table:       "http-cache",
		Prefix:      "app1/",
		CreateTable: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	cache, err := core.New(st, core.WithStoreTimeout(500*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close() // also closes the store

	client := nethttpcache.NewClient(cache, http.DefaultTransport)
	resp, err := client.Get("https://api.example.com/users/1")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status, core.InfoOf(resp).FromCache)
}
