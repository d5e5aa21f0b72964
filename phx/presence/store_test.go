package phx_test

import (
	"testing"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/presencetest"
)

func TestMemoryPresenceStoreConformance(t *testing.T) {
	presencetest.RunStore(t, func() phx.PresenceStore { return phx.NewMemoryPresenceStore() })
}
