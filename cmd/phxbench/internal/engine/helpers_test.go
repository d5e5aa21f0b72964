package engine

import (
	"testing"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/phxdtest"
	"go.uber.org/goleak"
)

// TestMain fails the package when goroutines outlive its tests, and removes
// the phxd a test built.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { phxdtest.Remove() }))
}
