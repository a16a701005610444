// Command benchchart draws the hit latency and allocations of every
// contender of BenchmarkPeers as an SVG bar chart: one row per contender
// and store, the 1 KiB and 64 KiB hit times on a logarithmic scale (the
// stores span three orders of magnitude) and the allocations of the 1 KiB
// hit beside them.
//
// Usage:
//
//	go run ./cmd/benchchart -o ../BENCHMARKS-peers.svg peers.txt
package main

import (
	"flag"
	"fmt"
	"html"
	"log/slog"
	"math"
	"os"
	"strings"

	"github.com/hoardhttp/hoard/bench/internal/results"
)

var rows = []struct{ id, title string }{
	{"floor", "floor (canned RoundTripper)"},
	{"gregjones", "gregjones/httpcache (memory)"},
	{"bartventer", "bartventer/httpcache (memcache)"},
	{"hoard-mem", "hoard memstore"},
	{"hoard-file", "hoard filestore"},
	{"hoard-sqlite", "hoard sqlitestore"},
	{"bare-sqlite", "bare SQLite SELECT"},
	{"bare-sqlite-deadline", "bare SELECT, 2 s deadline"},
	{"hoard-redis", "hoard redisstore"},
	{"bare-redis", "bare go-redis GET"},
	{"hoard-pg", "hoard pgstore"},
}

const (
	labelW  = 230
	timeW   = 420
	allocW  = 170
	gap     = 40
	rowH    = 34
	top     = 70
	barH    = 11
	width   = labelW + timeW + gap + allocW + 30
	minTime = 1e3 // 1 µs, the left edge of the log scale
)

func main() {
	out := flag.String("o", "", "write the SVG to this `file` (default standard output)")
	flag.Parse()
	if err := run(*out, flag.Args()); err != nil {
		slog.Error("benchchart", "err", err)
		os.Exit(1)
	}
}

func run(out string, args []string) error {
	in := os.Stdin
	if len(args) > 0 {
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	set, err := results.Parse(in)
	if err != nil {
		return err
	}
	svg := draw(set)
	if out == "" {
		_, err = os.Stdout.WriteString(svg)
		return err
	}
	return os.WriteFile(out, []byte(svg), 0o644)
}

func draw(set *results.Set) string {
	type row struct {
		title          string
		t1, t64, alloc float64
		has64          bool
	}
	var rs []row
	maxTime, maxAlloc := minTime*10, 1.0
	for _, r := range rows {
		t1, ok := set.Median("BenchmarkPeers/hit-1KiB/"+r.id, "ns/op")
		if !ok {
			continue
		}
		a, _ := set.Median("BenchmarkPeers/hit-1KiB/"+r.id, "allocs/op")
		t64, has64 := set.Median("BenchmarkPeers/hit-64KiB/"+r.id, "ns/op")
		rs = append(rs, row{r.title, t1, t64, a, has64})
		maxTime = max(maxTime, t1, t64)
		maxAlloc = max(maxAlloc, a)
	}
	decades := math.Ceil(math.Log10(maxTime / minTime))
	x := func(ns float64) float64 {
		return labelW + timeW*math.Log10(max(ns, minTime)/minTime)/decades
	}
	ax0 := float64(labelW + timeW + gap)
	ax := func(a float64) float64 { return allocW * a / maxAlloc }
	height := top + rowH*len(rs) + 40

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="15" font-weight="bold">Fresh hit through http.Client: median time (log scale) and allocations</text>`+"\n")
	fmt.Fprintf(&b, `<rect x="%d" y="32" width="12" height="10" fill="#3b6fb6"/><text x="%d" y="41">1 KiB body</text>`, labelW, labelW+16)
	fmt.Fprintf(&b, `<rect x="%d" y="32" width="12" height="10" fill="#9cc0e8"/><text x="%d" y="41">64 KiB body</text>`, labelW+100, labelW+116)
	fmt.Fprintf(&b, `<text x="%.0f" y="41">allocs/op, 1 KiB hit</text>`+"\n", ax0)
	// Time grid: one line per decade.
	for d := 0.0; d <= decades; d++ {
		ns := minTime * math.Pow(10, d)
		gx := x(ns)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`, gx, top-10, gx, height-35)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", gx, height-20, label(ns))
	}
	for i, r := range rs {
		y := float64(top + i*rowH)
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end">%s</text>`, labelW-8, y+barH+4, html.EscapeString(r.title))
		fmt.Fprintf(&b, `<rect x="%d" y="%.0f" width="%.1f" height="%d" fill="#3b6fb6"/>`, labelW, y, x(r.t1)-labelW, barH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" font-size="10">%s</text>`, x(r.t1)+4, y+barH-1, label(r.t1))
		if r.has64 {
			fmt.Fprintf(&b, `<rect x="%d" y="%.0f" width="%.1f" height="%d" fill="#9cc0e8"/>`, labelW, y+barH+1, x(r.t64)-labelW, barH)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" font-size="10">%s</text>`, x(r.t64)+4, y+2*barH, label(r.t64))
		}
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.1f" height="%d" fill="#d9822b"/>`, ax0, y+4, ax(r.alloc), barH+4)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" font-size="10">%.0f</text>`+"\n", ax0+ax(r.alloc)+4, y+barH+4, r.alloc)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func label(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.3g ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.3g µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}
