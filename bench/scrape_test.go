package bench

import (
	"os"
	"strings"
	"testing"
)

func TestParseExposition(t *testing.T) {
	const page = `# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.2345e+07
process_cpu_seconds_total 3.5
parley_errors_total{code="NOT_FOUND"} 2
parley_errors_total{code="RATE_LIMITED"} 5 1700000000000
go_gc_duration_seconds{quantile="0.5"} NaN
broken_line
`
	s, err := parseExposition(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Sum(metricRSS); got != 12345000 {
		t.Errorf("rss = %v", got)
	}
	if got := s.Sum(metricCPU); got != 3.5 {
		t.Errorf("cpu = %v", got)
	}
	if got := s.Sum(metricErrors); got != 7 {
		t.Errorf("errors = %v, want 7", got)
	}
	if got := s[metricErrors][`code="RATE_LIMITED"`]; got != 5 {
		t.Errorf("RATE_LIMITED = %v, want 5 (timestamp ignored)", got)
	}
	if s.Has("broken_line") || s.Has("absent") {
		t.Error("a line without a value or an absent family must not count as exposed")
	}
	if v := labelValue(`code="NOT_FOUND",x="y"`, "code"); v != "NOT_FOUND" {
		t.Errorf("labelValue = %q", v)
	}
}

func TestProcessCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	// Burn a little CPU so this process has at least one tick.
	x := 0
	for i := range 50_000_000 {
		x += i ^ (x >> 3)
	}
	got, ok := processCPU(strings.TrimSpace(string(b)))
	if !ok || got <= 0 {
		t.Fatalf("processCPU(own name) = %v, %v; want a positive time (x=%d)", got, ok, x)
	}
	if got, _ := processCPU("no-such-process-name"); got != 0 {
		t.Errorf("an absent name has %v s of CPU", got)
	}
}
