// Package untrusted holds the two helpers every lenskit package that reads a
// user's files needs: Quote, which shows at most a short escaped prefix of a
// value that came from a file (so an error message never repeats 30 MB of
// hostile input, nor a control character that rewrites the terminal), and
// Open, which opens a path only if it is a regular file and never blocks on
// the way (a FIFO given as a weights, notes or corpus file would otherwise
// hang the open for ever, and a device such as /dev/urandom would be read
// for ever).
//
// It is internal: checkpoint, notes and vocab share it so that they quote and
// open files the same way, and its API can change with them.
package untrusted
