// Command lenskit reads a transformer's weights in vocabulary space.
//
// This is a placeholder dispatcher so the notes command builds; the full
// command line replaces it.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: lenskit notes <command> ...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "notes":
		if err := runNotes(os.Args[2:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "lenskit:", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "lenskit: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}
