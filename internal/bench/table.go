package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Row is one line of the table. Zero fields print as "–".
type Row struct {
	Name     string
	RPS      float64
	P50, P99 time.Duration
	CPU      time.Duration // server-side CPU time per 1,000 requests
	Ratio    float64       // RPS over the always-200 backend's
	Note     string
}

// WriteTable prints rows as one Markdown table under a title line.
func WriteTable(w io.Writer, title string, rows []Row) {
	fmt.Fprintf(w, "%s\n\n", title)
	cells := [][]string{{"scenario", "req/s", "p50", "p99", "CPU ms / 1k req", "× always-200", "notes"}}
	for _, r := range rows {
		cells = append(cells, []string{r.Name, num(r.RPS, "%.0f"), dur(r.P50), dur(r.P99),
			num(float64(r.CPU)/float64(time.Millisecond), "%.0f"), ratio(r.Ratio), r.Note})
	}
	width := make([]int, len(cells[0]))
	for _, c := range cells {
		for i, s := range c {
			width[i] = max(width[i], len([]rune(s)))
		}
	}
	line := func(c []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, s := range c {
			pad := strings.Repeat(" ", width[i]-len([]rune(s)))
			if i > 0 && i < len(c)-1 { // numbers: right-aligned
				b.WriteString(" " + pad + s + " |")
			} else {
				b.WriteString(" " + s + pad + " |")
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(cells[0])
	sep := make([]string, len(width))
	for i, n := range width {
		sep[i] = strings.Repeat("-", n)
		if i > 0 && i < len(width)-1 {
			sep[i] = sep[i][:n-1] + ":"
		}
	}
	line(sep)
	for _, c := range cells[1:] {
		line(c)
	}
}

func num(v float64, format string) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf(format, v)
}

// ratio keeps two significant digits below 0.1.
func ratio(v float64) string {
	if v > 0 && v < 0.1 {
		return fmt.Sprintf("%.2g", v)
	}
	return num(v, "%.2f")
}

// dur prints a latency with three significant digits in ms (or s).
func dur(d time.Duration) string {
	switch ms := float64(d) / float64(time.Millisecond); {
	case d == 0:
		return "–"
	case ms >= 1000:
		return fmt.Sprintf("%.2f s", ms/1000)
	case ms >= 100:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.2f ms", ms)
	}
}
