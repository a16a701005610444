package dynamostore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	nethttpcache "github.com/hoardhttp/hoard/adapters/nethttp"
	"github.com/hoardhttp/hoard/conformance"
	"github.com/hoardhttp/hoard/core"
	"github.com/hoardhttp/hoard/stores/dynamostore"
)

// pattern returns n bytes that depend on seed and on the position.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ byte(i>>8) ^ seed
	}
	return b
}

// Chunked values are written as chunks plus a manifest, and the chunks of a
// replaced or deleted value are removed.
func TestChunkLifecycle(t *testing.T) {
	client := testClient(t)
	st := storeOnPrefix(t, client)
	dynamostore.SetChunking(st, 4<<10, 1<<10)
	ctx := t.Context()
	table, prefix := st.Table(), st.Prefix()
	meta := core.Meta{URL: "https://example.com/big", Method: "GET", Status: 200}

	steps := []struct {
		name      string
		value     []byte // nil: Delete
		wantItems int    // items under the prefix afterwards
	}{
		{"inline", pattern(100, 1), 1},
		{"inline to chunked", pattern(10<<10, 2), 1 + 10},
		{"chunked to chunked", pattern(5<<10+1, 3), 1 + 6},
		{"chunked to inline", pattern(200, 4), 1},
		{"chunked again", pattern(6<<10, 5), 1 + 6},
		{"delete", nil, 0},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if step.value == nil {
				if err := st.Delete(ctx, "k"); err != nil {
					t.Fatal(err)
				}
				if _, err := st.Get(ctx, "k"); !errors.Is(err, core.ErrNotFound) {
					t.Errorf("Get after Delete = %v, want ErrNotFound", err)
				}
			} else {
				m := meta
				m.Size = int64(len(step.value))
				if err := st.Set(ctx, "k", step.value, m); err != nil {
					t.Fatal(err)
				}
				got, err := st.Get(ctx, "k")
				if err != nil || !bytes.Equal(got, step.value) {
					t.Fatalf("Get = %d bytes, %v; want the %d bytes set", len(got), err, len(step.value))
				}
				listed := 0
				for item, err := range st.List(ctx) {
					if err != nil {
						t.Fatal(err)
					}
					listed++
					if item.Key != "k" || item.Meta.Size != int64(len(step.value)) || item.Meta.URL != meta.URL {
						t.Errorf("List yields %q %+v", item.Key, item.Meta)
					}
				}
				if listed != 1 {
					t.Errorf("List yields %d items, want 1 (chunks are not listed)", listed)
				}
			}
			if n := rawItems(t, client, table, prefix); n != step.wantItems {
				t.Errorf("%d items under the prefix, want %d", n, step.wantItems)
			}
		})
	}
	// An expired Set deletes a chunked value with its chunks.
	if err := st.Set(ctx, "k", pattern(8<<10, 6), meta); err != nil {
		t.Fatal(err)
	}
	if err := st.Set(ctx, "k", []byte("x"), core.Meta{Expires: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if n := rawItems(t, client, table, prefix); n != 0 {
		t.Errorf("%d items under the prefix after an expired Set, want 0", n)
	}
	// Clear removes chunks too.
	for i := range 3 {
		if err := st.Set(ctx, "c"+strconv.Itoa(i), pattern(6<<10, byte(i)), meta); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if n := rawItems(t, client, table, prefix); n != 0 {
		t.Errorf("%d items under the prefix after Clear, want 0", n)
	}
}

// Readers of a key that writers keep replacing with chunked values of other
// generations always get one whole value, never a mix.
func TestChunkedConcurrentGenerations(t *testing.T) {
	client := testClient(t)
	st := storeOnPrefix(t, client)
	dynamostore.SetChunking(st, 2<<10, 512)
	ctx := t.Context()
	const (
		writers = 3
		readers = 3
		rounds  = 15
	)
	// Value w of writer g: 4 KiB (8 chunks), every byte the writer's stamp,
	// so a mix of two generations shows as two different bytes.
	stamp := func(g, i int) byte { return byte(g*rounds + i + 1) }
	value := func(g, i int) []byte { return bytes.Repeat([]byte{stamp(g, i)}, 4<<10) }
	if err := st.Set(ctx, "hot", value(0, 0), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	var (
		wg        sync.WaitGroup
		reads     atomic.Int64
		misses    atomic.Int64
		writersWG sync.WaitGroup
		done      = make(chan struct{})
	)
	for g := range writers {
		writersWG.Add(1)
		go func() {
			defer writersWG.Done()
			for i := range rounds {
				if err := st.Set(ctx, "hot", value(g, i), core.Meta{}); err != nil {
					t.Errorf("Set: %v", err)
					return
				}
			}
		}()
	}
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 1000; n++ {
				select {
				case <-done:
					return
				default:
				}
				got, err := st.Get(ctx, "hot")
				if errors.Is(err, core.ErrNotFound) {
					misses.Add(1) // allowed after maxReadAttempts replaced generations
					continue
				}
				if err != nil {
					t.Errorf("Get: %v", err)
					return
				}
				reads.Add(1)
				if len(got) != 4<<10 || bytes.Count(got, got[:1]) != len(got) {
					t.Errorf("Get returned a value mixing generations (%d bytes, first byte %d)", len(got), got[0])
					return
				}
			}
		}()
	}
	writersWG.Wait()
	close(done)
	wg.Wait()
	t.Logf("%d whole reads, %d misses while %d writers replaced the value", reads.Load(), misses.Load(), writers)
	// Only the last generation's chunks remain.
	if n := rawItems(t, client, st.Table(), st.Prefix()); n != 1+8 {
		t.Errorf("%d items under the prefix after the writers finished, want 9 (manifest + 8 chunks)", n)
	}
}

// An item whose deletion time has passed is never returned nor listed, even
// when the server has not deleted it (dynalite has no Time to Live).
func TestExpiredItemFilteredWithoutServerTTL(t *testing.T) {
	client := testClient(t)
	st := storeOnPrefix(t, client)
	ctx := t.Context()
	past := time.Now().Add(-time.Minute)
	// Written behind the store's back, as an item would look once its
	// Meta.Expires passed and before the server's TTL reached it.
	_, err := client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(st.Table()),
		Item: map[string]types.AttributeValue{
			"pk":      &types.AttributeValueMemberS{Value: st.Prefix() + "old"},
			"kind":    &types.AttributeValueMemberS{Value: "e"},
			"val":     &types.AttributeValueMemberB{Value: []byte("stale bytes")},
			"size":    &types.AttributeValueMemberN{Value: "11"},
			"status":  &types.AttributeValueMemberN{Value: "200"},
			"expires": &types.AttributeValueMemberN{Value: strconv.FormatInt(past.UnixNano(), 10)},
			"ttl":     &types.AttributeValueMemberN{Value: strconv.FormatInt(past.Unix(), 10)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := st.Get(ctx, "old"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get of an expired item = %q, %v; want ErrNotFound", got, err)
	}
	for item, err := range st.List(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		t.Errorf("List yields the expired item %q", item.Key)
	}
}

// logRecorder is a slog.Handler that keeps the messages it gets.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Level.String()+" "+rec.Message)
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (r *logRecorder) has(sub string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

// CreateTable creates a missing table, tolerates a server without Time to
// Live (logged at debug level), and accepts a table that exists.
func TestCreateTable(t *testing.T) {
	client := testClient(t)
	table := uniqueName("hoard-create")
	t.Cleanup(func() {
		if err := deleteTable(client, table); err != nil {
			t.Errorf("deleting %s: %v", table, err)
		}
	})
	rec := &logRecorder{}
	opts := &dynamostore.Options{Table: table, CreateTable: true, CreateTimeout: 30 * time.Second, Logger: slog.New(rec)}
	st, err := dynamostore.New(t.Context(), client, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out, err := client.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: &table})
	if err != nil {
		t.Fatal(err)
	}
	if out.Table.TableStatus != types.TableStatusActive {
		t.Errorf("table status after New = %s, want ACTIVE", out.Table.TableStatus)
	}
	if !rec.has("DEBUG dynamostore: created table") {
		t.Errorf("no debug message about creating the table; got %q", rec.msgs)
	}
	if !rec.has("DEBUG dynamostore: Time to Live") {
		t.Errorf("no debug message about Time to Live; got %q", rec.msgs)
	}
	if err := st.Set(t.Context(), "k", []byte("v"), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	// A second store on the existing table: New succeeds, data is shared.
	st2, err := dynamostore.New(t.Context(), client, opts)
	if err != nil {
		t.Fatalf("New on an existing table: %v", err)
	}
	defer st2.Close()
	if got, err := st2.Get(t.Context(), "k"); err != nil || string(got) != "v" {
		t.Errorf("Get through a second store = %q, %v", got, err)
	}
	// CreateTable bounded by its timeout: a server that never answers.
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = dynamostore.New(ctx, newClient("http://"+conformance.HangingServer(t)), &dynamostore.Options{Table: table, CreateTable: true})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("New against a hanging server = %v, want DeadlineExceeded and core.ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("New against a hanging server took %v", d)
	}
}

// When the table disappears, operations fail (the cache fails open); with
// CreateTable the store recreates it by itself, without it the store works
// again once someone else creates it.
func TestTableDisappears(t *testing.T) {
	client := testClient(t)
	for _, create := range []bool{true, false} {
		t.Run("CreateTable="+strconv.FormatBool(create), func(t *testing.T) {
			table := uniqueName("hoard-vanish")
			t.Cleanup(func() { _ = deleteTable(client, table) })
			setup, err := dynamostore.New(t.Context(), client, &dynamostore.Options{Table: table, CreateTable: true})
			if err != nil {
				t.Fatal(err)
			}
			setup.Close()
			st, err := dynamostore.New(t.Context(), client, &dynamostore.Options{Table: table, CreateTable: create})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.Set(t.Context(), "k", []byte("v"), core.Meta{}); err != nil {
				t.Fatal(err)
			}
			if err := deleteTable(client, table); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 30*time.Second, "the table to be deleted", func() bool {
				_, err := client.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: &table})
				var rnf *types.ResourceNotFoundException
				return errors.As(err, &rnf)
			})
			if _, err := st.Get(t.Context(), "k"); err == nil || errors.Is(err, core.ErrNotFound) {
				t.Errorf("Get on a deleted table = %v, want an error other than ErrNotFound", err)
			}
			if !create {
				// Someone else creates the table.
				other, err := dynamostore.New(t.Context(), client, &dynamostore.Options{Table: table, CreateTable: true})
				if err != nil {
					t.Fatal(err)
				}
				other.Close()
			}
			waitFor(t, 30*time.Second, "the store to work again", func() bool {
				if err := st.Set(t.Context(), "k2", []byte("v2"), core.Meta{}); err != nil {
					return false
				}
				got, err := st.Get(t.Context(), "k2")
				return err == nil && string(got) == "v2"
			})
		})
	}
}

// waitFor polls cond every 50 ms until it holds, failing the test after
// timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}

// A response larger than DynamoDB's item limit is cached (chunked) and
// served from the cache intact.
func TestLargeResponseThroughCache(t *testing.T) {
	client := testClient(t)
	st := storeOnPrefix(t, client)
	for _, size := range []int{300 << 10, 1<<20 + 12345, 5 << 20} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			body := pattern(size, byte(size))
			var hits atomic.Int64
			origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				w.Header().Set("Cache-Control", "max-age=3600")
				w.Write(body)
			}))
			defer origin.Close()
			// Multi-megabyte values written as several items take longer than
			// the default store timeout (300ms) on a loaded machine.
			c, err := core.New(st, core.WithStoreTimeout(30*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			httpc := nethttpcache.NewClient(c, nil)
			for i, wantCached := range []bool{false, true} {
				resp, err := httpc.Get(origin.URL + "/large")
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || !bytes.Equal(got, body) {
					t.Fatalf("request %d: %d bytes, %v; want the %d bytes sent", i, len(got), err, size)
				}
				if info := core.InfoOf(resp); info.FromCache != wantCached {
					t.Errorf("request %d: FromCache = %v, want %v (%s)", i, info.FromCache, wantCached, resp.Header.Get("Cache-Status"))
				}
			}
			c.Wait()
			if s := c.Stats(); s.StoreErrors != 0 {
				t.Errorf("StoreErrors = %d, want 0", s.StoreErrors)
			}
			if hits.Load() != 1 {
				t.Errorf("origin hits = %d, want 1", hits.Load())
			}
			if err := st.Clear(t.Context()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A DSN with an endpoint, static credentials and create_table opens a
// working store.
func TestOpenStoreDSN(t *testing.T) {
	endpoint := conformance.RequireService(t, endpointEnv)
	client := newClient(endpoint)
	table := uniqueName("hoard-dsn")
	t.Cleanup(func() {
		if err := deleteTable(client, table); err != nil {
			t.Errorf("deleting %s: %v", table, err)
		}
	})
	dsn := "dynamodb://" + table + "?endpoint=" + url.QueryEscape(endpoint) +
		"&region=us-east-1&access_key_id=test&secret_access_key=test&create_table=true&create_timeout=30s&prefix=dsn/"
	st, err := core.OpenStore(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.(*dynamostore.Store).Close()
	if err := st.Set(t.Context(), "k", []byte("v"), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Get(t.Context(), "k"); err != nil || string(got) != "v" {
		t.Errorf("Get = %q, %v", got, err)
	}
	if n := rawItems(t, client, table, "dsn/"); n != 1 {
		t.Errorf("%d items under the DSN's prefix, want 1", n)
	}
}

// TestOpenChecksTable: New and OpenStore check the table, so a missing
// table (without CreateTable), an endpoint where nothing listens and one
// that never answers fail at open with errors that name the table and the
// endpoint and say of which kind they are; lazy=true opens without a server.
func TestOpenChecksTable(t *testing.T) {
	endpoint := conformance.RequireService(t, endpointEnv)
	closed := "http://" + conformance.ClosedAddr(t)
	hanging := "http://" + conformance.HangingServer(t)
	missing := uniqueName("hoard-missing")
	tests := []struct {
		name     string
		endpoint string
		timeout  time.Duration // 0: the default bound
		class    error
		want     []string
	}{
		{"missing table", endpoint, 0, core.ErrInvalidConfig, []string{"table " + missing + " does not exist", endpoint, "create_table=true"}},
		{"nothing listens", closed, 0, core.ErrUnavailable, []string{missing, closed, "refused"}},
		{"endpoint never answers", hanging, 500 * time.Millisecond, core.ErrUnavailable, []string{missing, hanging, "deadline exceeded"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			start := time.Now()
			dsn := "dynamodb://" + missing + "?endpoint=" + url.QueryEscape(tc.endpoint) + "&access_key_id=test&secret_access_key=test"
			for _, open := range []func() error{
				func() error {
					st, err := core.OpenStore(ctx, dsn)
					if err == nil {
						st.(*dynamostore.Store).Close()
					}
					return err
				},
				func() error {
					st, err := dynamostore.New(ctx, newClient(tc.endpoint), &dynamostore.Options{Table: missing})
					if err == nil {
						st.Close()
					}
					return err
				},
			} {
				err := open()
				if err == nil {
					t.Fatal("the open succeeded, want an error")
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q, want it to contain %q", err, w)
					}
				}
				if !errors.Is(err, tc.class) {
					t.Errorf("error %q, want one wrapping %v", err, tc.class)
				}
			}
			if d := time.Since(start); d > 2*core.DefaultOpenTimeout+2*time.Second {
				t.Errorf("the two opens took %v, want at most about %v each", d, core.DefaultOpenTimeout)
			}
		})
	}
	t.Run("lazy", func(t *testing.T) {
		st, err := core.OpenStore(t.Context(), "dynamodb://"+missing+"?lazy=true&endpoint="+url.QueryEscape(closed))
		if err != nil {
			t.Fatalf("OpenStore with lazy=true: %v", err)
		}
		defer st.(*dynamostore.Store).Close()
		if _, err := st.Get(t.Context(), "k"); err == nil || errors.Is(err, core.ErrNotFound) {
			t.Errorf("Get on a lazy store without a server = %v, want the connection error", err)
		}
	})
}

// TestLocalEndpointCredentials: a DSN with a loopback endpoint and no
// credentials anywhere opens and works (the store signs with
// LocalAccessKeyID), and the SDK never asks the instance metadata service
// for credentials.
func TestLocalEndpointCredentials(t *testing.T) {
	endpoint := conformance.RequireService(t, endpointEnv)
	var imdsHits atomic.Int64
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		imdsHits.Add(1)
		http.Error(w, "no", http.StatusNotFound)
	}))
	defer imds.Close()
	empty := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty,
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_EC2_METADATA_DISABLED": "",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.URL,
	} {
		t.Setenv(k, v)
	}
	client := testClient(t)
	table := sharedTable(t, client)
	st, err := core.OpenStore(t.Context(), "dynamodb://"+table+"?prefix="+url.QueryEscape(newPrefix())+"&endpoint="+url.QueryEscape(endpoint))
	if err != nil {
		t.Fatalf("OpenStore with a local endpoint and no credentials: %v", err)
	}
	defer st.(*dynamostore.Store).Close()
	if err := st.Set(t.Context(), "k", []byte("v"), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	if n := imdsHits.Load(); n != 0 {
		t.Errorf("the instance metadata service was asked %d times, want never", n)
	}
}

// TestNoCredentials: a client without credentials fails at open with an
// error that says so, as a configuration error, without asking the
// instance metadata service when the endpoint is local.
func TestNoCredentials(t *testing.T) {
	endpoint := conformance.RequireService(t, endpointEnv)
	client := dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{}, errors.New("no credentials here")
		}),
	})
	_, err := dynamostore.New(t.Context(), client, &dynamostore.Options{Table: "anything"})
	if !errors.Is(err, core.ErrInvalidConfig) || !strings.Contains(err.Error(), "no AWS credentials") || !strings.Contains(err.Error(), endpoint) {
		t.Errorf("New without credentials = %v, want ErrInvalidConfig saying there are no credentials, naming %s", err, endpoint)
	}
}
