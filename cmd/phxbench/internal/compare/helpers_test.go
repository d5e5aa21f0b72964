package compare

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when goroutines outlive its tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) {
		if phxdBuild.dir != "" {
			_ = os.RemoveAll(phxdBuild.dir)
		}
	}))
}
