// Package check holds the assertions phxbench's tests share across its
// packages. It is imported by tests only.
package check

import "testing"

// Eq reports what's value when it is not want, and goes on.
func Eq[T comparable](t testing.TB, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
