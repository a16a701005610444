package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ensureTable creates the table if it does not exist, waits until it is
// ACTIVE, and tries to enable Time to Live on a table it created.
func (s *Store) ensureTable(ctx context.Context) error {
	out, err := s.api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.table})
	if err == nil {
		if out.Table != nil && out.Table.TableStatus == types.TableStatusActive {
			return nil
		}
		return s.waitActive(ctx)
	}
	if !isNotFound(err) {
		return fmt.Errorf("dynamostore: describing table %s: %w", s.table, err)
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
			return fmt.Errorf("dynamostore: creating table %s: %w", s.table, err)
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
			return fmt.Errorf("dynamostore: waiting for table %s: %w", s.table, err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("dynamostore: waiting for table %s to become ACTIVE: %w", s.table, ctx.Err())
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
