package mongostore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestDatabase is the database the tests of this package create their
// collections in: one of this test process's own, dropped by TestMain when
// the tests end. FerretDB (the server `make test` runs) keeps a database in
// a SQLite file that dropping a collection does not shrink. With one shared
// database, that file and its write-ahead log grew by every run's 1 GiB
// large-body check (2.7 GB after one `make test`), and every later query
// slowed. A database per process goes with its file, and two test
// processes at once (the -race suite and the large-body group) never share
// one.
var TestDatabase = func() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "hoard_test_" + hex.EncodeToString(b[:])
}()

// TestMain runs the tests, then drops TestDatabase. A failure to drop it is
// reported but does not fail the run: the tests have passed or failed by
// then, and `scripts/services.sh` starts FerretDB on an empty directory.
func TestMain(m *testing.M) {
	code := m.Run()
	if uri := os.Getenv("HOARD_TEST_MONGO_URL"); uri != "" {
		if err := dropDatabase(uri, TestDatabase); err != nil {
			fmt.Fprintf(os.Stderr, "mongostore tests: dropping the test database %s: %v\n", TestDatabase, err)
		}
	}
	os.Exit(code)
}

// dropDatabase drops db on the server of uri.
func dropDatabase(uri, db string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return err
	}
	defer client.Disconnect(ctx)
	return client.Database(db).Drop(ctx)
}
