package dynamostore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/dynamostore"
)

// harness makes stores on the shared table, each under a fresh prefix, and
// deletes the items under those prefixes when it is closed.
type harness struct {
	t      *testing.T
	client *dynamodb.Client
	table  string
	// itemBudget and chunkSize, when set, make the stores chunk small
	// values.
	itemBudget, chunkSize int

	mu       sync.Mutex
	prefixes []string
}

func (h *harness) MakeStore(ctx context.Context) (core.Store, error) {
	prefix := newPrefix()
	h.mu.Lock()
	h.prefixes = append(h.prefixes, prefix)
	h.mu.Unlock()
	st, err := dynamostore.New(ctx, h.client, &dynamostore.Options{Table: h.table, Prefix: prefix})
	if err != nil {
		return nil, err
	}
	if h.chunkSize > 0 {
		dynamostore.SetChunking(st, h.itemBudget, h.chunkSize)
	}
	return st, nil
}

func (h *harness) Capabilities() conformance.Capabilities {
	caps := conformance.Capabilities{NativeTTL: true, List: true, Clear: true, MaxValueSize: 2 << 20}
	if h.chunkSize > 0 {
		caps.MaxValueSize = 0 // 1 MiB: already thousands of small chunks
	}
	return caps
}

func (h *harness) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.prefixes {
		if err := clearPrefix(h.client, h.table, p); err != nil {
			h.t.Errorf("clearing prefix %s: %v", p, err)
		}
	}
	h.prefixes = nil
}

func newHarness(itemBudget, chunkSize int) conformance.StoreHarnessMaker {
	return func(ctx context.Context, t *testing.T) (conformance.StoreHarness, error) {
		client := testClient(t)
		return &harness{t: t, client: client, table: sharedTable(t, client), itemBudget: itemBudget, chunkSize: chunkSize}, nil
	}
}

// TestConformance runs the store suite and every HTTP scenario end to end
// with DynamoDB's own item limit: values above about 398 KiB are chunked.
func TestConformance(t *testing.T) {
	conformance.RunStoreTests(t, newHarness(0, 0))
}

// TestConformanceChunked runs the suite again with items limited to 600
// bytes and chunks of 256 bytes, so that every value of more than a few dozen
// bytes, and so every cached response of the HTTP scenarios, goes through the
// chunked path.
func TestConformanceChunked(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the default-chunking run covers the contract")
	}
	conformance.RunStoreTests(t, newHarness(600, 256))
}
