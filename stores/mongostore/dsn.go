package mongostore

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/hoardhttp/hoard/core"
)

// Scheme and SchemeSRV are the DSN schemes the package registers with
// core.RegisterStore, those of MongoDB connection strings:
// core.OpenStore(ctx, "mongodb://127.0.0.1:27017/?collection=cache") opens a
// *Store.
const (
	Scheme    = "mongodb"
	SchemeSRV = "mongodb+srv"
)

func init() {
	core.RegisterStore(Scheme, openURL)
	core.RegisterStore(SchemeSRV, openURL)
}

// dsnParams lists the hoard parameters of a DSN, each mirroring an Options
// field; every other parameter must be a MongoDB connection option.
var dsnParams = []string{"chunk_size", "collection", "database", "gridfs", "lazy", "stream_timeout", "sweep_interval"}

// openURL is the core.StoreOpener for Scheme and SchemeSRV. The store owns
// the client it connects, and disconnects it on Close.
func openURL(ctx context.Context, u *url.URL) (core.Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, core.Unavailable(fmt.Errorf("mongostore: open: %w", err))
	}
	opts, uri, hosts, err := optionsFromURL(u)
	if err != nil {
		return nil, core.InvalidConfig(err)
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return nil, core.InvalidConfig(fmt.Errorf("mongostore: DSN %q: %w", core.RedactDSN(u), err))
	}
	s, err := newStore(ctx, client, opts, time.Now, hosts)
	if err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	s.ownsClient = true
	return s, nil
}

// optionsFromURL splits a DSN into Options (from the hoard parameters) and
// the connection string handed to the driver (everything else), and
// describes the servers it names for error messages.
func optionsFromURL(u *url.URL) (*Options, string, string, error) {
	dsn := core.RedactDSN(u)
	if u.Fragment != "" {
		return nil, "", "", fmt.Errorf("mongostore: DSN %q: unexpected fragment %q", dsn, u.Fragment)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, "", "", fmt.Errorf("mongostore: DSN %q: %w", dsn, err)
	}
	ours := map[string]string{}
	for _, name := range dsnParams {
		vs, ok := q[name]
		if !ok {
			continue
		}
		if len(vs) != 1 {
			return nil, "", "", fmt.Errorf("mongostore: DSN %q: parameter %s given %d times", dsn, name, len(vs))
		}
		ours[name] = vs[0]
		delete(q, name)
	}
	rest := *u
	rest.RawQuery = q.Encode()
	uri := rest.String()
	cs, err := connstring.Parse(uri)
	if err != nil {
		return nil, "", "", fmt.Errorf("mongostore: DSN %q: %w", dsn, err)
	}
	if len(cs.UnknownOptions) > 0 {
		var unknown []string
		for name := range q {
			if _, ok := cs.UnknownOptions[strings.ToLower(name)]; ok {
				unknown = append(unknown, fmt.Sprintf("%q", name))
			}
		}
		slices.Sort(unknown)
		return nil, "", "", fmt.Errorf("mongostore: DSN %q: unknown parameter %s (hoard parameters: %s; anything else must be a MongoDB connection string option)",
			dsn, strings.Join(unknown, ", "), strings.Join(dsnParams, ", "))
	}

	opts := &Options{
		Database:   ours["database"],
		Collection: ours["collection"],
		GridFS:     ours["gridfs"],
	}
	if opts.Database == "" {
		opts.Database = cs.Database
	}
	if v, ok := ours["chunk_size"]; ok {
		n, err := core.ParseSize(v)
		if err != nil {
			return nil, "", "", fmt.Errorf("mongostore: DSN %q: parameter chunk_size: %w", dsn, err)
		}
		if n > MaxChunkSize {
			return nil, "", "", fmt.Errorf("mongostore: DSN %q: parameter chunk_size: %d is above %d", dsn, n, MaxChunkSize)
		}
		opts.ChunkSize = int(n)
	}
	for _, p := range []struct {
		name string
		dst  *time.Duration
	}{{"sweep_interval", &opts.SweepInterval}, {"stream_timeout", &opts.StreamTimeout}} {
		v, ok := ours[p.name]
		if !ok {
			continue
		}
		if v == "off" {
			*p.dst = -1
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, "", "", fmt.Errorf("mongostore: DSN %q: parameter %s: want a non-negative Go duration such as 30s, or off; got %q", dsn, p.name, v)
		}
		*p.dst = d
	}
	if v, ok := ours["lazy"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, "", "", fmt.Errorf("mongostore: DSN %q: parameter lazy=%q: want true or false", dsn, v)
		}
		opts.Lazy = b
	}
	hosts := strings.Join(cs.Hosts, ", ")
	if cs.Scheme == SchemeSRV {
		hosts = "SRV " + hosts
	}
	return opts, uri, hosts, nil
}
