package model

import "time"

// Clock tells the time. The application takes all its instants from one
// clock (the scheduler's checks, the store's timestamps, the console's
// "now"), so tests run it at chosen instants.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }
