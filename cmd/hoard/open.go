package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/hoardhttp/hoard/codecs"
	"github.com/hoardhttp/hoard/codecs/bsoncodec"
	"github.com/hoardhttp/hoard/codecs/cborcodec"
	"github.com/hoardhttp/hoard/codecs/zstdcodec"
	"github.com/hoardhttp/hoard/core"

	// Every store hoard has, so that any DSN opens.
	_ "github.com/hoardhttp/hoard/stores/dynamostore"
	_ "github.com/hoardhttp/hoard/stores/filestore"
	_ "github.com/hoardhttp/hoard/stores/memstore"
	_ "github.com/hoardhttp/hoard/stores/mongostore"
	_ "github.com/hoardhttp/hoard/stores/pgstore"
	_ "github.com/hoardhttp/hoard/stores/redisstore"
	_ "github.com/hoardhttp/hoard/stores/sqlitestore"
	_ "github.com/hoardhttp/hoard/stores/tiered"
)

// Environment variables that hold keys (never flags: a command line is
// visible to every user of the machine).
const (
	envSignKeys    = "HOARD_SIGN_KEYS"
	envEncryptKeys = "HOARD_ENCRYPT_KEYS"
)

func init() {
	// go-redis logs failed dials itself; the store's error says it once.
	redis.SetLogger(quiet{})
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// codecFlags are the global flags that say how the cache encodes entries.
type codecFlags struct {
	codec, compress          string
	signKeyFile, encKeyFile  string
	openTimeout, storeTimout time.Duration
}

func (f *codecFlags) register(root *cobra.Command) {
	p := root.PersistentFlags()
	p.StringVar(&f.codec, "codec", "binary", "entry codec the cache uses: binary, json, cbor or bson")
	p.StringVar(&f.compress, "compress", "", "compression wrapper the cache uses: gzip or zstd (none when empty)")
	p.StringVar(&f.signKeyFile, "sign-keys-file", "", "file of HMAC keys (hex, one a line, newest first) of a signed cache; or set "+envSignKeys)
	p.StringVar(&f.encKeyFile, "encrypt-keys-file", "", "file of AES keys (hex, one a line, newest first) of an encrypted cache; or set "+envEncryptKeys)
	p.DurationVar(&f.openTimeout, "open-timeout", core.DefaultOpenTimeout, "how long opening the store may take")
	p.DurationVar(&f.storeTimout, "store-timeout", 30*time.Second, "how long one store operation may take")
}

// build returns the codec the flags describe: the codec, wrapped by the
// compression, then the signature, then the encryption (outermost).
func (f *codecFlags) build() (core.Codec, error) {
	var c core.Codec
	switch f.codec {
	case "binary", "":
		c = core.BinaryCodec{}
	case "json":
		c = codecs.JSON{}
	case "cbor":
		c = cborcodec.Codec{}
	case "bson":
		c = bsoncodec.Codec{}
	default:
		return nil, usagef("unknown --codec %q (want binary, json, cbor or bson)", f.codec)
	}
	var err error
	switch f.compress {
	case "":
	case "gzip":
		c, err = codecs.NewGzip(c, nil)
	case "zstd":
		c, err = zstdcodec.New(c, nil)
	default:
		return nil, usagef("unknown --compress %q (want gzip or zstd)", f.compress)
	}
	if err != nil {
		return nil, err
	}
	sign, err := loadKeys("signing", f.signKeyFile, envSignKeys)
	if err != nil {
		return nil, err
	}
	if len(sign) > 0 {
		if c, err = codecs.NewSigned(c, sign); err != nil {
			return nil, err
		}
	}
	enc, err := loadKeys("encryption", f.encKeyFile, envEncryptKeys)
	if err != nil {
		return nil, err
	}
	if len(enc) > 0 {
		if c, err = codecs.NewEncrypted(c, enc); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// loadKeys reads hex keys from file (one a line; blank lines and lines
// starting with # skipped) or, without a file, from the environment
// variable env (separated by commas).
func loadKeys(what, file, env string) ([][]byte, error) {
	var items []string
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("reading the %s keys: %w", what, err)
		}
		items = strings.Split(string(b), "\n")
	case os.Getenv(env) != "":
		items = strings.Split(os.Getenv(env), ",")
	}
	var keys [][]byte
	for i, it := range items {
		it = strings.TrimSpace(it)
		if it == "" || strings.HasPrefix(it, "#") {
			continue
		}
		k, err := hex.DecodeString(it)
		if err != nil {
			// The key itself is never repeated in a message.
			return nil, fmt.Errorf("%s key %d is not hex", what, i+1)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// redact shows a DSN without its secrets.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(a DSN that does not parse)"
	}
	return core.RedactDSN(u, "password", "secret_access_key", "session_token", "token")
}

// storeError names the store and the class of a failure to open it.
func storeError(dsn string, err error) error {
	class := "error"
	switch {
	case errors.Is(err, core.ErrInvalidConfig):
		class = "invalid configuration"
	case errors.Is(err, core.ErrUnavailable):
		class = "unavailable"
	}
	return fmt.Errorf("store %s: %s: %w", redact(dsn), class, err)
}

// opened is a cache over a store opened by DSN.
type opened struct {
	dsn   string
	store core.Store
	codec core.Codec
	cache *core.Cache
}

func (o *opened) Close() error { return o.cache.Close() }

// Modes of open.
const (
	reading = false // the command only reads: nothing in the store changes
	writing = true
)

// open opens the store dsn names and a cache over it with the codec flags
// and opts, after checking that its entries decode with that codec (see
// probe). A cache opened for reading cannot change the store.
func (a *app) open(ctx context.Context, dsn string, write bool, opts ...core.Option) (*opened, error) {
	codec, err := a.codec.build()
	if err != nil {
		return nil, err
	}
	if !write {
		if err := mustExist(dsn); err != nil {
			return nil, err
		}
	}
	octx, cancel := context.WithTimeout(ctx, a.codec.openTimeout)
	defer cancel()
	st, err := core.OpenStore(octx, dsn)
	if err != nil {
		return nil, storeError(dsn, err)
	}
	if err := probe(octx, st, codec); err != nil {
		closeStore(st)
		return nil, fmt.Errorf("store %s: %w", redact(dsn), err)
	}
	if !write {
		st = readOnly{st}
		opts = append(opts, core.WithReadOnly())
	}
	logger := slog.New(slog.NewTextHandler(a.err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	all := append([]core.Option{core.WithCodec(codec), core.WithLogger(logger), core.WithStoreTimeout(a.codec.storeTimout)}, opts...)
	c, err := core.New(st, all...)
	if err != nil {
		closeStore(st)
		return nil, err
	}
	return &opened{dsn: dsn, store: st, codec: codec, cache: c}, nil
}

// mustExist fails for a file or sqlite DSN whose path does not exist: a
// command that only reads must not create an empty cache where a typo
// pointed it.
func mustExist(dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "file" && u.Scheme != "sqlite") || u.Path == "" || strings.Contains(u.Path, ":memory:") {
		return nil
	}
	if _, err := os.Stat(u.Path); errors.Is(err, fs.ErrNotExist) {
		return storeError(dsn, core.InvalidConfig(fmt.Errorf("no cache at %s (this command only reads, and creates none)", u.Path)))
	}
	return nil
}

func closeStore(st core.Store) {
	if cl, ok := st.(interface{ Close() error }); ok {
		cl.Close()
	}
}

// fail names the store in an error of a command working on it.
func (o *opened) fail(err error) error {
	if err == nil {
		return nil
	}
	var ue usageError
	if errors.As(err, &ue) {
		return err
	}
	return fmt.Errorf("store %s: %w", redact(o.dsn), err)
}
