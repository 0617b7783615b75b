//go:build !unix

package profile

// lockDir is a no-op where flock does not exist (js/wasm keeps one
// profile per browser tab's worker).
func lockDir(string) (func(), error) { return func() {}, nil }
