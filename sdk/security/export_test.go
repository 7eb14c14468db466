package security

import "time"

// SetReloadEvery sets how often the key pair's files are looked at, for a
// test, and returns a func that restores it.
func SetReloadEvery(d time.Duration) (restore func()) {
	old := reloadEvery
	reloadEvery = d
	return func() { reloadEvery = old }
}
