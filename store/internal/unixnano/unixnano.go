// Package unixnano is how the SQL stores keep times: an integer of Unix
// nanoseconds, with 0 standing for the zero time. Both dialects store the
// same integers, so a database moves between them unchanged.
package unixnano

import "time"

// From encodes t; the zero time is 0.
func From(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Time decodes n, in UTC; 0 is the zero time.
func Time(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
