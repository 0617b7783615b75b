package gateway

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func sendBufferOf(t *testing.T, fd int) int {
	t.Helper()
	n, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// sysGrowSendBuffer grows a socket's buffer by twice what it is asked for
// plus the slack for a segment (the kernel doubles what is set), within
// net.core.wmem_max, and never shrinks a buffer already larger than that
// cap lets it set.
func TestGrowSendBuffer(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 16<<10); err != nil {
		t.Fatal(err)
	}
	cur := sendBufferOf(t, fd)
	const n = 10 << 10
	sysGrowSendBuffer(int32(fd), n)
	want := cur + 4*n + 2*growSlack
	if m := wmemMax(); m > 0 {
		want = min(want, 2*m)
	}
	if got := sendBufferOf(t, fd); got != want {
		t.Fatalf("SO_SNDBUF %d after growing %d by %d, want %d (wmem_max %d)", got, cur, n, want, wmemMax())
	}

	m := wmemMax()
	if m <= 0 {
		t.Skip("net.core.wmem_max unreadable")
	}
	// A buffer past twice the cap (autotuned, or forced by a privileged
	// process) is left alone: setting it would cap it, shrinking it.
	err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 2*m)
	if errors.Is(err, unix.EPERM) {
		t.Skip("SO_SNDBUFFORCE needs CAP_NET_ADMIN")
	}
	if err != nil {
		t.Fatal(err)
	}
	big := sendBufferOf(t, fd)
	sysGrowSendBuffer(int32(fd), n)
	if got := sendBufferOf(t, fd); got != big {
		t.Fatalf("SO_SNDBUF %d after growing %d (past twice wmem_max %d), want it unchanged", got, big, m)
	}
}
