package gateway

import "sync"

// sendQueue is a connection's bounded queue of frames for the writer. It
// is a slice that grows with use rather than a channel sized for the
// bound, so an idle connection holds no queue memory: at ten thousand
// connections a 512-slot channel each would be 120 MB of empty slots.
type sendQueue struct {
	mu     sync.Mutex
	frames [][]byte
	max    int
	ready  chan struct{} // capacity 1: "frames is not empty"
}

func newSendQueue(max int) sendQueue {
	return sendQueue{max: max, ready: make(chan struct{}, 1)}
}

// push appends f; false when the queue is full.
func (q *sendQueue) push(f []byte) bool {
	q.mu.Lock()
	if len(q.frames) >= q.max {
		q.mu.Unlock()
		return false
	}
	q.frames = append(q.frames, f)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// pop removes the oldest frame, or returns nil when the queue is empty.
// An emptied queue drops its backing array so a burst's memory is not
// kept by an idle connection.
func (q *sendQueue) pop() []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.frames) == 0 {
		return nil
	}
	f := q.frames[0]
	q.frames[0] = nil
	q.frames = q.frames[1:]
	if len(q.frames) == 0 {
		q.frames = nil
	}
	return f
}
