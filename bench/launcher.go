package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// Worker is a started worker: In carries the job and commands (closing
// it tells the worker to stop), Out its messages. Wait returns the
// worker's error once Out has been read to its end.
type Worker struct {
	In   io.WriteCloser
	Out  io.Reader
	Wait func() error
}

// A Launcher starts workers, each running ServeWorker.
type Launcher interface {
	Launch(ctx context.Context) (*Worker, error)
}

// InProcess runs workers as goroutines of this process: for tests and
// small runs. The connections then share the process's open-file limit.
type InProcess struct{}

// Launch starts ServeWorker on a pair of pipes.
func (InProcess) Launch(ctx context.Context) (*Worker, error) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := ServeWorker(ctx, inR, outW)
		inR.Close()
		outW.CloseWithError(io.EOF)
		done <- err
	}()
	return &Worker{In: inW, Out: outR, Wait: func() error { return <-done }}, nil
}

// Exec runs each worker as a child process: Path with Args must end up
// calling ServeWorker on its stdin and stdout (`parley bench worker`).
// The child's stderr is Stderr (nil: this process's).
type Exec struct {
	Path   string
	Args   []string
	Env    []string // added to this process's environment
	Stderr io.Writer
}

// execWaitDelay bounds how long a child may linger after its pipes
// close or its context ends before it is killed.
const execWaitDelay = 10 * time.Second

// Launch starts the child process.
func (e Exec) Launch(ctx context.Context) (*Worker, error) {
	cmd := exec.CommandContext(ctx, e.Path, e.Args...)
	cmd.Env = append(os.Environ(), e.Env...)
	cmd.Stderr = e.Stderr
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	cmd.WaitDelay = execWaitDelay
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: worker stdin: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: worker stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start worker %s: %w", e.Path, err)
	}
	return &Worker{In: in, Out: out, Wait: cmd.Wait}, nil
}
