package redis

import "strings"

// escaper keeps an id inside its hash tag: '{' and '}' would end or move
// the tag, '%' is escaped so the mapping stays one-to-one.
var escaper = strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D")

// keys builds the key names of one prefix (see the package doc).
type keys struct{ prefix string }

// roomKeys are the keys of one room; they share the room's hash slot.
type roomKeys struct {
	base string // P r{room}
}

func (k keys) room(room string) roomKeys {
	return roomKeys{base: k.prefix + "r{" + escaper.Replace(room) + "}"}
}

func (r roomKeys) meta() string            { return r.base + ":meta" }
func (r roomKeys) hist() string            { return r.base + ":hist" }
func (r roomKeys) state(ns string) string  { return r.base + ":st:" + ns }
func (r roomKeys) dedupe(k string) string  { return r.base + ":dd:" + k }
func (r roomKeys) refusal(k string) string { return r.base + ":dr:" + k }
func (r roomKeys) members() string         { return r.base + ":mem" }
func (r roomKeys) users() string           { return r.base + ":users" }
func (r roomKeys) channel() string         { return r.base + ":ch" }

// connKeys are the keys of one connection; they share its hash slot.
type connKeys struct {
	base string // P c{conn}
}

func (k keys) conn(id string) connKeys {
	return connKeys{base: k.prefix + "c{" + escaper.Replace(id) + "}"}
}

func (c connKeys) info() string  { return c.base }
func (c connKeys) rooms() string { return c.base + ":rooms" }

// live is the liveness sorted set of every connection under the prefix.
func (k keys) live() string { return k.prefix + "live" }

// slot is the Redis Cluster hash slot of key (CRC16/XMODEM of its hash tag,
// mod 16384), used to group sharded subscriptions by slot.
func slot(key string) int {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			key = key[s+1 : s+1+e]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for b := 0; b < 8; b++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}
