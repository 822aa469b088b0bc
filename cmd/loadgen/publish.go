package main

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// appendMessage appends the frame of message n of publisher cl, scheduled
// at sched (unix nanos), to buf.
func (r *Run) appendMessage(buf []byte, cl *client, kind Kind, n uint64, sched int64) []byte {
	marker := "lg:" + strconv.FormatInt(sched, 10) + ":" + strconv.Itoa(cl.idx) + ":" + strconv.FormatUint(n, 10)
	buf = append(buf, `{"type":"`...)
	buf = append(buf, sendType[kind]...)
	buf = append(buf, `","room":`...)
	buf = strconv.AppendQuote(buf, cl.room.id)
	buf = append(buf, `,"id":"`...)
	buf = strconv.AppendUint(buf, r.idBase+n, 10)
	buf = append(buf, `","data":`...)
	switch kind {
	case KindChat:
		buf = append(buf, `{"text":"`...)
		buf = append(buf, marker...)
		if r.cfg.TextSize > 0 {
			buf = append(buf, ' ')
			buf = append(buf, strings.Repeat("x", r.cfg.TextSize)...)
		}
		buf = append(buf, `"}`...)
	case KindWhiteboard:
		buf = append(buf, `{"element":{"id":"`...)
		buf = append(buf, marker...)
		buf = append(buf, `","kind":"stroke","points":[`...)
		x, y := int(n%800), int((n/800)%600)
		for i := 0; i < r.cfg.Points; i++ {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, '[')
			buf = strconv.AppendInt(buf, int64(x+3*i), 10)
			buf = append(buf, ',')
			buf = strconv.AppendInt(buf, int64(y+2*i), 10)
			buf = append(buf, ']')
		}
		buf = append(buf, `],"color":"#1e88e5","width":2}}`...)
	case KindCursor:
		buf = append(buf, `{"x":`...)
		buf = strconv.AppendUint(buf, n%800, 10)
		buf = append(buf, `,"y":`...)
		buf = strconv.AppendUint(buf, (n/800)%600, 10)
		buf = append(buf, `,"m":"`...)
		buf = append(buf, marker...)
		buf = append(buf, `"}`...)
	}
	return append(buf, '}')
}

// publish sends cl's share of the load on a fixed schedule: slot k is due
// at start + offset + k·interval, and stops before end. It never waits for
// answers (open loop). A slot that comes due while the previous write is
// still blocked is sent late but keeps its scheduled time, so the delay
// shows up in the latency of that message.
func (r *Run) publish(ctx context.Context, cl *client, start time.Time, offset, interval time.Duration, end time.Time) {
	var buf []byte
	for k := uint64(0); ; k++ {
		due := start.Add(offset + time.Duration(k)*interval)
		if !due.Before(end) {
			return
		}
		if wait := time.Until(due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		} else if -wait > interval {
			r.c.lateSends.Add(1)
		}
		if ctx.Err() != nil {
			return
		}
		n := k + 1
		kind := r.cfg.Mix.Pick(k)
		sched := unixOf(due)
		buf = r.proto.appendMessage(r, buf[:0], cl, kind, n, sched)
		cl.mu.Lock()
		conn, done := cl.conn, cl.done
		cl.pending[n] = pendingMsg{sched: sched, kind: kind}
		cl.mu.Unlock()
		if r.cfg.Verify && kind.Durable() {
			cl.room.setMsg(r.msgKey(cl.idx, n), func(m *VMsg) { m.Sched = sched })
		}
		in := r.c.inWindow(sched)
		r.c.sentTotal.Add(1)
		if in {
			r.c.sentWindow.Add(1)
			r.sendLag.Record(time.Duration(nowUnix() - sched))
		}
		if err := conn.writeText(buf); err != nil {
			r.c.sendFailures.Add(1)
			if r.cfg.Reconnect {
				// Disconnected: this slot is not sent; the schedule goes
				// on and the next connection takes over.
				cl.mu.Lock()
				delete(cl.pending, n)
				cl.mu.Unlock()
				continue
			}
			r.c.addError("send_failed", err.Error())
			if ctx.Err() != nil || cl.closing.Load() {
				return
			}
			select {
			case <-done:
				return // connection gone; counted by the read loop
			default:
			}
		}
	}
}
