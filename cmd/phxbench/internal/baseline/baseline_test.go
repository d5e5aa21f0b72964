package baseline

import (
	"io"
	"os"
	"testing"

	"github.com/gobwas/ws"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/wire"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// TestMain fails the package when goroutines outlive its tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestWritevAllCounts: a fractional frames-per-call writes exactly rounds
// frames to every socket, and the bytes that arrive are those frames.
func TestWritevAllCounts(t *testing.T) {
	frame := []byte("0123456789abcdef")
	for _, perCall := range []float64{1.5, 2, 5.5, 7.3} {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		r := os.NewFile(uintptr(fds[1]), "read")
		got := make(chan int, 1)
		go func() { n, _ := io.Copy(io.Discard, r); got <- int(n) }()
		frames, cpu, err := writevAll([]int{fds[0]}, frame, perCall, 23)
		unix.Close(fds[0])
		n := <-got
		r.Close()
		if err != nil || frames != 23 || n != 23*len(frame) || cpu < 0 {
			t.Errorf("perCall %v: %d frames, %d bytes, cpu %v, %v", perCall, frames, n, cpu, err)
		}
	}
}

// TestSliceFrom resumes a partial writev at a byte offset.
func TestSliceFrom(t *testing.T) {
	iov := [][]byte{[]byte("abc"), []byte("de"), []byte("f")}
	for off, want := range []string{"abcdef", "bcdef", "cdef", "def", "ef", "f"} {
		var s string
		for _, b := range sliceFrom(iov, off) {
			s += string(b)
		}
		if s != want {
			t.Errorf("offset %d: %q, want %q", off, s, want)
		}
	}
	if len(sliceFrom(iov, 6)) != 0 {
		t.Error("offset past the end left buffers")
	}
}

func TestSizedFrame(t *testing.T) {
	for _, n := range []int{2, 3, 127, 130, 1000, 65539, 65546, 70000} {
		if got := len(SizedFrame(n)); got != n {
			t.Errorf("SizedFrame(%d) is %d bytes", n, got)
		}
	}
	// No frame has these sizes: the largest shorter one.
	for n, want := range map[int]int{128: 127, 129: 127, 65540: 65539, 65545: 65539} {
		if got := len(SizedFrame(n)); got != want {
			t.Errorf("SizedFrame(%d) is %d bytes, want %d", n, got, want)
		}
	}
	f := SizedFrame(70000)
	h, ok, err := wire.ParseFrameHeader(f)
	if !ok || err != nil || h.Size+h.Length != 70000 || h.Op != ws.OpText {
		t.Errorf("header %+v %v %v", h, ok, err)
	}
}
