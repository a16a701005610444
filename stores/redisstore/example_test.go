package redisstore_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/redisstore"
)

// A cache shared by every process that uses the same Redis, through
// net/http. It needs a Redis server, so it is compiled but not run here.
func Example() {
	client := redis.NewClient(&redis.Options{
		Addr: "127.0.0.1:6379",
		// Lets core.WithStoreTimeout cut off a server that does not answer.
		ContextTimeoutEnabled: true,
	})
	defer client.Close()
	// New checks the server with a PING, bounded by core.DefaultOpenTimeout.
	store, err := redisstore.New(context.Background(), client, &redisstore.Options{KeyPrefix: "myapp:http:"})
	if err != nil {
		log.Fatal(err)
	}
	cache, err := core.New(store,
		core.WithExpireAfter(time.Hour),
		core.WithStoreTimeout(200*time.Millisecond), // a slow Redis never slows a request
	)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	httpClient := nethttpcache.NewClient(cache, nil)
	resp, err := httpClient.Get("https://api.example.com/users/1")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(core.InfoOf(resp).FromCache)
}

// Opening the store from a DSN, as configuration files do. With lazy=true
// nothing is sent to the server until the store is used, so the program
// starts even while Redis is down; without it, OpenStore checks the server.
func Example_openStore() {
	st, err := core.OpenStore(context.Background(), "redis://127.0.0.1:6379/0?prefix=myapp:http:&scan_count=500&lazy=true")
	if err != nil {
		log.Fatal(err)
	}
	rs := st.(*redisstore.Store)
	defer rs.Close() // closes the client the DSN opener made
	fmt.Println(rs.KeyPrefix(), rs.ScanCount())
	// Output:
	// myapp:http: 500
}

// Opening a store over a Redis Cluster from a DSN: the host and each addr
// parameter are seed nodes. lazy=true: nothing is sent until the store is
// used.
func Example_openCluster() {
	st, err := core.OpenStore(context.Background(),
		"redis+cluster://10.0.0.1:6379?addr=10.0.0.2:6379&addr=10.0.0.3:6379&prefix={myapp}:&lazy=true")
	if err != nil {
		log.Fatal(err)
	}
	rs := st.(*redisstore.Store)
	defer rs.Close()
	fmt.Println(rs.KeyPrefix(), rs.Client().(*redis.ClusterClient).Options().Addrs)
	// Output:
	// {myapp}: [10.0.0.1:6379 10.0.0.2:6379 10.0.0.3:6379]
}
