package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hoardhttp/hoard/core"
)

// progress is a progress bar on a terminal, nothing otherwise.
type progress struct{ bar *progressbar.ProgressBar }

func (a *app) progress(total int64, what string) *progress {
	f, ok := a.err.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	)}
}

func (p *progress) add(n int64) {
	if p.bar != nil {
		p.bar.Add64(n)
	}
}

func (p *progress) done() {
	if p.bar != nil {
		p.bar.Finish()
	}
}

// counts is what export and import report.
type counts struct {
	records, responses, streamed int
	bytes                        int64
}

func (c *counts) add(e *core.Entry, n int64) {
	c.records++
	if e.Variants == nil {
		c.responses++
		c.bytes += n
	}
	if e.Streamed {
		c.streamed++
	}
}

func (c *counts) String() string {
	return fmt.Sprintf("%d %s (%d %s, %d streamed; %d variant %s), %s of bodies (%d bytes)",
		c.records, plural(c.records, "record", "records"), c.responses, plural(c.responses, "response", "responses"), c.streamed,
		c.records-c.responses, plural(c.records-c.responses, "index", "indexes"), humanBytes(c.bytes), c.bytes)
}

func (a *app) exportCmd() *cobra.Command {
	var outFile string
	cmd := &cobra.Command{
		Use:   "export DSN [-o file.jsonl]",
		Short: "Write every entry, bodies included, as JSON Lines",
		Long: `export writes every record of the cache in the store DSN names — each stored
response with its body, and the variant indexes that lead to Vary variants —
to standard output or the -o file, in hoard's export format (JSON Lines,
versioned first line; see the package documentation). Streamed bodies are
read from the store's stream through the cache's checks, 48 KiB at a time, so
memory stays small whatever their size. import reads the file into any other
store: together they move a cache between stores without loss.

Entries are decoded with the codec flags (--codec, --compress, the key files
or variables): the export holds them decoded, so protect the file as you
would the data.`,
		Example: `  hoard export sqlite:///tmp/cache.db -o cache.jsonl
  hoard export file:///var/cache/app | gzip > cache.jsonl.gz`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			o, err := a.open(ctx, args[0], reading)
			if err != nil {
				return err
			}
			defer o.Close()
			out := a.out
			var f *os.File
			if outFile != "" {
				if f, err = os.OpenFile(outFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
					return err
				}
				out = f
			}
			var total int64 = -1
			if l, ok := o.store.(core.Lister); ok {
				total = 0
				for _, err := range l.List(ctx) {
					if err != nil {
						break
					}
					total++
				}
			}
			bar := a.progress(total, "export")
			var c counts
			err = func() error {
				w, err := newExportWriter(out, redact(o.dsn))
				if err != nil {
					return err
				}
				for e, err := range o.cache.Records(ctx) {
					if err != nil {
						return o.fail(err)
					}
					var body io.ReadCloser
					if e.Streamed {
						if body, err = o.cache.OpenBody(ctx, e); err != nil {
							return o.fail(err)
						}
					}
					n, err := w.write(e, body)
					if body != nil {
						body.Close()
					}
					if err != nil {
						return o.fail(err)
					}
					c.add(e, n)
					bar.add(1)
				}
				return w.close()
			}()
			bar.done()
			if f != nil {
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					os.Remove(outFile)
				}
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.err, "exported %s\n", &c)
			return nil
		},
	}
	cmd.Flags().StringVarP(&outFile, "output", "o", "", "write to this file (created with mode 0600) instead of standard output")
	return cmd
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r   io.Reader
	bar *progress
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.bar.add(int64(n))
	return n, err
}

func (a *app) importCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import DSN file.jsonl",
		Short: "Write the entries of an export into a store",
		Long: `import writes every record of an export (hoard export's format; "-" reads
standard input) into the cache in the store DSN names, encoded with the codec
flags, under the same keys, with the same times and lifetimes. A streamed
body is written to the store's stream as it is read, and its entry only once
the body is complete and matches its size and SHA-256; into a store that
cannot stream it is stored inline. Entries whose deletion time has passed
are skipped. An entry already stored under the same key is replaced.

The keys stay those the exporting cache computed: programs reading the
imported cache must use the same key settings (ignored parameters, matched
headers, key function).`,
		Example: `  hoard import redis://127.0.0.1:6379/0 cache.jsonl
  gunzip -c cache.jsonl.gz | hoard import sqlite:///tmp/copy.db -`,
		Args: args(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var in io.Reader = a.in
			var total int64 = -1
			if args[1] != "-" {
				f, err := os.Open(args[1])
				if err != nil {
					return err
				}
				defer f.Close()
				if st, err := f.Stat(); err == nil {
					total = st.Size()
				}
				in = f
			}
			o, err := a.open(ctx, args[0], writing)
			if err != nil {
				return err
			}
			defer o.Close()
			bar := a.progress(total, "import")
			defer bar.done()
			x, err := newExportReader(&countingReader{r: in, bar: bar})
			if err != nil {
				return fmt.Errorf("%s: %w", args[1], err)
			}
			var c counts
			skipped := 0
			for {
				e, body, err := x.next()
				if err == io.EOF {
					break
				}
				if err != nil {
					return fmt.Errorf("%s: %w", args[1], err)
				}
				expired := !e.Deletion.IsZero() && !time.Now().Before(e.Deletion)
				if !expired {
					if err := o.cache.Put(ctx, e, body); err != nil {
						return o.fail(err)
					}
				}
				if body != nil {
					// What Put did not read (a skipped entry's body) is
					// read and checked all the same, to reach the next
					// record.
					if _, err := io.Copy(io.Discard, body); err != nil {
						return fmt.Errorf("%s: %w", args[1], err)
					}
				}
				if expired {
					skipped++
					continue
				}
				n := int64(len(e.Body))
				if e.Streamed {
					n = e.BodySize
				}
				c.add(e, n)
			}
			bar.done()
			fmt.Fprintf(a.err, "imported %s; skipped %d expired\n", &c, skipped)
			return nil
		},
	}
	return cmd
}
