// Command parley is Parley's one binary: `parley serve` runs the server,
// the other commands are a client for one device, whose state lives in a
// profile directory (--profile). All logic lives in the server and client
// packages; this file and its siblings only wire flags to them.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "parley:", err)
		os.Exit(1)
	}
}
