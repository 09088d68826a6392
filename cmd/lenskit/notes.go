package main

import (
	"io"

	"lenskit.dev/lenskit/notes/notescli"
)

// runNotes runs `lenskit notes list|show|export|import|merge|add|remove|map
// ...`. The command's code lives in lenskit/notes/notescli, where it is
// tested; see `lenskit notes help`.
func runNotes(args []string, stdout, stderr io.Writer) error {
	return notescli.Run(args, stdout, stderr)
}
