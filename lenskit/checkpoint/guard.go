package checkpoint

import (
	"fmt"
	"io"
	"io/fs"
	"runtime/debug"
	"unsafe"
)

// A region is one mapped weights file, for Guard to find a fault address in.
type region struct {
	file string
	data []byte
	ra   io.ReaderAt // the open file, for Verify's fstat (nil for the embedded models)
}

// Verify checks, with one fstat per mapped weights file, that none has
// shrunk since the checkpoint was opened, and reports the first that has
// as ErrTruncated naming it. A query that reads tensors calls it first, so
// that a checkpoint overwritten or truncated while a notebook holds it open
// is an error rather than a SIGBUS in whichever goroutine touches a lost
// page first (Guard covers only its own goroutine). A truncation during the
// query itself is still a fault.
func (c *Checkpoint) Verify() error {
	c.mu.Lock()
	regions := c.regions
	c.mu.Unlock()
	for _, r := range regions {
		st, ok := r.ra.(interface{ Stat() (fs.FileInfo, error) })
		if !ok {
			continue
		}
		fi, err := st.Stat()
		if err != nil {
			return &FileError{File: r.file, Err: err}
		}
		if fi.Size() < int64(len(r.data)) {
			return truncatedWhileMapped(r.file, int(fi.Size()), len(r.data))
		}
	}
	return nil
}

// Guard runs fn, which reads this checkpoint's tensors, and turns a memory
// fault inside one of the checkpoint's mapped files into an error wrapping
// ErrTruncated that names the file. Such a fault (SIGBUS) is what touching a
// page of a mapped file raises when another program has truncated or
// rewritten the file since it was opened; unguarded, it kills the program.
// Other panics, and faults elsewhere, go on as they were.
//
// Go delivers faults as panics only to the goroutine that asked for it
// (debug.SetPanicOnFault), so fn's reads must happen on Guard's goroutine:
// work fn hands to other goroutines is not covered. Conversions done by
// Tensor.Float32 and Checkpoint.Hash guard themselves.
func (c *Checkpoint) Guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if e := c.faultError(r); e != nil {
				err = e
				return
			}
			panic(r)
		}
	}()
	return fn()
}

// faultError turns a recovered fault inside a mapped file into an error,
// or returns nil for anything else.
func (c *Checkpoint) faultError(r any) error {
	fault, ok := r.(interface{ Addr() uintptr })
	if !ok {
		return nil
	}
	addr := fault.Addr()
	c.mu.Lock()
	regions := c.regions
	c.mu.Unlock()
	for _, m := range regions {
		if off, ok := offsetIn(m.data, addr); ok {
			return truncatedWhileMapped(m.file, off, len(m.data))
		}
	}
	return nil
}

// guardRead runs fn, which reads data (part of file), turning a fault
// inside data into an error; see Guard.
func guardRead(file string, data []byte, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if fault, ok := r.(interface{ Addr() uintptr }); ok {
				if off, ok := offsetIn(data, fault.Addr()); ok {
					err = truncatedWhileMapped(file, off, -1)
					return
				}
			}
			panic(r)
		}
	}()
	return fn()
}

func offsetIn(data []byte, addr uintptr) (int, bool) {
	if len(data) == 0 {
		return 0, false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	if addr < base || addr-base >= uintptr(len(data)) {
		return 0, false
	}
	return int(addr - base), true
}

func truncatedWhileMapped(file string, off, size int) error {
	if size >= 0 {
		return &FileError{File: file, Err: fmt.Errorf("%w: byte %d of the %d mapped when the checkpoint was opened is gone: the file was truncated or rewritten while open; reopen the checkpoint", ErrTruncated, off, size)}
	}
	return &FileError{File: file, Err: fmt.Errorf("%w: reading the tensor faulted: the file was truncated or rewritten while open; reopen the checkpoint", ErrTruncated)}
}
