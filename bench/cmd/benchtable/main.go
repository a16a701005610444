// Command benchtable turns the output of BenchmarkPeers (go test -bench,
// several -count runs) into the tables of BENCHMARKS.md: the median time
// and allocations of every case and contender with its ratio to the
// reference of the case (the floor for hits, gregjones/httpcache for misses
// and revalidations), and the targets of issue 13 with the ratio measured
// for each.
//
// Usage:
//
//	go test -c -o bench.test . && for i in 1 2 3 4 5; do ./bench.test -test.run '^$' -test.bench Peers -test.benchmem; done | tee peers.txt
//	go run ./cmd/benchtable [-update ../BENCHMARKS.md] [-chart peers.svg] [-command CMD] peers.txt
//
// Without -update the tables go to standard output; with it, the part of
// the file between <!-- peers:begin --> and <!-- peers:end --> is replaced.
//
// With -before OLD, benchtable instead prints a before/after table of
// every benchmark present in both OLD and the input.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/hoardhttp/hoard/bench/internal/results"
)

const (
	beginMarker = "<!-- peers:begin -->"
	endMarker   = "<!-- peers:end -->"
	prefix      = "BenchmarkPeers/"
)

// contenders in column order, with their headings.
var contenders = []struct{ id, title string }{
	{"floor", "floor"},
	{"gregjones", "gregjones"},
	{"bartventer", "bartventer"},
	{"hoard-mem", "hoard memstore"},
	{"hoard-file", "hoard filestore"},
	{"hoard-sqlite", "hoard sqlite"},
	{"bare-sqlite", "bare SQLite SELECT"},
	{"bare-sqlite-deadline", "bare SELECT, 2 s deadline"},
	{"hoard-redis", "hoard redis"},
	{"bare-redis", "bare go-redis GET"},
	{"hoard-pg", "hoard pgstore"},
}

// cases in row order: title, and the contender the ratios are taken to.
var cases = []struct{ id, title, ref string }{
	{"hit-1KiB", "fresh hit 1 KiB", "floor"},
	{"hit-64KiB", "fresh hit 64 KiB", "floor"},
	{"hit-256KiB", "fresh hit 256 KiB", "bare-redis"},
	{"parallel-1KiB", "parallel hit 1 KiB", "floor"},
	{"miss-1KiB", "miss + store 1 KiB", "gregjones"},
	{"revalidate-1KiB", "304 revalidation 1 KiB", "gregjones"},
	{"hit-1KiB-30fields", "hit 1 KiB, 30 header fields", "floor"},
	{"hit-1KiB-1e3entries", "hit 1 KiB, 1e3 entries stored", "gregjones"},
	{"hit-1KiB-1e5entries", "hit 1 KiB, 1e5 entries stored", "gregjones"},
	{"hit-1KiB-1e6entries", "hit 1 KiB, 1e6 entries stored", "gregjones"},
}

func main() {
	update := flag.String("update", "", "rewrite the peers section of this Markdown `file` instead of printing")
	chart := flag.String("chart", "", "name of the chart `file` to link from the section (relative to the Markdown file)")
	command := flag.String("command", "make bench-peers", "the command that produced the input, stated in the section")
	machine := flag.String("machine", "", "the machine, stated in the section (default: the input's cpu line, GOMAXPROCS, Go version)")
	before := flag.String("before", "", "print a before/after table against this earlier output `file` instead")
	flag.Parse()
	if err := run(*update, *chart, *command, *machine, *before, flag.Args()); err != nil {
		slog.Error("benchtable", "err", err)
		os.Exit(1)
	}
}

func run(update, chart, command, machine, before string, args []string) error {
	set, err := readSet(args)
	if err != nil {
		return err
	}
	if before != "" {
		old, err := readSet([]string{before})
		if err != nil {
			return err
		}
		_, err = io.WriteString(os.Stdout, compare(old, set))
		return err
	}
	if machine == "" {
		machine = fmt.Sprintf("%s, GOMAXPROCS %d, %s %s/%s", set.Header["cpu"], runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	section := render(set, command, machine, chart)
	if update == "" {
		_, err := io.WriteString(os.Stdout, section)
		return err
	}
	doc, err := os.ReadFile(update)
	if err != nil {
		return err
	}
	out, err := splice(doc, section)
	if err != nil {
		return fmt.Errorf("%s: %w", update, err)
	}
	return os.WriteFile(update, out, 0o644)
}

func readSet(args []string) (*results.Set, error) {
	if len(args) == 0 {
		return results.Parse(os.Stdin)
	}
	if len(args) > 1 {
		return nil, errors.New("one input file at most")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return results.Parse(f)
}

// splice replaces what lies between the markers in doc with section.
func splice(doc []byte, section string) ([]byte, error) {
	i := bytes.Index(doc, []byte(beginMarker))
	j := bytes.Index(doc, []byte(endMarker))
	if i < 0 || j < i {
		return nil, fmt.Errorf("no %s … %s section", beginMarker, endMarker)
	}
	var b bytes.Buffer
	b.Write(doc[:i+len(beginMarker)])
	b.WriteString("\n")
	b.WriteString(section)
	b.Write(doc[j:])
	return b.Bytes(), nil
}

// duration formats ns as µs or ms with three significant digits.
func duration(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.3g ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.3g µs", ns/1e3)
	default:
		return fmt.Sprintf("%.3g ns", ns)
	}
}

func bytesOp(b float64) string {
	switch {
	case b >= 1e6:
		return fmt.Sprintf("%.3g MB", b/1e6)
	case b >= 1e3:
		return fmt.Sprintf("%.3g KB", b/1e3)
	default:
		return fmt.Sprintf("%.0f B", b)
	}
}

func name(c, k string) string { return prefix + c + "/" + k }

func render(set *results.Set, command, machine, chart string) string {
	var b strings.Builder
	runs := 0
	for _, n := range set.Names {
		runs = max(runs, set.Count(n))
	}
	fmt.Fprintf(&b, "\nGenerated by `bench/cmd/benchtable` from `%s` (%d interleaved runs of every case and\n", command, runs)
	load := ""
	if len(set.Loads) > 0 {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, l := range set.Loads {
			f := strings.Fields(l)
			if len(f) == 0 {
				continue
			}
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		if lo <= hi {
			load = fmt.Sprintf(" (1-minute load average before each run: %.1f–%.1f, from other work on the machine)", lo, hi)
		}
	}
	fmt.Fprintf(&b, "contender; medians). Machine: %s%s. Each cell: median time per request, allocations\n", machine, load)
	b.WriteString("per request, and in brackets the ratio of the time to the reference of the row (the floor for hits;\n")
	b.WriteString("gregjones/httpcache for misses, revalidations and the rows with many entries). ns/op figures move\n")
	b.WriteString("with the machine's load; ratios within one run and allocation counts are the figures to go by.\n\n")

	var cols []int
	for i, c := range contenders {
		for _, k := range cases {
			if _, ok := set.Median(name(k.id, c.id), "ns/op"); ok {
				cols = append(cols, i)
				break
			}
		}
	}
	b.WriteString("| |")
	for _, i := range cols {
		b.WriteString(" " + contenders[i].title + " |")
	}
	b.WriteString("\n|---|")
	for range cols {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, k := range cases {
		row := false
		var cells strings.Builder
		ref, hasRef := set.Median(name(k.id, k.ref), "ns/op")
		for _, i := range cols {
			c := contenders[i].id
			ns, ok := set.Median(name(k.id, c), "ns/op")
			if !ok {
				cells.WriteString(" |")
				continue
			}
			row = true
			allocs, _ := set.Median(name(k.id, c), "allocs/op")
			cell := fmt.Sprintf("%s, %.0f allocs", duration(ns), allocs)
			if k.id == "hit-64KiB" || k.id == "hit-256KiB" {
				bop, _ := set.Median(name(k.id, c), "B/op")
				cell += ", " + bytesOp(bop) + "/op"
			}
			if hasRef && c != k.ref {
				cell += fmt.Sprintf(" (%.2f×)", ns/ref)
			}
			cells.WriteString(" " + cell + " |")
		}
		if row {
			fmt.Fprintf(&b, "| %s |%s\n", k.title, cells.String())
		}
	}
	if chart != "" {
		fmt.Fprintf(&b, "\n![Hit latency and allocations per contender and store](%s)\n", chart)
	}
	b.WriteString("\nTargets of issue 13, each a ratio of medians from this run:\n\n")
	b.WriteString("| target | measured | |\n|---|---|---|\n")
	for _, t := range targets(set) {
		verdict := "not met"
		if t.met {
			verdict = "**met**"
		}
		if t.measured == "" {
			t.measured, verdict = "not measured in this run", "—"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.what, t.measured, verdict)
	}
	b.WriteString("\n")
	return b.String()
}

type target struct {
	what, measured string
	met            bool
}

// targets evaluates the targets of issue 13 that BenchmarkPeers measures.
func targets(set *results.Set) []target {
	med := func(k, c, unit string) (float64, bool) { return set.Median(name(k, c), unit) }
	ratio := func(what, k1, c1, k2, c2 string, limit float64, below bool) target {
		a, ok1 := med(k1, c1, "ns/op")
		r, ok2 := med(k2, c2, "ns/op")
		if !ok1 || !ok2 {
			return target{what: what}
		}
		x := a / r
		met := x <= limit
		if !below {
			met = x >= limit
		}
		return target{what: what, measured: fmt.Sprintf("%.2f×", x), met: met}
	}
	var ts []target
	ts = append(ts, ratio("memstore 1 KiB hit ≤ 1.5× the floor", "hit-1KiB", "hoard-mem", "hit-1KiB", "floor", 1.5, true))
	if a, ok := med("hit-1KiB", "hoard-mem", "allocs/op"); ok {
		fa, _ := med("hit-1KiB", "floor", "allocs/op")
		ts = append(ts, target{what: "memstore 1 KiB hit ≤ 14 allocs", measured: fmt.Sprintf("%.0f (floor %.0f)", a, fa), met: a <= 14})
	}
	ts = append(ts,
		ratio("memstore 64 KiB hit within 1.1× of the 1 KiB hit", "hit-64KiB", "hoard-mem", "hit-1KiB", "hoard-mem", 1.1, true),
		ratio("memstore parallel hit ≤ 1.3× the parallel floor", "parallel-1KiB", "hoard-mem", "parallel-1KiB", "floor", 1.3, true),
		ratio("miss + store over memstore faster than gregjones (hoard/gregjones < 1)", "miss-1KiB", "hoard-mem", "miss-1KiB", "gregjones", 1, true),
		ratio("304 revalidation ≥ 1.5× faster than gregjones (gregjones/hoard)", "revalidate-1KiB", "gregjones", "revalidate-1KiB", "hoard-mem", 1.5, false),
		ratio("filestore 1 KiB hit ≤ 2.5× the memstore hit", "hit-1KiB", "hoard-file", "hit-1KiB", "hoard-mem", 2.5, true),
		ratio("sqlitestore 1 KiB hit ≤ 1.3× a bare SELECT of the row", "hit-1KiB", "hoard-sqlite", "hit-1KiB", "bare-sqlite", 1.3, true),
		ratio("sqlitestore 64 KiB hit ≤ 1.3× a bare SELECT of the row", "hit-64KiB", "hoard-sqlite", "hit-64KiB", "bare-sqlite", 1.3, true),
		ratio("(for reference) sqlitestore 1 KiB hit / a bare SELECT under a 2 s deadline, as the store's reads run", "hit-1KiB", "hoard-sqlite", "hit-1KiB", "bare-sqlite-deadline", 1.3, true),
	)
	for _, c := range []string{"hoard-mem", "hoard-file", "hoard-sqlite", "hoard-pg"} {
		if bop, ok := med("hit-64KiB", c, "B/op"); ok {
			ts = append(ts, target{what: c + ": 64 KiB hit B/op ≤ body + 8 KB (73,728)", measured: fmt.Sprintf("%.0f B/op", bop), met: bop <= 64<<10+8<<10})
		}
	}
	ts = append(ts,
		ratio("Redis 1 KiB hit ≤ 1.15× a bare go-redis GET", "hit-1KiB", "hoard-redis", "hit-1KiB", "bare-redis", 1.15, true),
		ratio("Redis 256 KiB hit ≤ 1.15× a bare go-redis GET", "hit-256KiB", "hoard-redis", "hit-256KiB", "bare-redis", 1.15, true),
		ratio("memstore hit flat within ±20% from 1e3 to 1e5 entries", "hit-1KiB-1e5entries", "hoard-mem", "hit-1KiB-1e3entries", "hoard-mem", 1.2, true),
		ratio("memstore hit flat within ±20% from 1e3 to 1e6 entries", "hit-1KiB-1e6entries", "hoard-mem", "hit-1KiB-1e3entries", "hoard-mem", 1.2, true),
		ratio("30 header fields within 1.5× of the floor with the same 30 fields", "hit-1KiB-30fields", "hoard-mem", "hit-1KiB-30fields", "floor", 1.5, true),
	)
	return ts
}

// compare prints the medians of every benchmark present in both sets.
func compare(old, cur *results.Set) string {
	var b strings.Builder
	b.WriteString("| benchmark | before: time, B/op, allocs | after: time, B/op, allocs | time after/before |\n|---|---|---|---|\n")
	for _, n := range cur.Names {
		if old.Count(n) == 0 {
			continue
		}
		cell := func(s *results.Set) (string, float64) {
			ns, _ := s.Median(n, "ns/op")
			bop, _ := s.Median(n, "B/op")
			al, _ := s.Median(n, "allocs/op")
			return fmt.Sprintf("%s, %s, %.0f", duration(ns), bytesOp(bop), al), ns
		}
		o, ons := cell(old)
		c, cns := cell(cur)
		fmt.Fprintf(&b, "| `%s` | %s | %s | %.2f× |\n", strings.TrimPrefix(n, "Benchmark"), o, c, cns/ons)
	}
	return b.String()
}
