package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Server metrics the report uses (see server/metrics; the process
// collector provides the first two).
const (
	metricRSS       = "process_resident_memory_bytes"
	metricCPU       = "process_cpu_seconds_total"
	metricHeapInuse = "go_memstats_heap_inuse_bytes"
	metricErrors    = "parley_errors_total"
	metricAuthConns = "parley_connections_authenticated"
	metricSlowCuts  = "parley_slow_consumer_cuts_total"
)

const (
	// scrapeTimeout bounds one read of the metrics endpoint.
	scrapeTimeout = 10 * time.Second
	// maxScrapeBytes bounds the metrics page read into memory.
	maxScrapeBytes = 8 << 20
)

// Sample is one scrape: for each metric family, its series by label set
// ("" for a series without labels).
type Sample map[string]map[string]float64

// Sum is the total of a family over its series (0 if absent).
func (s Sample) Sum(name string) float64 {
	var t float64
	for _, v := range s[name] {
		t += v
	}
	return t
}

// Has reports whether the family was exposed.
func (s Sample) Has(name string) bool { return len(s[name]) > 0 }

// scrape reads a Prometheus text exposition.
func scrape(ctx context.Context, hc *http.Client, url string) (Sample, error) {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %w", url, err)
	}
	// The plain text format: the bench parses it without a dependency.
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %w (is the server's admin listener there? set --metrics, or --metrics '' to skip server figures)", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics %s: %s", url, resp.Status)
	}
	return parseExposition(io.LimitReader(resp.Body, maxScrapeBytes))
}

// parseExposition reads the lines `name{labels} value [timestamp]` of
// the Prometheus text format; comments and unparseable values are
// skipped (a metric the bench does not use should not fail a run).
func parseExposition(r io.Reader) (Sample, error) {
	s := Sample{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		var name, labels, rest string
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				continue
			}
			name, labels, rest = line[:i], line[i+1:j], line[j+1:]
		} else {
			var ok bool
			name, rest, ok = strings.Cut(line, " ")
			if !ok {
				continue
			}
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		if s[name] == nil {
			s[name] = map[string]float64{}
		}
		s[name][labels] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return s, nil
}

// labelValue extracts one label's value from a label set as exposed
// (`code="NOT_FOUND",x="y"`); label values the server emits are plain
// identifiers, so no unescaping is needed.
func labelValue(labels, key string) string {
	for _, kv := range strings.Split(labels, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.TrimSpace(k) == key {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return ""
}
