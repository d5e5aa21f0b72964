package sys

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A blocking SocketTo reaches the ListenEpoll listener, which the epoll
// set reports readable; a source address that is not ours fails the bind.
func TestListenEpollAndSocketTo(t *testing.T) {
	ep, lfd, port, err := ListenEpoll()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ep)
	defer unix.Close(lfd)
	fd, err := SocketTo(port, [][4]byte{{127, 0, 0, 1}}, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	events := make([]unix.EpollEvent, 1)
	if n, err := unix.EpollWait(ep, events, 10_000); err != nil || n != 1 || int(events[0].Fd) != lfd {
		t.Fatalf("epoll_wait: %d %v %+v, want the listener readable", n, err, events)
	}
	if _, err := SocketTo(port, [][4]byte{{192, 0, 2, 1}}, 0, true); err == nil || !strings.HasPrefix(err.Error(), "bind:") {
		t.Fatalf("a foreign source address: %v, want a bind error", err)
	}
}
