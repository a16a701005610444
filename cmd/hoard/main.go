package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a command line that is wrong: exit code 2, with a pointer
// to --help.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// app is what every command works with: the standard streams and the
// global flags.
type app struct {
	in       io.Reader
	out, err io.Writer
	codec    codecFlags
}

// run runs the hoard command line args and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{in: stdin, out: stdout, err: stderr}
	root := a.root()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "hoard: %v\n", err)
		if cmd == nil {
			cmd = root
		}
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return exitUsage
	}
	fmt.Fprintf(stderr, "hoard: %v\n", err)
	return exitError
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "hoard",
		Short: "Inspect, clean up, move and use hoard HTTP caches",
		Long: `hoard works on the cache a program using the hoard Go library keeps, in any
of its stores, named by a DSN:

  mem://                                   (this process only: for get and proxy)
  file:///var/cache/myapp                  filestore
  sqlite:///var/cache/myapp.db             sqlitestore
  redis://127.0.0.1:6379/0                 redisstore
  redis+cluster://h1:6379?addr=h2:6379     redisstore (Redis Cluster)
  mongodb://127.0.0.1:27017/hoard          mongostore
  postgres://app@127.0.0.1/app?table=hoard pgstore
  dynamodb://table?region=eu-west-1        dynamostore

Entries are read with the codec the cache was written with: give --codec,
--compress and the key files (or environment variables) of a signed or
encrypted cache. Exit status: 0 ok, 1 error, 2 usage.`,
		Example: `  hoard ls sqlite:///tmp/cache.db --host api.example.com --expired
  hoard show sqlite:///tmp/cache.db https://api.example.com/users/1
  hoard purge redis://127.0.0.1:6379/0 --older-than 24h
  hoard export sqlite:///tmp/cache.db -o cache.jsonl
  hoard import redis://127.0.0.1:6379/0 cache.jsonl
  hoard get https://example.com/ --dsn sqlite:///tmp/cache.db -i
  hoard proxy --dsn sqlite:///tmp/cache.db --upstream https://api.example.com`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q", args[0])
			}
			cmd.SetOut(a.err)
			cmd.Help()
			return usagef("no command given")
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	a.codec.register(root)
	root.AddCommand(a.lsCmd(), a.showCmd(), a.statsCmd(), a.rmCmd(), a.purgeCmd(),
		a.exportCmd(), a.importCmd(), a.getCmd(), a.proxyCmd())
	return root
}

// args checks the number of positional arguments as a usage error.
func args(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < min && min == 1:
			return usagef("%s needs a store DSN", cmd.Name())
		case len(args) < min:
			return usagef("%s needs %d arguments, got %d", cmd.Name(), min, len(args))
		case max >= 0 && len(args) > max:
			return usagef("%s takes at most %d arguments, got %d", cmd.Name(), max, len(args))
		}
		return nil
	}
}
