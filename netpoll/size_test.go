package netpoll

import (
	"testing"
	"unsafe"
)

// TestConnSize keeps the per-connection struct small: with the fd held
// raw, it is most of what an idle connection costs besides the kernel
// socket. 288 is a malloc size class: one byte more costs 32.
func TestConnSize(t *testing.T) {
	size := unsafe.Sizeof(Conn{})
	t.Logf("Conn: %d bytes (rxState %d)", size, unsafe.Sizeof(rxState{}))
	if size > 296 { // 288 + the TLS state pointer (tlsio.go)
		t.Fatalf("Conn grew to %d bytes", size)
	}
}
