package uring

// Op is one send of a batch: Buf on the socket FD. Send sets N, the bytes
// the socket took, and Err.
type Op struct {
	FD  int
	Buf []byte

	N    int
	Err  error
	done bool
}
