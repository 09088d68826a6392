package main

import (
	"context"
	"io"
	"os"
	"os/signal"

	"lenskit.dev/lenskit/notes/notescli"
)

// runNotes runs `lenskit notes list|show|export|import|merge|add|remove|map
// ...`. The command's code lives in lenskit/notes/notescli, where it is
// tested; see `lenskit notes help`. Ctrl-C cancels a write that waits for
// another process's lock on the notes file, which then fails with a message
// naming the file instead of dying silently.
func runNotes(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return notescli.RunContext(ctx, args, stdout, stderr)
}
