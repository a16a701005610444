package dynamostore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/stores/dynamostore"
)

const endpointEnv = "HOARD_TEST_DYNAMODB_ENDPOINT"

// newClient is a DynamoDB client for a local endpoint, with static test
// credentials set in the SDK configuration (not in the environment).
func newClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// testClient returns a client for the test server, skipping (or failing,
// with HOARD_REQUIRE_SERVICES=1) when none is configured.
func testClient(t testing.TB) *dynamodb.Client {
	t.Helper()
	return newClient(conformance.RequireService(t, endpointEnv))
}

// uniqueName returns a name that no other test run uses.
func uniqueName(base string) string {
	return fmt.Sprintf("%s-%d-%x", base, os.Getpid(), rand.Uint32())
}

// shared is the table most tests use, each store under a prefix of its
// own. It is created on first use and deleted by TestMain.
var shared struct {
	once  sync.Once
	table string
	err   error
	n     atomic.Int64
}

// sharedTable creates the shared table once.
func sharedTable(t testing.TB, client *dynamodb.Client) string {
	t.Helper()
	shared.once.Do(func() {
		shared.table = uniqueName("hoard-test")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var st *dynamostore.Store
		st, shared.err = dynamostore.New(ctx, client, &dynamostore.Options{Table: shared.table, CreateTable: true})
		if st != nil {
			st.Close()
		}
	})
	if shared.err != nil {
		t.Fatalf("creating the shared test table: %v", shared.err)
	}
	return shared.table
}

// newPrefix returns a prefix no other store of this run uses.
func newPrefix() string {
	return fmt.Sprintf("t%d-%x/", shared.n.Add(1), rand.Uint32())
}

// deleteTable deletes a table the tests created.
func deleteTable(client *dynamodb.Client, table string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: &table})
	return err
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.table != "" && shared.err == nil {
		if err := deleteTable(newClient(os.Getenv(endpointEnv)), shared.table); err != nil {
			fmt.Fprintf(os.Stderr, "deleting test table %s: %v\n", shared.table, err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// storeOnPrefix opens a store on the shared table under a fresh prefix and
// clears that prefix (and closes the store) when the test ends.
func storeOnPrefix(t testing.TB, client *dynamodb.Client) *dynamostore.Store {
	t.Helper()
	table := sharedTable(t, client)
	prefix := newPrefix()
	st, err := dynamostore.New(t.Context(), client, &dynamostore.Options{Table: table, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := clearPrefix(client, table, prefix); err != nil {
			t.Errorf("clearing prefix %s: %v", prefix, err)
		}
		st.Close()
	})
	return st
}

// clearPrefix deletes every item under prefix in table, with a store of its
// own (the store under test may be closed by then).
func clearPrefix(client *dynamodb.Client, table, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := dynamostore.New(ctx, client, &dynamostore.Options{Table: table, Prefix: prefix})
	if err != nil {
		return err
	}
	defer st.Close()
	return st.Clear(ctx)
}

// rawItems counts the items of table whose partition key starts with
// prefix, whatever their kind.
func rawItems(t testing.TB, client *dynamodb.Client, table, prefix string) int {
	t.Helper()
	in := &dynamodb.ScanInput{
		TableName:                 &table,
		ConsistentRead:            aws.Bool(true),
		FilterExpression:          aws.String("begins_with(#pk, :p)"),
		ProjectionExpression:      aws.String("#pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": "pk"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: prefix}},
	}
	n := 0
	for {
		out, err := client.Scan(t.Context(), in)
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		n += len(out.Items)
		if len(out.LastEvaluatedKey) == 0 {
			return n
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
