package netpoll

import (
	"testing"
	"unsafe"
)

// TestConnSize keeps the per-connection struct small: with the fd held
// raw, it is most of what an idle connection costs besides the kernel
// socket. 224 is a malloc size class: one byte more costs 16. The frame
// parser (rxState) is attached only while a frame is in progress.
func TestConnSize(t *testing.T) {
	size := unsafe.Sizeof(Conn{})
	t.Logf("Conn: %d bytes (rxState %d)", size, unsafe.Sizeof(rxState{}))
	if size > 224 {
		t.Fatalf("Conn grew to %d bytes", size)
	}
}
