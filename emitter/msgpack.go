package emitter

import (
	"encoding/binary"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// maxDepth bounds the nesting of arrays and maps in one message.
const maxDepth = 32

// reader is a strict MessagePack reader over one message. Every length is
// checked against the bytes left before anything is read, so no input
// makes it allocate more than a small multiple of the input's size.
type reader struct {
	b   []byte
	off int
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) take(n int) ([]byte, error) {
	if n < 0 || n > r.left() {
		return nil, errMalformed
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p, nil
}

func (r *reader) byte() (byte, error) {
	p, err := r.take(1)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

// uintN reads a big-endian unsigned integer of n bytes (1, 2, 4 or 8).
func (r *reader) uintN(n int) (uint64, error) {
	p, err := r.take(n)
	if err != nil {
		return 0, err
	}
	switch n {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(p)), nil
	}
	return binary.BigEndian.Uint64(p), nil
}

// lenN reads a length of n bytes; it must fit in what is left when each
// element takes at least min bytes.
func (r *reader) lenN(n, min int) (int, error) {
	v, err := r.uintN(n)
	if err != nil {
		return 0, err
	}
	if v > uint64(r.left()/min) {
		return 0, errMalformed
	}
	return int(v), nil
}

// kind is what header a value has, for callers that expect one kind.
type kind int

const (
	kindOther kind = iota
	kindStr
	kindArray
	kindMap
)

// head reads a value's header. For str, bin, array, map and ext it
// returns the length (elements for arrays, pairs for maps); scalars are
// left to the caller via the returned first byte.
func (r *reader) head() (c byte, k kind, n int, err error) {
	if c, err = r.byte(); err != nil {
		return
	}
	switch {
	case c >= 0xa0 && c <= 0xbf:
		return c, kindStr, int(c & 0x1f), r.need(int(c & 0x1f))
	case c >= 0x90 && c <= 0x9f:
		return c, kindArray, int(c & 0x0f), r.need(int(c & 0x0f))
	case c >= 0x80 && c <= 0x8f:
		return c, kindMap, int(c & 0x0f), r.need(2 * int(c&0x0f))
	}
	switch c {
	case 0xd9, 0xda, 0xdb:
		n, err = r.lenN(1<<(c-0xd9), 1)
		return c, kindStr, n, err
	case 0xdc, 0xdd:
		n, err = r.lenN(2<<(c-0xdc), 1)
		return c, kindArray, n, err
	case 0xde, 0xdf:
		n, err = r.lenN(2<<(c-0xde), 2)
		return c, kindMap, n, err
	}
	return c, kindOther, 0, nil
}

// need checks that n more bytes are there (one per element at least).
func (r *reader) need(n int) error {
	if n > r.left() {
		return errMalformed
	}
	return nil
}

// str reads a string value (valid UTF-8).
func (r *reader) str() (string, error) {
	_, k, n, err := r.head()
	if err != nil {
		return "", err
	}
	if k != kindStr {
		return "", errMalformed
	}
	p, err := r.take(n)
	if err != nil || !utf8.Valid(p) {
		return "", errMalformed
	}
	return string(p), nil
}

// strings reads an array of strings (nil is an empty one).
func (r *reader) strings() ([]string, error) {
	if r.left() > 0 && r.b[r.off] == 0xc0 {
		r.off++
		return nil, nil
	}
	_, k, n, err := r.head()
	if err != nil {
		return nil, err
	}
	if k != kindArray {
		return nil, errMalformed
	}
	out := make([]string, 0, n)
	for range n {
		s, err := r.str()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// int reads an integer value.
func (r *reader) int() (int64, error) {
	c, _, _, err := r.head()
	if err != nil {
		return 0, err
	}
	switch {
	case c <= 0x7f:
		return int64(c), nil
	case c >= 0xe0:
		return int64(int8(c)), nil
	case c >= 0xcc && c <= 0xcf:
		v, err := r.uintN(1 << (c - 0xcc))
		if err != nil || v > math.MaxInt64 {
			return 0, errMalformed
		}
		return int64(v), nil
	case c >= 0xd0 && c <= 0xd3:
		n := 1 << (c - 0xd0)
		v, err := r.uintN(n)
		if err != nil {
			return 0, err
		}
		shift := 64 - 8*n
		return int64(v<<shift) >> shift, nil
	case c == 0xcb: // a whole float64, as JavaScript numbers may come
		v, err := r.uintN(8)
		f := math.Float64frombits(v)
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, errMalformed
		}
		return int64(f), nil
	}
	return 0, errMalformed
}

// skip reads and discards one value.
func (r *reader) skip(depth int) error {
	var discard jsonWriter
	return r.json(&discard, depth)
}

// jsonWriter collects the JSON form of msgpack values and the binary
// values found in them, replaced by Socket.IO attachment placeholders.
type jsonWriter struct {
	dst  []byte
	atts [][]byte
}

// json appends the JSON form of one value to w: nil, booleans, integers,
// finite floats, UTF-8 strings, arrays, maps with string keys in their
// order, bin as an attachment placeholder and the timestamp extension as
// an ISO-8601 string (what JSON.stringify makes of a Date). Anything else
// (other extensions, NaN, invalid UTF-8, non-string keys) is an error.
func (r *reader) json(w *jsonWriter, depth int) error {
	if depth > maxDepth {
		return errMalformed
	}
	start := r.off
	c, k, n, err := r.head()
	if err != nil {
		return err
	}
	switch k {
	case kindStr:
		r.off = start
		s, err := r.str()
		if err != nil {
			return err
		}
		w.dst = appendJSONString(w.dst, s)
		return nil
	case kindArray:
		w.dst = append(w.dst, '[')
		for i := range n {
			if i > 0 {
				w.dst = append(w.dst, ',')
			}
			if err := r.json(w, depth+1); err != nil {
				return err
			}
		}
		w.dst = append(w.dst, ']')
		return nil
	case kindMap:
		w.dst = append(w.dst, '{')
		for i := range n {
			if i > 0 {
				w.dst = append(w.dst, ',')
			}
			key, err := r.str()
			if err != nil {
				return err
			}
			w.dst = append(appendJSONString(w.dst, key), ':')
			if err := r.json(w, depth+1); err != nil {
				return err
			}
		}
		w.dst = append(w.dst, '}')
		return nil
	}
	switch {
	case c == 0xc0:
		w.dst = append(w.dst, "null"...)
	case c == 0xc2:
		w.dst = append(w.dst, "false"...)
	case c == 0xc3:
		w.dst = append(w.dst, "true"...)
	case c <= 0x7f || c >= 0xe0 || (c >= 0xd0 && c <= 0xd3):
		r.off = start
		v, err := r.int()
		if err != nil {
			return err
		}
		w.dst = strconv.AppendInt(w.dst, v, 10)
	case c >= 0xcc && c <= 0xcf:
		v, err := r.uintN(1 << (c - 0xcc))
		if err != nil {
			return err
		}
		w.dst = strconv.AppendUint(w.dst, v, 10)
	case c == 0xca || c == 0xcb:
		var f float64
		if c == 0xca {
			v, err := r.uintN(4)
			if err != nil {
				return err
			}
			f = float64(math.Float32frombits(uint32(v)))
		} else {
			v, err := r.uintN(8)
			if err != nil {
				return err
			}
			f = math.Float64frombits(v)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return errMalformed
		}
		w.dst = strconv.AppendFloat(w.dst, f, 'g', -1, 64)
	case c >= 0xc4 && c <= 0xc6: // bin
		n, err := r.lenN(1<<(c-0xc4), 1)
		if err != nil {
			return err
		}
		p, err := r.take(n)
		if err != nil {
			return err
		}
		w.dst = append(w.dst, `{"_placeholder":true,"num":`...)
		w.dst = strconv.AppendInt(w.dst, int64(len(w.atts)), 10)
		w.dst = append(w.dst, '}')
		w.atts = append(w.atts, p)
	case c == 0xd6 || c == 0xd7 || c == 0xc7: // the timestamp extension
		return r.timestamp(w, c)
	default: // 0xc1, other extensions
		return errMalformed
	}
	return nil
}

// timestamp reads the timestamp extension (type -1) after its first byte.
func (r *reader) timestamp(w *jsonWriter, c byte) error {
	size := 4
	switch c {
	case 0xd7:
		size = 8
	case 0xc7:
		n, err := r.uintN(1)
		if err != nil || n != 12 {
			return errMalformed
		}
		size = 12
	}
	typ, err := r.byte()
	if err != nil || int8(typ) != -1 {
		return errMalformed
	}
	p, err := r.take(size)
	if err != nil {
		return err
	}
	var sec int64
	var nsec uint32
	switch size {
	case 4:
		sec = int64(binary.BigEndian.Uint32(p))
	case 8:
		v := binary.BigEndian.Uint64(p)
		nsec, sec = uint32(v>>34), int64(v&(1<<34-1))
	default:
		nsec, sec = binary.BigEndian.Uint32(p), int64(binary.BigEndian.Uint64(p[4:]))
	}
	t := time.Unix(sec, int64(nsec)).UTC()
	if nsec >= 1e9 || t.Year() < 0 || t.Year() > 9999 {
		return errMalformed
	}
	w.dst = append(w.dst, '"')
	w.dst = t.AppendFormat(w.dst, "2006-01-02T15:04:05.000Z")
	w.dst = append(w.dst, '"')
	return nil
}

// appendJSONString appends s (valid UTF-8) as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
