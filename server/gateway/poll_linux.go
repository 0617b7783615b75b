//go:build linux

package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// The event loop: a few goroutines each wait in epoll_wait for the sockets
// they watch and read whatever arrived into one shared buffer, so an idle
// connection costs a file descriptor and an entry in a map, not a
// goroutine and not a buffer.

const (
	// pollBuffer is each poller's read buffer, shared by its sockets.
	pollBuffer = 64 << 10
	// pollEvents is how many readiness events one epoll_wait returns.
	pollEvents = 512
)

// pollSet is the gateway's pollers; a socket is watched by one of them.
type pollSet struct {
	pollers []*poller
	wg      sync.WaitGroup

	// byFD maps a descriptor to its connection: descriptors are small
	// dense numbers, so a slice costs 8 bytes a connection where a map
	// costs several times that.
	mu     sync.RWMutex
	byFD   []*conn
	closed bool
}

// poller is one epoll instance and the goroutine that waits on it.
type poller struct {
	set  *pollSet
	epfd int
	wake int // eventfd that ends the loop
}

// newPollSet starts n pollers.
func newPollSet(n int) (*pollSet, error) {
	s := &pollSet{}
	for range n {
		p, err := newPoller(s)
		if err != nil {
			s.stop()
			return nil, err
		}
		s.pollers = append(s.pollers, p)
		s.wg.Go(p.loop)
	}
	return s, nil
}

func newPoller(s *pollSet) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("gateway: epoll: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("gateway: eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, fmt.Errorf("gateway: epoll add: %w", err)
	}
	return &poller{set: s, epfd: epfd, wake: wake}, nil
}

// stop ends every poller's loop and waits for it. Sockets still watched
// are the connections' to close; by then the gateway has closed them.
func (s *pollSet) stop() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	for _, p := range s.pollers {
		var one [8]byte
		one[0] = 1
		unix.Write(p.wake, one[:])
	}
	s.wg.Wait()
	for _, p := range s.pollers {
		unix.Close(p.epfd)
		unix.Close(p.wake)
	}
}

// takeFD detaches the socket from nc (the hijacked connection): it
// duplicates the descriptor, closes nc (which releases the runtime's own
// poller state and buffers) and returns the duplicate, non-blocking. Only
// plain TCP connections can be taken; for anything else (TLS) the gateway
// serves the connection with goroutines instead.
func takeFD(nc net.Conn) (int, bool) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return -1, false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return -1, false
	}
	fd := -1
	if err := rc.Control(func(s uintptr) {
		fd, err = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil || fd < 0 {
		return -1, false
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, false
	}
	nc.Close()
	return fd, true
}

// add starts watching c's socket, spreading sockets over the pollers. The
// caller holds c.mu.
func (s *pollSet) add(c *conn) error {
	p := s.pollers[int(c.fd)%len(s.pollers)]
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("gateway: poller stopped")
	}
	if n := int(c.fd) + 1; n > len(s.byFD) {
		s.byFD = append(s.byFD, make([]*conn, max(n, 2*len(s.byFD))-len(s.byFD))...)
	}
	s.byFD[c.fd] = c
	s.mu.Unlock()
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(c.fd), &unix.EpollEvent{Events: interest(!c.paused, c.wantWrite), Fd: c.fd}); err != nil {
		s.forget(c)
		return fmt.Errorf("gateway: epoll add: %w", err)
	}
	c.p = p
	return nil
}

// interest is the epoll event mask for a socket. Level-triggered: a
// socket that still has unread data is reported again, so one read per
// event keeps the loop fair between connections.
func interest(read, write bool) uint32 {
	var ev uint32
	if read {
		ev |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if write {
		ev |= unix.EPOLLOUT
	}
	return ev
}

// modify changes what the poller waits for on fd.
func (p *poller) modify(fd int32, read, write bool) error {
	return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(fd), &unix.EpollEvent{Events: interest(read, write), Fd: fd})
}

// remove stops watching c's socket; the caller then closes it. Removing
// before closing matters: once closed, the number may be reused by a new
// connection.
func (p *poller) remove(c *conn) {
	p.set.forget(c)
	unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(c.fd), nil)
}

func (s *pollSet) forget(c *conn) {
	s.mu.Lock()
	if int(c.fd) < len(s.byFD) && s.byFD[c.fd] == c {
		s.byFD[c.fd] = nil
	}
	s.mu.Unlock()
}

// lookup returns the connection of a descriptor, nil after stop.
func (s *pollSet) lookup(fd int32) (*conn, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, true
	}
	if int(fd) < len(s.byFD) {
		return s.byFD[fd], false
	}
	return nil, false
}

func (p *poller) loop() {
	events := make([]unix.EpollEvent, pollEvents)
	buf := make([]byte, pollBuffer)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		for i := range n {
			ev := &events[i]
			c, closed := p.set.lookup(ev.Fd)
			if closed {
				return
			}
			if c == nil {
				continue // the wake-up descriptor, or a socket just removed
			}
			if ev.Events&unix.EPOLLOUT != 0 {
				c.writable()
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				c.readable(buf, ev.Events&(unix.EPOLLHUP|unix.EPOLLERR) != 0)
			}
		}
	}
}

// Socket operations on a conn's descriptor. The caller holds c.mu, which
// is also what closing the descriptor takes, so a descriptor is never used
// after it was closed (and perhaps reused by another connection).

// sysRead reads into buf; n == 0 with a nil error is the end of the stream.
func sysRead(fd int32, buf []byte) (int, error) {
	for {
		n, err := unix.Read(int(fd), buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, err
	}
}

// sysWrite writes bufs with one writev; it reports how many bytes went
// out and whether the socket is full (EAGAIN).
func sysWrite(fd int32, bufs [][]byte) (int, bool, error) {
	for {
		n, err := unix.Writev(int(fd), bufs)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return max(n, 0), true, nil
		case err != nil:
			return 0, false, err
		}
		return n, false, nil
	}
}

func sysClose(fd int32) { unix.Close(int(fd)) }

// sysGrowSendBuffer raises fd's SO_SNDBUF so that about n more bytes fit
// in the kernel. The kernel doubles what is set and counts each
// segment's overhead, hence twice n; and a socket reported full may
// already hold up to one segment (64 KiB) past its buffer, since the
// kernel fills the last segment before it looks at the buffer, hence
// growSlack. Linux caps what is set at net.core.wmem_max: the buffer
// then grows less (and, were it autotuned past twice that, it is left
// alone rather than shrunk).
func sysGrowSendBuffer(fd int32, n int) {
	cur, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err != nil {
		return
	}
	want := cur/2 + 2*n + growSlack
	if m := wmemMax(); m > 0 && 2*min(want, m) <= cur {
		return
	}
	unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, want)
}

// growSlack is what sysGrowSendBuffer adds for a segment's worth of
// overshoot (set; the kernel doubles it).
const growSlack = 33 << 10

// wmemMax is net.core.wmem_max, the largest SO_SNDBUF a process may set;
// 0 if it cannot be read.
var wmemMax = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/net/core/wmem_max")
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 {
		return 0
	}
	return n
})

// errWouldBlock is the "nothing to read now" answer of a socket.
func wouldBlock(err error) bool { return errors.Is(err, unix.EAGAIN) }

// pollSupported: this platform has the event loop.
const pollSupported = true

// peerName is the remote address of a socket, for logs.
func peerName(fd int32) string {
	sa, err := unix.Getpeername(int(fd))
	if err != nil {
		return "?"
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)).String()
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)).String()
	}
	return "?"
}
