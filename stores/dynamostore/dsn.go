package dynamostore

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/hoardhttp/hoard/core"
)

// dsnParams are the query parameters openURL accepts.
var dsnParams = []string{"access_key_id", "create_table", "create_timeout", "endpoint", "prefix", "region", "secret_access_key", "session_token"}

// dsnConfig is a parsed DSN.
type dsnConfig struct {
	opts                     Options
	region, endpoint         string
	accessKey, secret, token string
}

// parseDSN parses dynamodb://table?param=value&... (see the package
// documentation).
func parseDSN(u *url.URL) (dsnConfig, error) {
	var c dsnConfig
	fail := func(format string, args ...any) (dsnConfig, error) {
		return dsnConfig{}, fmt.Errorf("dynamostore: DSN %s: %s", redact(u), fmt.Sprintf(format, args...))
	}
	if u.Opaque != "" {
		return fail("want dynamodb://table?...")
	}
	if u.User != nil {
		return fail("user information is not allowed (use access_key_id and secret_access_key)")
	}
	if u.Port() != "" {
		return fail("a port is not allowed (the host is the table name; use endpoint=)")
	}
	if u.Path != "" && u.Path != "/" {
		return fail("a path is not allowed (the host is the table name)")
	}
	if u.Fragment != "" {
		return fail("a fragment is not allowed")
	}
	c.opts.Table = u.Hostname()
	if c.opts.Table == "" {
		return fail("no table name (want dynamodb://table)")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fail("%v", err)
	}
	for name, vals := range q {
		if !slices.Contains(dsnParams, name) {
			return fail("unknown parameter %q (known: %s)", name, strings.Join(dsnParams, ", "))
		}
		if len(vals) != 1 {
			return fail("parameter %q given %d times", name, len(vals))
		}
		v := vals[0]
		switch name {
		case "region":
			c.region = v
		case "endpoint":
			e, err := url.Parse(v)
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
				return fail("endpoint %q: want an http:// or https:// URL", v)
			}
			c.endpoint = v
		case "prefix":
			c.opts.Prefix = v
		case "create_table":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fail("create_table %q: want true or false", v)
			}
			c.opts.CreateTable = b
		case "create_timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return fail("create_timeout %q: want a duration such as 30s", v)
			}
			c.opts.CreateTimeout = d
		case "access_key_id":
			c.accessKey = v
		case "secret_access_key":
			c.secret = v
		case "session_token":
			c.token = v
		}
	}
	if (c.accessKey == "") != (c.secret == "") {
		return fail("access_key_id and secret_access_key go together")
	}
	if c.token != "" && c.accessKey == "" {
		return fail("session_token needs access_key_id and secret_access_key")
	}
	return c, nil
}

// redact returns u as a string with the values of its secret parameters
// replaced by "xxxxx".
func redact(u *url.URL) string {
	r := *u
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		r.RawQuery = "(unparsable query)"
		return r.Redacted()
	}
	for _, name := range []string{"secret_access_key", "session_token"} {
		if q.Has(name) {
			q.Set(name, "xxxxx")
		}
	}
	r.RawQuery = q.Encode()
	return r.Redacted()
}

// openURL is the core.StoreOpener of the "dynamodb" scheme.
func openURL(ctx context.Context, u *url.URL) (core.Store, error) {
	c, err := parseDSN(u)
	if err != nil {
		return nil, err
	}
	var loads []func(*config.LoadOptions) error
	if c.region != "" {
		loads = append(loads, config.WithRegion(c.region))
	}
	if c.accessKey != "" {
		loads = append(loads, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.accessKey, c.secret, c.token)))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, fmt.Errorf("dynamostore: loading AWS configuration: %w", err)
	}
	if cfg.Region == "" && c.endpoint != "" {
		// A local endpoint (dynalite, DynamoDB Local) ignores the region,
		// but the SDK needs one to sign requests.
		cfg.Region = "us-east-1"
	}
	client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if c.endpoint != "" {
			o.BaseEndpoint = aws.String(c.endpoint)
		}
	})
	return New(ctx, client, &c.opts)
}
