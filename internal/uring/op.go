package uring

// Op is one operation of a batch: a send of Buf on the socket FD, or with
// Recv a receive into Buf. Do sets N, the bytes sent or received, and Err.
type Op struct {
	FD   int
	Buf  []byte
	Recv bool

	N    int
	Err  error
	done bool
}
