package main

import (
	"bufio"
	"fmt"
	mrand "math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Recovery as a real client does it, and the phases a chaos driver marks.
//
// A resync (PROTOCOL: history no longer reaches back, or the room's epoch
// changed) is answered by re-joining the room on the same connection
// without since: the client starts over at the seq of the new joined, and
// what it missed before is what the resync told it it had lost.
//
// With -reconnect, a connection that ends without loadgen closing it is
// replaced: the client dials the next -url (so the clients of a killed
// node move to the other node), re-joins with since = the last seq it saw
// and the epoch it knew, and gets the missed events by replay (or a
// resync). It retries with backoff for -reconnect-for, then counts as
// dropped. A publisher keeps its schedule meanwhile; its slots while
// disconnected are not sent, and messages in flight on the cut connection
// are never acknowledged (they count as unacked, not as lost).

// rejoinID is the id of the join a client sends after a resync.
const rejoinID = "rj"

// retryCode is the error a publisher retries (-retry): the gateway could
// not reach its store in time, and the message may or may not have been
// committed. A retry carries the same id, so the gateway's dedupe must
// answer it with the original seq and deliver nothing twice.
const retryCode = "internal"

// retryDelay is the wait before a retry.
const retryDelay = 250 * time.Millisecond

// retry re-sends message n of publisher cl (same id, marker and schedule)
// after retryDelay, on whatever connection cl has then.
func (r *Run) retry(cl *client, n uint64, p pendingMsg) {
	p.tries++
	cl.mu.Lock()
	cl.pending[n] = p
	cl.mu.Unlock()
	r.c.retries.Add(1)
	time.AfterFunc(retryDelay, func() {
		buf := r.appendMessage(nil, cl, p.kind, n, p.sched)
		conn, _ := cl.current()
		if conn == nil || conn.writeText(buf) != nil {
			cl.mu.Lock()
			delete(cl.pending, n)
			cl.mu.Unlock()
		}
	})
}

// resync handles a resync frame: re-join the room and start over.
func (r *Run) resync(cl *client, f inFrame) {
	if len(f.Epoch) > 0 {
		cl.epoch = string(f.Epoch)
	}
	if cl.rejoining {
		return // the re-join in flight answers this one too
	}
	cl.rejoining = true
	r.rejoining.Add(1)
	cl.vm.Resyncs = append(cl.vm.Resyncs, ResyncEp{At: nowUnix()})
	conn, _ := cl.current()
	join := `{"type":"join","room":` + strconv.Quote(cl.room.id) + `,"id":"` + rejoinID + `"}`
	if err := conn.writeText([]byte(join)); err != nil {
		// The connection is going; with -reconnect the next one joins
		// afresh (joinFresh) and completes this re-join.
		r.c.addError("rejoin_failed", err.Error())
	}
}

// retryRejoin sends the re-join again after a while: the last one was
// answered with an error (the store was still unavailable).
func (r *Run) retryRejoin(cl *client) {
	r.c.rejoinRetries.Add(1)
	time.AfterFunc(retryDelay+time.Duration(mrand.Int64N(int64(retryDelay))), func() {
		conn, _ := cl.current()
		join := `{"type":"join","room":` + strconv.Quote(cl.room.id) + `,"id":"` + rejoinID + `"}`
		if conn != nil {
			_ = conn.writeText([]byte(join)) // a failure ends the connection: the reconnect joins afresh
		}
	})
}

// noteLate keeps a few descriptions of out-of-order arrivals.
func (r *Run) noteLate(s string) {
	r.lateMu.Lock()
	defer r.lateMu.Unlock()
	if len(r.lateSample) < maxLostSample {
		r.lateSample = append(r.lateSample, s)
	}
}

// rejoined completes a re-join after a resync at the joined's seq.
func (r *Run) rejoined(cl *client, seq uint64, at int64) {
	if !cl.rejoining {
		return
	}
	cl.rejoining = false
	r.rejoining.Add(-1)
	cl.tr.Restart(seq)
	if n := len(cl.vm.Resyncs); n > 0 {
		cl.vm.Resyncs[n-1].RejoinAt, cl.vm.Resyncs[n-1].Seq = at, seq
	}
	cl.vm.Rejoins = append(cl.vm.Rejoins, at)
}

// reconnect replaces cl's ended connection, trying the next URL each time.
func (r *Run) reconnect(cl *client) {
	defer r.bg.Done()
	defer r.reconnecting.Add(-1)
	deadline := time.Now().Add(r.cfg.ReconnectFor)
	// Spread the herd of a killed node's clients a little, as real
	// clients do.
	backoff := 50 * time.Millisecond
	sleepCtx(r.bgCtx, time.Duration(mrand.Int64N(int64(250*time.Millisecond))))
	for {
		cl.urlIdx = (cl.urlIdx + 1) % len(r.cfg.URLs)
		cl.url = r.cfg.URLs[cl.urlIdx]
		mode := joinResume
		if cl.rejoining {
			mode = joinFresh
		}
		err := r.connect(r.bgCtx, cl, mode)
		if err == nil {
			r.c.reconnects.Add(1)
			return
		}
		if r.bgCtx.Err() != nil || time.Now().After(deadline) {
			cl.vm.Dropped = true
			r.c.addError("reconnect_failed", err.Error())
			return
		}
		sleepCtx(r.bgCtx, backoff+time.Duration(mrand.Int64N(int64(backoff))))
		backoff = min(2*backoff, time.Second)
	}
}

// stopBackground ends reconnecting: no new attempt starts, those under
// way are cancelled and waited for.
func (r *Run) stopBackground() {
	r.bgMu.Lock()
	r.bgStopped = true
	r.bgMu.Unlock()
	r.bgCancel()
	r.bg.Wait()
}

// msgKey is the room-local key of message n (1, 2, …) of the publisher
// with client index pub: publishers interleave, so keys stay dense.
func (r *Run) msgKey(pub int, n uint64) int {
	return int(n-1)*r.cfg.Publishers + pub%r.cfg.Users
}

// record notes, for -verify, that cl received the durable message whose
// payload is data; late says its seq was not above every seq the member
// had already seen (since it last joined afresh).
func (r *Run) record(cl *client, data []byte, late bool) {
	_, pub, n, ok := parseMarker(data)
	if !ok || n == 0 || pub < 0 || pub >= len(r.clients) || r.clients[pub].room != cl.room {
		r.c.addError("bad_marker", fmt.Sprintf("%.200s", data))
		return
	}
	key := r.msgKey(pub, n)
	if key >= len(cl.vm.Got) {
		cl.vm.Got = append(cl.vm.Got, make([]uint8, key+1-len(cl.vm.Got)+64)...)
	}
	if key >= len(cl.gen) {
		cl.gen = append(cl.gen, make([]uint16, len(cl.vm.Got)-len(cl.gen))...)
	}
	gen := uint16(len(cl.vm.Resyncs))
	if cl.vm.Got[key] > 0 && cl.gen[key] != gen {
		// A copy from before a resync and one after it: the resync
		// told the client to start over (a store that lost its data
		// also lost the dedupe of a retry), so this is not a duplicate.
		cl.gen[key] = gen
		return
	}
	cl.gen[key] = gen
	if cl.vm.Got[key] < 255 {
		cl.vm.Got[key]++
	}
	if cl.vm.Got[key] > 1 {
		return // a duplicate; counted by Verify
	}
	if late {
		cl.vm.Late = append(cl.vm.Late, key)
	}
}

// readControl reads the chaos driver's lines until "stop" or the end of
// Control: "phase NAME" starts a phase of the verification report.
func (r *Run) readControl() {
	defer r.stopPublishing()
	if r.Control == nil {
		return
	}
	sc := bufio.NewScanner(r.Control)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		switch cmd {
		case "phase":
			r.addPhase(strings.TrimSpace(arg), nowUnix())
		case "stop":
			return
		case "":
		default:
			r.c.addError("control", fmt.Sprintf("unknown control line %q", sc.Text()))
		}
	}
}

func (r *Run) stopPublishing() {
	r.phMu.Lock()
	defer r.phMu.Unlock()
	select {
	case <-r.stopPub:
	default:
		close(r.stopPub)
	}
}

// addPhase starts phase name at t.
func (r *Run) addPhase(name string, t int64) {
	r.phMu.Lock()
	defer r.phMu.Unlock()
	r.phases = append(r.phases, PhaseMark{Name: name, Start: t})
	sort.SliceStable(r.phases, func(i, j int) bool { return r.phases[i].Start < r.phases[j].Start })
}

// verify builds the -verify verdict; every connection must have ended.
func (r *Run) verify() *VerifyReport {
	r.phMu.Lock()
	phases := append([]PhaseMark(nil), r.phases...)
	r.phMu.Unlock()
	rooms := make([]VRoom, len(r.rooms))
	for i, rm := range r.rooms {
		rm.vmu.Lock()
		rooms[i].Msgs = append([]VMsg(nil), rm.msgs...)
		rm.vmu.Unlock()
	}
	for _, cl := range r.clients {
		vm := cl.vm
		if cl.rejoining {
			vm.Dropped = true // a resync it never recovered from
		}
		ri := cl.idx / r.cfg.Users
		rooms[ri].Members = append(rooms[ri].Members, vm)
	}
	v := Verify(phases, rooms)
	r.lateMu.Lock()
	v.LateSample = append([]string(nil), r.lateSample...)
	r.lateMu.Unlock()
	return &v
}
