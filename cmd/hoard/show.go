package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoardhttp/hoard/core"
)

func (a *app) showCmd() *cobra.Command {
	var (
		withBody bool
		outFile  string
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "show DSN URL|KEY",
		Short: "Show what is stored for a URL (every method and Vary variant) or a key",
		Long: `show prints what the cache in the store DSN names holds for a URL — every
response stored for it, each method and each Vary variant — or for one store
key (as ls --json and the Cache-Status key= parameter give it): the stored
header fields, the validators, the freshness lifetime, age and state, the
request header values a variant was selected by, and the body's size.

--body prints the body after them (text), or with -o saves it to a file
(exactly the stored bytes: nothing is decoded or converted). --json prints
each entry as a JSON object instead, the format of hoard export's records.

The values of a filestore with the JSON codec are JSON documents behind the
store's binary file header (see the filestore package); show is the way to
read them.`,
		Example: `  hoard show sqlite:///tmp/cache.db https://api.example.com/users/1
  hoard show sqlite:///tmp/cache.db https://example.com/logo.png --body -o logo.png
  hoard show file:///var/cache/app https://example.com/ --json | jq .header`,
		Args: args(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if outFile != "" {
				withBody = true
			}
			ctx := cmd.Context()
			o, err := a.open(ctx, args[0], reading)
			if err != nil {
				return err
			}
			defer o.Close()
			entries, err := find(o, cmd, args[1])
			if err != nil {
				return o.fail(err)
			}
			if len(entries) == 0 {
				return fmt.Errorf("store %s: nothing stored for %s", redact(o.dsn), args[1])
			}
			if withBody && len(entries) > 1 && outFile != "" {
				return usagef("%d responses are stored for %s (methods or variants): give one of their keys to save a body", len(entries), args[1])
			}
			now := time.Now()
			for i, e := range entries {
				if asJSON {
					if err := json.NewEncoder(a.out).Encode(exportOf(e)); err != nil {
						return err
					}
					continue
				}
				if i > 0 {
					fmt.Fprintln(a.out)
				}
				printEntry(a.out, e, now)
				if !withBody {
					continue
				}
				if err := a.writeBody(cmd, o, e, outFile); err != nil {
					return o.fail(err)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&withBody, "body", false, "print the body too (or save it with -o)")
	cmd.Flags().StringVarP(&outFile, "output", "o", "", "save the body to this file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print each entry as a JSON object (body not included)")
	return cmd
}

// find returns the responses stored for arg: a URL (with "://") or a key.
func find(o *opened, cmd *cobra.Command, arg string) ([]*core.Entry, error) {
	ctx := cmd.Context()
	if strings.Contains(arg, "://") {
		var out []*core.Entry
		for e, err := range o.cache.EntriesWhere(ctx, core.Filter{URLs: []string{arg}}) {
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		slices.SortFunc(out, func(x, y *core.Entry) int {
			if c := strings.Compare(x.Method, y.Method); c != 0 {
				return c
			}
			return strings.Compare(varyString(x.VaryHeader), varyString(y.VaryHeader))
		})
		return out, nil
	}
	// A key: read it straight from the store (an inspection changes
	// nothing, not even a corrupt entry).
	data, err := o.store.Get(ctx, arg)
	if errors.Is(err, core.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	e := new(core.Entry)
	if err := o.codec.Decode(data, e); err != nil {
		return nil, fmt.Errorf("key %s does not decode with the codec given (--codec, --compress, keys): %w", arg, err)
	}
	e.Key = arg
	if e.Variants != nil {
		return nil, fmt.Errorf("key %s is the variant index of %s %s (selecting by %s): show the URL", arg, e.Method, e.URL, strings.Join(e.Variants.Names, ", "))
	}
	return []*core.Entry{e}, nil
}

func (a *app) writeBody(cmd *cobra.Command, o *opened, e *core.Entry, outFile string) error {
	rc, err := o.cache.OpenBody(cmd.Context(), e)
	if err != nil {
		return err
	}
	defer rc.Close()
	if outFile == "" {
		fmt.Fprintln(a.out)
		_, err := io.Copy(a.out, rc)
		return err
	}
	f, err := os.Create(outFile)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(outFile)
		return err
	}
	fmt.Fprintf(a.err, "saved %d bytes to %s\n", n, outFile)
	return nil
}

// printEntry shows one stored response.
func printEntry(w io.Writer, e *core.Entry, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	kv := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	kv("Key", "%s", e.Key)
	kv("Request", "%s %s", e.Method, e.URL)
	if v := varyString(e.VaryHeader); v != "" {
		kv("Variant", "%s", v)
	}
	proto := e.Proto
	if proto == "" {
		proto = "HTTP/1.1"
	}
	kv("Status", "%s %d %s", proto, e.Status, http.StatusText(e.Status))
	body := fmt.Sprintf("%d bytes", e.BodyLen())
	if e.Streamed {
		body += " (streamed)"
	}
	kv("Body", "%s", body)
	kv("Created", "%s (%s)", stamp(e.Created), relTime(e.Created, now))
	kv("Response time", "%s", stamp(e.ResponseTime))
	kv("Age", "%s", e.Age(now).Truncate(time.Second))
	if e.Expires.IsZero() {
		kv("Freshness", "never expires")
	} else {
		lifetime := e.Expires.Sub(e.ResponseTime) + e.InitialAge
		kv("Freshness", "lifetime %s, expires %s (%s)", lifetime.Truncate(time.Second), stamp(e.Expires), relTime(e.Expires, now))
	}
	state := "fresh"
	if e.IsExpired(now) {
		state = "stale"
	}
	kv("State", "%s", state)
	if e.Deletion.IsZero() {
		kv("Kept until", "evicted")
	} else {
		kv("Kept until", "%s (%s)", stamp(e.Deletion), relTime(e.Deletion, now))
	}
	var flags []string
	if e.NoCache {
		flags = append(flags, "no-cache (revalidated on every use)")
	}
	if e.MustRevalidate {
		flags = append(flags, "must-revalidate")
	}
	if e.Immutable {
		flags = append(flags, "immutable")
	}
	if e.StaleWhileRevalidate >= 0 {
		flags = append(flags, fmt.Sprintf("stale-while-revalidate=%d", int(e.StaleWhileRevalidate.Seconds())))
	}
	if e.StaleIfError >= 0 {
		flags = append(flags, fmt.Sprintf("stale-if-error=%d", int(e.StaleIfError.Seconds())))
	}
	if len(flags) > 0 {
		kv("Directives", "%s", strings.Join(flags, ", "))
	}
	var validators []string
	if v := e.Header.Get("Etag"); v != "" {
		validators = append(validators, "ETag "+v)
	}
	if v := e.Header.Get("Last-Modified"); v != "" {
		validators = append(validators, "Last-Modified "+v)
	}
	if len(validators) == 0 {
		validators = []string{"none (revalidation needs a full response)"}
	}
	kv("Validators", "%s", strings.Join(validators, ", "))
	tw.Flush()
	fmt.Fprintln(w, "Header:")
	printHeader(w, "  ", e.Header)
	if len(e.Trailer) > 0 {
		fmt.Fprintln(w, "Trailer:")
		printHeader(w, "  ", e.Trailer)
	}
}

func printHeader(w io.Writer, indent string, h http.Header) {
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			fmt.Fprintf(w, "%s%s: %s\n", indent, k, v)
		}
	}
}

// stamp formats a time for people, in UTC.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
