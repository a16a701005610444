package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hoardhttp/hoard/core"
)

// filterFlags are the flags that select entries, shared by ls, stats and
// purge.
type filterFlags struct {
	url, host, method string
	status            []int
	expired, fresh    bool
	olderThan         time.Duration
}

func (f *filterFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.url, "url", "", "only URLs matching this glob or prefix (scheme ignored; * any run, ? one character)")
	fs.StringVar(&f.host, "host", "", "only this host (with a port: that port only)")
	fs.StringVar(&f.method, "method", "", "only this request method")
	fs.IntSliceVar(&f.status, "status", nil, "only these status codes (repeat or separate with commas)")
	fs.BoolVar(&f.expired, "expired", false, "only responses past their freshness lifetime")
	fs.BoolVar(&f.fresh, "fresh", false, "only fresh responses")
	fs.DurationVar(&f.olderThan, "older-than", 0, "only responses first stored longer ago than this (e.g. 24h)")
}

// filter returns the core.Filter the flags describe.
func (f *filterFlags) filter() (core.Filter, error) {
	if f.expired && f.fresh {
		return core.Filter{}, usagef("--expired and --fresh exclude each other")
	}
	if f.olderThan < 0 {
		return core.Filter{}, usagef("--older-than must be positive")
	}
	cf := core.Filter{URL: f.url, Host: f.host, Method: f.method, Status: f.status, OlderThan: f.olderThan}
	switch {
	case f.expired:
		cf.Expiry = core.OnlyExpired
	case f.fresh:
		cf.Expiry = core.OnlyFresh
	}
	return cf, nil
}

// any reports whether a selecting flag is set.
func (f *filterFlags) any() bool {
	return f.url != "" || f.host != "" || f.method != "" || len(f.status) > 0 || f.expired || f.fresh || f.olderThan > 0
}

// row is one entry as ls shows it (the body is not kept).
type row struct {
	Key      string    `json:"key"`
	Method   string    `json:"method"`
	URL      string    `json:"url"`
	Status   int       `json:"status"`
	Size     int64     `json:"size"`
	Streamed bool      `json:"streamed"`
	Created  time.Time `json:"created"`
	Age      int64     `json:"age_seconds"`
	Expires  time.Time `json:"expires,omitzero"`
	Fresh    bool      `json:"fresh"`
	Vary     string    `json:"vary,omitempty"`
}

func newRow(e *core.Entry, now time.Time) row {
	return row{
		Key: e.Key, Method: e.Method, URL: e.URL, Status: e.Status, Size: e.BodyLen(), Streamed: e.Streamed,
		Created: e.Created, Age: int64(e.Age(now) / time.Second), Expires: e.Expires, Fresh: !e.IsExpired(now),
		Vary: varyString(e.VaryHeader),
	}
}

// varyString shows the request header values a variant was selected by.
func varyString(h http.Header) string {
	if len(h) == 0 {
		return ""
	}
	names := slices.Sorted(maps.Keys(h))
	var parts []string
	for _, n := range names {
		parts = append(parts, n+": "+strings.Join(h[n], ", "))
	}
	return strings.Join(parts, "; ")
}

func (a *app) lsCmd() *cobra.Command {
	var (
		ff     filterFlags
		asJSON bool
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "ls DSN",
		Short: "List the stored responses, one a line",
		Long: `ls lists the stored responses of the cache in the store DSN names, one a line,
sorted by URL, then method: method, URL, status, body size, age, when it
expires, and whether it is fresh or stale. The flags select which; --json
prints one JSON object a line instead, with exact numbers.`,
		Example: `  hoard ls sqlite:///tmp/cache.db
  hoard ls sqlite:///tmp/cache.db --host api.example.com --status 200,404
  hoard ls file:///var/cache/app --url 'api.example.com/v1/*/items' --expired
  hoard ls redis://127.0.0.1:6379/0 --json --limit 10 | jq .url`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := ff.filter()
			if err != nil {
				return err
			}
			if limit < 0 {
				return usagef("--limit must not be negative")
			}
			o, err := a.open(cmd.Context(), args[0], reading)
			if err != nil {
				return err
			}
			defer o.Close()
			now := time.Now()
			var rows []row
			for e, err := range o.cache.EntriesWhere(cmd.Context(), f) {
				if err != nil {
					return o.fail(err)
				}
				rows = append(rows, newRow(e, now))
			}
			slices.SortFunc(rows, func(x, y row) int {
				return cmp.Or(strings.Compare(x.URL, y.URL), strings.Compare(x.Method, y.Method), strings.Compare(x.Vary, y.Vary), strings.Compare(x.Key, y.Key))
			})
			if limit > 0 && len(rows) > limit {
				rows = rows[:limit]
			}
			if asJSON {
				enc := json.NewEncoder(a.out)
				for _, r := range rows {
					if err := enc.Encode(r); err != nil {
						return err
					}
				}
				return nil
			}
			return printRows(a.out, rows, now)
		},
	}
	ff.register(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object a line")
	cmd.Flags().IntVar(&limit, "limit", 0, "print at most this many entries (0: all)")
	return cmd
}

func printRows(w io.Writer, rows []row, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "METHOD\tURL\tSTATUS\tSIZE\tAGE\tEXPIRES\tSTATE")
	for _, r := range rows {
		state := "fresh"
		if !r.Fresh {
			state = "stale"
		}
		u := r.URL
		if r.Vary != "" {
			u += " [" + r.Vary + "]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Method, u, r.Status, humanBytes(r.Size),
			humanDuration(time.Duration(r.Age)*time.Second), relTime(r.Expires, now), state)
	}
	return tw.Flush()
}

// humanBytes shows n in IEC units.
func humanBytes(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	f, unit := float64(n), ""
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= 1024
		unit = u
		if f < 1024 {
			break
		}
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + " " + unit
}

// humanDuration shows d rounded to what a person reads: 45s, 12m, 3h5m, 2d4h.
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	if d < time.Minute {
		d = d.Round(time.Second)
	} else {
		d = d.Round(time.Minute)
	}
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return strconv.Itoa(h) + "h"
		}
		return fmt.Sprintf("%dh%dm", h, m)
	default:
		return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	}
}

// relTime shows t relative to now: "in 5m", "3h ago", "never" for zero.
func relTime(t, now time.Time) string {
	switch {
	case t.IsZero():
		return "never"
	case t.After(now):
		return "in " + humanDuration(t.Sub(now))
	default:
		return humanDuration(now.Sub(t)) + " ago"
	}
}
