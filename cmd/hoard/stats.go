package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// tally is a count of entries and their bytes.
type tally struct {
	Entries int   `json:"entries"`
	Bytes   int64 `json:"bytes"`
}

func (t *tally) add(n int64) { t.Entries++; t.Bytes += n }

// stamped is an entry at one end of the age range.
type stamped struct {
	Method  string    `json:"method"`
	URL     string    `json:"url"`
	Created time.Time `json:"created"`
}

// summary is what stats prints.
type summary struct {
	Store    string            `json:"store"`
	Entries  int               `json:"entries"`
	Bytes    int64             `json:"bytes"`
	Streamed int               `json:"streamed"`
	Expired  int               `json:"expired"`
	Fresh    int               `json:"fresh"`
	Oldest   *stamped          `json:"oldest,omitempty"`
	Newest   *stamped          `json:"newest,omitempty"`
	Hosts    map[string]*tally `json:"hosts"`
	Statuses map[string]*tally `json:"statuses"`
}

func (a *app) statsCmd() *cobra.Command {
	var (
		ff     filterFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "stats DSN",
		Short: "Count the stored responses: entries, bytes, expired, per host and per status",
		Long: `stats reads every stored response of the cache in the store DSN names (or the
ones the flags select) and prints how many there are, the bytes of their
bodies, how many are expired and how many fresh, how many bodies are
streamed, the oldest and newest, and the same counts per host and per status.`,
		Example: `  hoard stats sqlite:///tmp/cache.db
  hoard stats redis://127.0.0.1:6379/0 --json | jq .hosts`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := ff.filter()
			if err != nil {
				return err
			}
			o, err := a.open(cmd.Context(), args[0], reading)
			if err != nil {
				return err
			}
			defer o.Close()
			now := time.Now()
			s := summary{Store: redact(o.dsn), Hosts: map[string]*tally{}, Statuses: map[string]*tally{}}
			for e, err := range o.cache.EntriesWhere(cmd.Context(), f) {
				if err != nil {
					return o.fail(err)
				}
				n := e.BodyLen()
				s.Entries++
				s.Bytes += n
				if e.Streamed {
					s.Streamed++
				}
				if e.IsExpired(now) {
					s.Expired++
				} else {
					s.Fresh++
				}
				host := "?"
				if u, err := url.Parse(e.URL); err == nil {
					host = u.Host
				}
				bump(s.Hosts, host, n)
				bump(s.Statuses, strconv.Itoa(e.Status), n)
				st := &stamped{Method: e.Method, URL: e.URL, Created: e.Created}
				if s.Oldest == nil || e.Created.Before(s.Oldest.Created) {
					s.Oldest = st
				}
				if s.Newest == nil || e.Created.After(s.Newest.Created) {
					s.Newest = st
				}
			}
			if asJSON {
				enc := json.NewEncoder(a.out)
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			printSummary(a.out, &s, now)
			return nil
		},
	}
	ff.register(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object")
	return cmd
}

func bump(m map[string]*tally, k string, n int64) {
	t := m[k]
	if t == nil {
		t = new(tally)
		m[k] = t
	}
	t.add(n)
}

func printSummary(w io.Writer, s *summary, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "store\t%s\n", s.Store)
	fmt.Fprintf(tw, "entries\t%d (%d fresh, %d expired, %d streamed)\n", s.Entries, s.Fresh, s.Expired, s.Streamed)
	fmt.Fprintf(tw, "bytes\t%s (%d)\n", humanBytes(s.Bytes), s.Bytes)
	if s.Oldest != nil {
		fmt.Fprintf(tw, "oldest\t%s (%s)\t%s %s\n", stamp(s.Oldest.Created), relTime(s.Oldest.Created, now), s.Oldest.Method, s.Oldest.URL)
		fmt.Fprintf(tw, "newest\t%s (%s)\t%s %s\n", stamp(s.Newest.Created), relTime(s.Newest.Created, now), s.Newest.Method, s.Newest.URL)
	}
	tw.Flush()
	table := func(title string, m map[string]*tally, numeric bool) {
		if len(m) == 0 {
			return
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tENTRIES\tBYTES\n", title)
		keys := slices.SortedFunc(maps.Keys(m), func(x, y string) int {
			if numeric {
				return cmp.Compare(x, y)
			}
			return cmp.Or(-cmp.Compare(m[x].Entries, m[y].Entries), cmp.Compare(x, y))
		})
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", k, m[k].Entries, humanBytes(m[k].Bytes))
		}
		tw.Flush()
	}
	table("HOST", s.Hosts, false)
	table("STATUS", s.Statuses, true)
}
