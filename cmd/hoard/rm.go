package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hoardhttp/hoard/core"
)

func (a *app) rmCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rm DSN URL...",
		Short: "Remove everything stored for some URLs",
		Long: `rm removes everything the cache in the store DSN names holds for each URL:
every method (GET, HEAD, and POST responses keyed by their bodies), every
Vary variant. URLs are normalised as the cache keys them (scheme and host
case, default port, query order). It prints how many responses and bytes
were removed.`,
		Example: `  hoard rm sqlite:///tmp/cache.db https://api.example.com/users/1 https://api.example.com/users/2`,
		Args:    args(2, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, u := range args[1:] {
				if !strings.Contains(u, "://") {
					return usagef("%q is not an absolute URL (scheme://host/path)", u)
				}
			}
			o, err := a.open(cmd.Context(), args[0], writing)
			if err != nil {
				return err
			}
			defer o.Close()
			r, err := o.cache.DeleteURLs(cmd.Context(), args[1:]...)
			if err != nil {
				return o.fail(err)
			}
			a.removed(r)
			return nil
		},
	}
}

func (a *app) removed(r core.Removed) {
	fmt.Fprintf(a.out, "removed %d %s, %s (%d bytes)\n", r.Entries, plural(r.Entries, "entry", "entries"), humanBytes(r.Bytes), r.Bytes)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (a *app) purgeCmd() *cobra.Command {
	var (
		ff  filterFlags
		all bool
		yes bool
	)
	cmd := &cobra.Command{
		Use:   "purge DSN (--expired | --older-than D | --url GLOB | ... | --all)",
		Short: "Remove the stored responses the flags select, or all of them",
		Long: `purge removes the stored responses of the cache in the store DSN names that
the flags select (they combine: --expired --host api.example.com removes
the expired responses of that host), or with --all every entry. It prints how
many responses and bytes were removed.

--all asks for confirmation on a terminal; without a terminal it needs --yes
and refuses otherwise.`,
		Example: `  hoard purge sqlite:///tmp/cache.db --expired
  hoard purge redis://127.0.0.1:6379/0 --older-than 24h
  hoard purge file:///var/cache/app --url 'test.example.com/*'
  hoard purge sqlite:///tmp/cache.db --all --yes`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := ff.filter()
			if err != nil {
				return err
			}
			switch {
			case all && ff.any():
				return usagef("--all removes everything: give it alone, or select with the other flags")
			case !all && !ff.any():
				return usagef("say what to remove: --expired, --older-than, --url, --host, --status, --method, --fresh, or --all")
			}
			if all && !yes {
				if err := a.confirm(fmt.Sprintf("Remove every entry of %s?", redact(args[0]))); err != nil {
					return err
				}
			}
			o, err := a.open(cmd.Context(), args[0], writing)
			if err != nil {
				return err
			}
			defer o.Close()
			var r core.Removed
			if all {
				r, err = purgeAll(cmd, o)
			} else {
				r, err = o.cache.DeleteWhere(cmd.Context(), f)
			}
			if err != nil {
				return o.fail(err)
			}
			a.removed(r)
			return nil
		},
	}
	ff.register(cmd.Flags())
	cmd.Flags().BoolVar(&all, "all", false, "remove every entry")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask before --all")
	return cmd
}

// purgeAll counts what there is, then clears the store (variant indexes
// and anything else the cache owns included).
func purgeAll(cmd *cobra.Command, o *opened) (core.Removed, error) {
	var r core.Removed
	for e, err := range o.cache.Entries(cmd.Context()) {
		if err != nil {
			return core.Removed{}, err
		}
		r.Entries++
		r.Bytes += e.BodyLen()
	}
	return r, o.cache.Clear(cmd.Context())
}

// confirm asks question on the terminal, and fails unless the answer is
// yes. Without a terminal on standard input it refuses.
func (a *app) confirm(question string) error {
	f, ok := a.in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return usagef("refusing to remove every entry without --yes (standard input is not a terminal to ask on)")
	}
	fmt.Fprintf(a.err, "%s [y/N] ", question)
	line, _ := bufio.NewReader(f).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return fmt.Errorf("not confirmed: nothing removed")
}
