package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/hoardhttp/hoard/core"
)

// ensureTable creates the table if it does not exist, waits until it is
// ACTIVE, and tries to enable Time to Live on a table it created.
func (s *Store) ensureTable(ctx context.Context) error {
	if err := s.checkCredentials(ctx); err != nil {
		return err
	}
	out, err := s.api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.table}, openRetry)
	if err == nil {
		if out.Table != nil && out.Table.TableStatus == types.TableStatusActive {
			return nil
		}
		return s.waitActive(ctx)
	}
	if !isNotFound(err) {
		return fmt.Errorf("dynamostore: describing table %s%s: %w", s.table, s.where(), err)
	}
	created := true
	_, err = s.api.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            &s.table,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		var inUse *types.ResourceInUseException
		if !errors.As(err, &inUse) {
			return fmt.Errorf("dynamostore: creating table %s%s: %w", s.table, s.where(), err)
		}
		created = false // someone else is creating it
	}
	if err := s.waitActive(ctx); err != nil {
		return err
	}
	if created {
		s.log.LogAttrs(ctx, slog.LevelDebug, "dynamostore: created table", slog.String("table", s.table))
		s.enableTTL(ctx)
	}
	return nil
}

// errNoCredentials is wrapped by the error of New when the client has no
// credentials to sign with.
var errNoCredentials = errors.New("no AWS credentials (give access_key_id and secret_access_key in the DSN, set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or a profile, or run with an instance or container role)")

// checkCredentials makes a *dynamodb.Client fetch its credentials (which
// it caches), so that their absence is reported as such rather than as a
// failed request.
func (s *Store) checkCredentials(ctx context.Context) error {
	c, ok := s.api.(*dynamodb.Client)
	if !ok || c.Options().Credentials == nil {
		return nil
	}
	if _, err := c.Options().Credentials.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("dynamostore: fetching credentials%s: %w", s.where(), err)
		}
		return fmt.Errorf("dynamostore: %w%s: %w", errNoCredentials, s.where(), err)
	}
	return nil
}

// openBackoff bounds the SDK's wait between the attempts of the check New
// makes. With the SDK's default (up to 20 s, growing with each attempt), an
// endpoint that refuses connections outlasted the open timeout on a loaded
// machine, and the open then failed with the timeout instead of the
// refusal that is its cause.
const openBackoff = 100 * time.Millisecond

// openRetry is the DescribeTable option of New's check: the client's
// retryer, with its backoff bounded by openBackoff.
func openRetry(o *dynamodb.Options) {
	if o.Retryer != nil {
		o.Retryer = retry.AddWithMaxBackoffDelay(o.Retryer, openBackoff)
	}
}

// checkTable checks, for a store that does not create its table, that the
// table exists and waits until it is ACTIVE (or UPDATING, which serves
// requests).
func (s *Store) checkTable(ctx context.Context) error {
	if err := s.checkCredentials(ctx); err != nil {
		return err
	}
	out, err := s.api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.table}, openRetry)
	switch {
	case isNotFound(err):
		return fmt.Errorf("dynamostore: table %s does not exist%s; create it (partition key %q, a string, no sort key) or set CreateTable (create_table=true): %w",
			s.table, s.where(), attrPK, err)
	case err != nil:
		return fmt.Errorf("dynamostore: describing table %s%s: %w", s.table, s.where(), err)
	case out.Table != nil && (out.Table.TableStatus == types.TableStatusActive || out.Table.TableStatus == types.TableStatusUpdating):
		return nil
	}
	return s.waitActive(ctx)
}

// where names the endpoint and region of the store's client in errors,
// when the client is a *dynamodb.Client (" at http://127.0.0.1:8000 in
// us-east-1").
func (s *Store) where() string {
	c, ok := s.api.(*dynamodb.Client)
	if !ok {
		return ""
	}
	o := c.Options()
	at := ""
	if o.BaseEndpoint != nil {
		at = " at " + *o.BaseEndpoint
	}
	if o.Region != "" {
		at += " in " + o.Region
	}
	return at
}

// openErr classifies an error of New (nil stays nil). The server's refusal
// of a request (a missing table, credentials it does not accept, access
// denied) and credentials the SDK could not find are configuration errors;
// an endpoint that cannot be reached or does not answer in time, and a
// server that says it is overloaded or failing, make the store unavailable.
func (s *Store) openErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w (%w)", cerr, err)
	}
	var api smithy.APIError
	switch {
	case errors.Is(err, errNoCredentials):
		return core.InvalidConfig(err)
	case ctx.Err() != nil:
		return core.Unavailable(err)
	case errors.As(err, &api):
		switch api.ErrorCode() {
		case "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded", "LimitExceededException":
			return core.Unavailable(err)
		}
		if api.ErrorFault() == smithy.FaultServer {
			return core.Unavailable(err)
		}
		return core.InvalidConfig(err)
	}
	return core.Unavailable(err)
}

// waitActive polls DescribeTable until the table is ACTIVE or ctx ends.
func (s *Store) waitActive(ctx context.Context) error {
	delay := 50 * time.Millisecond
	for {
		out, err := s.api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.table})
		switch {
		case err == nil && out.Table != nil && out.Table.TableStatus == types.TableStatusActive:
			return nil
		case err != nil && !isNotFound(err):
			// Right after CreateTable, DynamoDB may not know the table yet:
			// not found means "keep waiting"; anything else is an error.
			return fmt.Errorf("dynamostore: waiting for table %s%s: %w", s.table, s.where(), err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("dynamostore: waiting for table %s%s to become ACTIVE: %w", s.table, s.where(), ctx.Err())
		case <-t.C:
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// enableTTL asks DynamoDB to delete items after their TTLAttribute. Servers
// without Time to Live (dynalite, some emulators) refuse; the store does not
// need it (Get never returns an expired entry), so that is only logged, at
// debug level.
func (s *Store) enableTTL(ctx context.Context) {
	_, err := s.api.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: &s.table,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(TTLAttribute),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelDebug, "dynamostore: Time to Live not enabled; expired items stay until overwritten, deleted or cleared",
			slog.String("table", s.table), slog.Any("error", err))
		return
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "dynamostore: Time to Live enabled",
		slog.String("table", s.table), slog.String("attribute", TTLAttribute))
}

// recreate starts, in the background, the recreation of a table that
// disappeared: at most one at a time, at most one start per
// recreateInterval, bounded by CreateTimeout and cancelled by Close.
func (s *Store) recreate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() || s.recreating || time.Since(s.lastRecreate) < recreateInterval {
		return
	}
	s.recreating = true
	s.lastRecreate = time.Now()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.life, s.createTimeout)
		defer cancel()
		s.log.LogAttrs(ctx, slog.LevelWarn, "dynamostore: table not found; recreating it", slog.String("table", s.table))
		err := s.ensureTable(ctx)
		if err != nil && s.life.Err() == nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "dynamostore: recreating table", slog.String("table", s.table), slog.Any("error", err))
		}
		s.mu.Lock()
		s.recreating = false
		s.mu.Unlock()
	}()
}

// isNotFound reports whether err says the table does not exist.
func isNotFound(err error) bool {
	var rnf *types.ResourceNotFoundException
	return errors.As(err, &rnf)
}
