package redis

import "testing"

func TestSlot(t *testing.T) {
	tests := []struct {
		key  string
		want int
	}{
		{"123456789", 12739}, // CRC16/XMODEM check value 0x31C3
		{"foo", 12182},
		{"{foo}:bar", 12182},
		{"x{foo}:y{z}", 12182},
		{"{}foo", slot("{}foo")}, // empty tag: whole key (no panic)
	}
	for _, tt := range tests {
		if got := slot(tt.key); got != tt.want {
			t.Errorf("slot(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
}

func TestRoomKeysShareOneTag(t *testing.T) {
	k := keys{prefix: "p:"}
	rooms := []string{"r1", "a}b", "{x}", "50%", "school-7/class 3"}
	for _, room := range rooms {
		rk := k.room(room)
		want := slot(rk.meta())
		for _, key := range []string{rk.hist(), rk.state("ns"), rk.dedupe("u\x00m}1"), rk.members(), rk.users(), rk.channel()} {
			if slot(key) != want {
				t.Errorf("room %q: key %q in slot %d, meta in %d", room, key, slot(key), want)
			}
		}
	}
	if k.room("a}b").meta() == k.room("a%7Db").meta() {
		t.Error("escaping is not one-to-one")
	}
	if got := k.room("a}b").meta(); got != "p:r{a%7Db}:meta" {
		t.Errorf("room key = %q", got)
	}
}
