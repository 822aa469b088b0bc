package wsserver

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// A connection without a descriptor (net.Pipe) never writes inline: the
// frames wait in the buffer until flush, and then leave in order, behind
// a control frame framed first; once the close frame left, sent is
// closed and nothing more is framed.
func TestOutConnWithoutDescriptor(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	o := newOutConn(a)
	if o.rc != nil {
		t.Fatal("net.Pipe has no descriptor, yet a raw conn was found")
	}
	want := []byte{0x8a, 0x02, 'h', 'i', 0x81, 0x03, 'o', 'n', 'e', 0x88, 0x02, 0x03, 0xe8}
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 64)
		var all []byte
		for len(all) < len(want) {
			n, err := b.Read(buf)
			if err != nil {
				break
			}
			all = append(all, buf[:n]...)
		}
		got <- all
	}()
	o.mu.Lock()
	if err := o.w.Pong([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	o.appendText([]byte("one"))
	if done, err := o.tryFlush(); done || err != nil {
		t.Fatalf("tryFlush without descriptor = %v, %v; want not done", done, err)
	}
	if err := o.w.Close(1000, ""); err != nil {
		t.Fatal(err)
	}
	o.appendText([]byte("late")) // dropped: after the close frame
	if err := o.flush(time.Second); err != nil {
		t.Fatal(err)
	}
	if o.pending() || o.w.Buffered() != nil {
		t.Fatal("buffer kept after a full flush")
	}
	o.mu.Unlock()
	select {
	case <-o.sent:
	default:
		t.Fatal("sent not closed after the close frame left")
	}
	if all := <-got; !bytes.Equal(all, want) {
		t.Fatalf("wire bytes %x, want %x", all, want)
	}
}

// A failed write marks the output dead: nothing more is written.
func TestOutConnFailed(t *testing.T) {
	a, b := net.Pipe()
	b.Close()
	defer a.Close()
	o := newOutConn(a)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.appendText([]byte("x"))
	if err := o.flush(time.Second); err == nil {
		t.Fatal("write to a closed pipe succeeded")
	}
	select {
	case <-o.dead:
	default:
		t.Fatal("dead not closed after a failed write")
	}
	if o.pending() {
		t.Fatal("a dead output reports bytes to write")
	}
}
