package server_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/proto"
)

// TestIdleConnectionMemory measures the server's memory per idle
// authenticated connection. It is a measurement, not a check, so it runs
// only when PARLEY_CONN_MEMORY names a connection count:
//
//	PARLEY_CONN_MEMORY=2000 go test ./server -run IdleConnectionMemory -v
//
// The clients are raw sockets that speak just enough WebSocket to
// register, so nearly all the memory measured is the server's.
func TestIdleConnectionMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PARLEY_CONN_MEMORY"))
	if n <= 0 {
		t.Skip("set PARLEY_CONN_MEMORY=N to measure N idle connections")
	}
	ts := startServer(t, quiet)
	measure := func() (heap, stack uint64, goroutines int) {
		for range 6 { // each GC may halve idle goroutines' stacks
			runtime.GC()
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse, m.StackInuse, runtime.NumGoroutine()
	}
	h0, s0, g0 := measure()
	conns := make([]net.Conn, 0, n)
	for i := range n {
		conn, br := rawUpgrade(t, ts.Addr())
		conn.SetDeadline(time.Time{})
		_, hello := rawFrame(t, br)
		var hf proto.Frame
		gproto.Unmarshal(hello, &hf)
		c := &client{t: t, hello: hf.GetHello()}
		req := c.registerReq(fmt.Sprintf("@idle%d", i))
		req.Id = 1
		b, _ := gproto.Marshal(&proto.Frame{Kind: &proto.Frame_Request{Request: req}})
		writeClientFrame(t, conn, b)
		if _, resp := rawFrame(t, br); len(resp) == 0 {
			t.Fatal("no AuthResult")
		}
		conns = append(conns, conn)
	}
	h1, s1, g1 := measure()
	per := func(a, b uint64) float64 { return float64(int64(b)-int64(a)) / float64(n) }
	t.Logf("%d idle authenticated connections: heap %.0f B/conn, stacks %.0f B/conn, %.1f goroutines/conn (client sockets included, they hold ~4 KiB each)",
		n, per(h0, h1), per(s0, s1), float64(g1-g0)/float64(n))
	for _, c := range conns {
		c.Close()
	}
}

// writeClientFrame writes one masked (with a zero key) binary frame.
func writeClientFrame(t *testing.T, conn net.Conn, payload []byte) {
	t.Helper()
	hdr := []byte{0x82}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n < 1<<16:
		hdr = append(hdr, 0x80|126)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	hdr = append(hdr, 0, 0, 0, 0)
	w := bufio.NewWriter(conn)
	w.Write(hdr)
	w.Write(payload)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}
