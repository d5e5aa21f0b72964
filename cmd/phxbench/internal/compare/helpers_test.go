package compare

import (
	"testing"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/phxdtest"
	"go.uber.org/goleak"
)

// TestMain fails the package when goroutines outlive its tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { phxdtest.Remove() }))
}
