//go:build race

package main

// e2eRace is set when the test binary runs with the race detector, so that
// TestE2E builds the herald binary under test with it too.
const e2eRace = true
