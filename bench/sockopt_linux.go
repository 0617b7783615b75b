package bench

import "syscall"

// setSmallSegments lowers the MSS a socket advertises. A server's
// kernel sizes its send buffer from the peer's segment size: with
// loopback's 64 KiB segments it buffers over a megabyte per socket
// before its writes stall; with small segments (a low-MTU link) a few
// tens of kilobytes.
func setSmallSegments(fd uintptr, mss int) error {
	return syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, mss)
}
