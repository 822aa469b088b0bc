package wsserver

import (
	"bytes"
	"encoding/hex"
	"net"
	"testing"
	"time"
)

func TestAppendFrameHeader(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{0, "8100"},
		{125, "817d"},
		{126, "817e007e"},
		{65535, "817effff"},
		{65536, "817f0000000000010000"},
		{1 << 20, "817f0000000000100000"},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(appendFrameHeader(nil, 0x81, tt.n)); got != tt.want {
			t.Errorf("header for %d bytes = %s, want %s", tt.n, got, tt.want)
		}
	}
}

// A connection without a descriptor (net.Pipe) never writes inline: the
// frames wait in the buffer until flush, and then leave in order, behind
// a control frame the library wrote first.
func TestOutConnWithoutDescriptor(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	o := newOutConn(a)
	if o.rc != nil {
		t.Fatal("net.Pipe has no descriptor, yet a raw conn was found")
	}
	kicked := 0
	o.kick = func() { kicked++ }
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 64)
		var all []byte
		for len(all) < 9 { // the ping (4 bytes) and the text frame (5)
			n, err := b.Read(buf)
			if err != nil {
				break
			}
			all = append(all, buf[:n]...)
		}
		got <- all
	}()
	if _, err := o.Write([]byte{0x89, 0x02, 'h', 'i'}); err != nil { // a ping from the library
		t.Fatal(err)
	}
	if kicked != 1 {
		t.Fatalf("library write left bytes but kicked %d writers", kicked)
	}
	o.mu.Lock()
	o.appendText([]byte("one"))
	if done, err := o.tryFlush(); done || err != nil {
		t.Fatalf("tryFlush without descriptor = %v, %v; want not done", done, err)
	}
	if err := o.flush(time.Second); err != nil {
		t.Fatal(err)
	}
	if o.pending() || o.buf != nil {
		t.Fatal("buffer kept after a full flush")
	}
	o.mu.Unlock()
	want := []byte{0x89, 0x02, 'h', 'i', 0x81, 0x03, 'o', 'n', 'e'}
	if all := <-got; !bytes.Equal(all, want) {
		t.Fatalf("wire bytes %x, want %x", all, want)
	}
}

// After the library wrote a close frame, data frames are dropped.
func TestNoDataAfterClose(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { _, _ = b.Read(make([]byte, 64)) }()
	o := newOutConn(a)
	o.kick = func() {}
	if _, err := o.Write([]byte{0x88, 0x02, 0x03, 0xe8}); err != nil {
		t.Fatal(err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.appendText([]byte("late")) {
		t.Fatal("a data frame was framed after the close frame")
	}
}
