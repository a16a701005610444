package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/hoardhttp/hoard/core"
)

// dsnParams are the query parameters openURL accepts.
var dsnParams = []string{"access_key_id", "create_table", "create_timeout", "endpoint", "lazy", "prefix", "region", "secret_access_key", "session_token"}

// secretParams are the DSN parameters redacted from messages.
var secretParams = []string{"secret_access_key", "session_token"}

// LocalAccessKeyID and LocalSecretAccessKey are the static credentials a
// store opened from a DSN signs with when its endpoint is on this machine
// (localhost or a loopback address) and no credentials are configured
// anywhere (neither in the DSN, nor in the environment, nor in the shared
// configuration files): DynamoDB Local and dynalite accept any. They are
// not secrets.
const (
	LocalAccessKeyID     = "hoard-local"
	LocalSecretAccessKey = "hoard-local"
)

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
		return dsnConfig{}, fmt.Errorf("dynamostore: DSN %q: %s", core.RedactDSN(u, secretParams...), fmt.Sprintf(format, args...))
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
	q, err := core.DSNParams(u, dsnParams...)
	if err != nil {
		return fail("%v", err)
	}
	for name, v := range q {
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
		case "lazy":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fail("lazy %q: want true or false", v)
			}
			c.opts.Lazy = b
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

// openURL is the core.StoreOpener of the "dynamodb" scheme.
func openURL(ctx context.Context, u *url.URL) (core.Store, error) {
	c, err := parseDSN(u)
	if err != nil {
		return nil, core.InvalidConfig(err)
	}
	cfg, err := c.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if c.endpoint != "" {
			o.BaseEndpoint = aws.String(c.endpoint)
		}
	})
	return New(ctx, client, &c.opts)
}

// awsConfig loads the SDK configuration of a DSN: the default chain
// (environment, shared files, roles), overridden by the DSN's region and
// credentials. For an endpoint on this machine the instance metadata
// service is never consulted (it is not there, and the SDK would wait for
// it and print warnings), and without credentials anywhere the store signs
// with LocalAccessKeyID.
func (c *dsnConfig) awsConfig(ctx context.Context) (aws.Config, error) {
	var loads []func(*config.LoadOptions) error
	if c.region != "" {
		loads = append(loads, config.WithRegion(c.region))
	}
	local := c.endpoint != "" && isLoopback(c.endpoint)
	if local {
		loads = append(loads, config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	if c.accessKey != "" {
		loads = append(loads, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.accessKey, c.secret, c.token)))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return aws.Config{}, core.InvalidConfig(fmt.Errorf("dynamostore: loading AWS configuration: %w", err))
	}
	if cfg.Region == "" {
		if c.endpoint == "" {
			return aws.Config{}, core.InvalidConfig(errors.New("dynamostore: no AWS region: give region= in the DSN, or set AWS_REGION or a profile's region"))
		}
		// A local endpoint (dynalite, DynamoDB Local) ignores the region,
		// but the SDK needs one to sign requests.
		cfg.Region = "us-east-1"
	}
	if local && c.accessKey == "" {
		if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
			cfg.Credentials = credentials.NewStaticCredentialsProvider(LocalAccessKeyID, LocalSecretAccessKey, "")
		}
	}
	return cfg, nil
}

// isLoopback reports whether endpoint (an http(s) URL) is on this machine:
// localhost or a loopback address.
func isLoopback(endpoint string) bool {
	e, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	host := e.Hostname()
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
