//go:build unix

package inputfile

import (
	"os"
	"syscall"
)

// openNonBlocking opens with O_NONBLOCK: should a FIFO replace the checked
// path, the open returns at once instead of waiting for a writer. Reads of
// a regular file ignore the flag.
func openNonBlocking(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
