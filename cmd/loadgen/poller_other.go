//go:build !linux

package main

import "errors"

// poller needs epoll; loadgen's receive path is Linux only.
type poller struct{}

func newPoller() (*poller, error) { return nil, errors.New("loadgen needs Linux (epoll)") }

func (p *poller) attach(*wsConn) error { return errors.New("loadgen needs Linux (epoll)") }
func (p *poller) remove(int)           {}
func (p *poller) stop()                {}
