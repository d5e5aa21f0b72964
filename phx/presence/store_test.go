package presence_test

import (
	"testing"

	"github.com/phxgo/phxgo/phx/presence"
	"github.com/phxgo/phxgo/phx/presence/presencetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	presencetest.RunStore(t, func() presence.Store { return presence.NewMemoryStore() })
}
