package netpoll

import (
	"testing"
	"unsafe"
)

// TestConnSize keeps the per-connection struct small: it is most of what an
// idle connection costs besides the kernel socket and Go's netFD.
func TestConnSize(t *testing.T) {
	size := unsafe.Sizeof(Conn{})
	t.Logf("Conn: %d bytes (rxState %d)", size, unsafe.Sizeof(rxState{}))
	if size > 328 { // 320 + the TLS state pointer (tlsio.go)
		t.Fatalf("Conn grew to %d bytes", size)
	}
}
