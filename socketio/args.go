package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
)

// Args are the arguments of a received event or acknowledgement. Binary
// attachments stand in the JSON as placeholders until Value or Values puts
// the bytes back.
type Args struct {
	raw         []json.RawMessage
	attachments [][]byte
}

// Len returns the number of arguments.
func (a Args) Len() int { return len(a.raw) }

// Raw returns argument i as JSON (nil if absent), placeholders included.
func (a Args) Raw(i int) json.RawMessage {
	if i < 0 || i >= len(a.raw) {
		return nil
	}
	return a.raw[i]
}

// ErrNoArg is returned by Decode for a missing argument.
var ErrNoArg = errors.New("socketio: missing argument")

// Decode unmarshals argument i into v with encoding/json. Binary
// attachments are not substituted; use Value for payloads with binary.
func (a Args) Decode(i int, v any) error {
	if i < 0 || i >= len(a.raw) {
		return ErrNoArg
	}
	return json.Unmarshal(a.raw[i], v)
}

// Value returns argument i decoded into Go values (json.Number for numbers,
// []byte for binary attachments, map[string]any, []any, ...), or nil.
func (a Args) Value(i int) any {
	if i < 0 || i >= len(a.raw) {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(a.raw[i]))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil
	}
	if len(a.attachments) == 0 {
		return v
	}
	return a.fill(v)
}

// Values returns every argument as Value would.
func (a Args) Values() []any {
	out := make([]any, len(a.raw))
	for i := range a.raw {
		out[i] = a.Value(i)
	}
	return out
}

func (a Args) fill(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if ph, _ := x["_placeholder"].(bool); ph && len(x) == 2 {
			if n, ok := x["num"].(json.Number); ok {
				if i, err := n.Int64(); err == nil && i >= 0 && int(i) < len(a.attachments) {
					return a.attachments[i]
				}
			}
		}
		for k, e := range x {
			x[k] = a.fill(e)
		}
	case []any:
		for i, e := range x {
			x[i] = a.fill(e)
		}
	}
	return v
}

// encodeArray appends a JSON array of head (if not empty) followed by args,
// replacing every []byte inside []any, map[string]any and the arguments
// themselves by a placeholder and collecting the bytes as attachments.
// Other values are encoded by encoding/json ([]byte inside structs becomes
// base64, as encoding/json does).
func encodeArray(dst []byte, head string, args []any) ([]byte, [][]byte, error) {
	var atts [][]byte
	dst = append(dst, '[')
	n := 0
	if head != "" {
		b, _ := json.Marshal(head)
		dst = append(dst, b...)
		n++
	}
	for _, a := range args {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		var err error
		if dst, err = encodeValue(dst, a, &atts); err != nil {
			return nil, nil, err
		}
	}
	return append(dst, ']'), atts, nil
}

func encodeValue(dst []byte, v any, atts *[][]byte) ([]byte, error) {
	switch x := v.(type) {
	case []byte:
		dst = append(dst, `{"_placeholder":true,"num":`...)
		dst = appendInt(dst, len(*atts))
		*atts = append(*atts, x)
		return append(dst, '}'), nil
	case json.RawMessage:
		if len(x) == 0 {
			return append(dst, "null"...), nil
		}
		return append(dst, x...), nil
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = encodeValue(dst, e, atts); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			kb, _ := json.Marshal(k)
			dst = append(append(dst, kb...), ':')
			var err error
			if dst, err = encodeValue(dst, x[k], atts); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(dst, b...), nil
}

func appendInt(dst []byte, n int) []byte {
	if n >= 10 {
		dst = appendInt(dst, n/10)
	}
	return append(dst, byte('0'+n%10))
}
