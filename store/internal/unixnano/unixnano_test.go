package unixnano

import (
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	for _, tm := range []time.Time{
		{},
		time.Unix(0, 1).UTC(),
		time.Date(2026, 11, 21, 21, 50, 0, 123456789, time.UTC),
	} {
		if got := Time(From(tm)); !got.Equal(tm) || got.Location() != time.UTC {
			t.Errorf("Time(From(%v)) = %v", tm, got)
		}
	}
	if From(time.Time{}) != 0 {
		t.Error("the zero time is not 0")
	}
	// A time in another zone comes back as the same instant in UTC.
	local := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
	if got := Time(From(local)); !got.Equal(local) || got.Location() != time.UTC {
		t.Errorf("Time(From(%v)) = %v", local, got)
	}
}
