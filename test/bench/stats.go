package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// spread summarizes durations.
type spread struct {
	n                          int
	median, p10, p90, min, max time.Duration
}

// summarize returns the median, the 10th and 90th percentiles (nearest
// rank), the minimum and the maximum of ds.
func summarize(ds []time.Duration) spread {
	if len(ds) == 0 {
		return spread{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{n: len(s), median: med, p10: rank(0.10), p90: rank(0.90), min: s[0], max: s[len(s)-1]}
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func mib(bytes int64) string {
	return fmt.Sprintf("%.2f MiB", float64(bytes)/(1<<20))
}

func kibToMiB(kb int64) string {
	return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
}

// formatCalls renders a call map as "op n, op n" in a stable order.
func formatCalls(m map[string]int, prefix string) string {
	var keys []string
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", strings.TrimPrefix(k, prefix), m[k]))
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, ", ")
}

// countPrefix sums the calls whose key starts with prefix.
func countPrefix(m map[string]int, prefix string) int {
	n := 0
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

// spreadF summarizes ratios.
type spreadF struct {
	n                int
	median, p10, p90 float64
}

// summarizeF is summarize for ratios.
func summarizeF(xs []float64) spreadF {
	if len(xs) == 0 {
		return spreadF{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := func(p float64) float64 {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spreadF{n: len(s), median: med, p10: rank(0.10), p90: rank(0.90)}
}
