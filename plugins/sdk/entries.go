package sdk

// decodeEntries parses a state_list answer: repeated (u32 key length, key,
// u32 value length, value). Keys and values share b.
func decodeEntries(b []byte) ([]Entry, bool) {
	var es []Entry
	for i := 0; i < len(b); {
		if len(b)-i < 4 {
			return nil, false
		}
		kn := int(le32(b, i))
		i += 4
		if kn > len(b)-i || len(b)-i-kn < 4 {
			return nil, false
		}
		key := str(b[i : i+kn])
		i += kn
		vn := int(le32(b, i))
		i += 4
		if vn > len(b)-i {
			return nil, false
		}
		es = append(es, Entry{Key: key, Value: b[i : i+vn : i+vn]})
		i += vn
	}
	return es, true
}
