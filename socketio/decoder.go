package socketio

import (
	"encoding/json"
	"errors"
)

// ErrUnexpectedBinary is returned for a binary message that no binary
// packet announced, or for a text packet while attachments are due.
var ErrUnexpectedBinary = errors.New("socketio: unexpected binary attachment")

// decoder reassembles packets from a client's Engine.IO messages: a text
// packet, followed, for binary types, by its attachments as binary messages.
type decoder struct {
	partial     *Packet
	attachments [][]byte
}

// add takes one message. It returns a complete packet and its attachments,
// or nil while attachments are still due. The packet and attachments do not
// alias data. After an error the decoder must be reset.
func (d *decoder) add(data []byte, binary bool) (*Packet, [][]byte, error) {
	if binary {
		if d.partial == nil {
			return nil, nil, ErrUnexpectedBinary
		}
		d.attachments = append(d.attachments, append([]byte(nil), data...))
		if len(d.attachments) < d.partial.Attachments {
			return nil, nil, nil
		}
		p, atts := d.partial, d.attachments
		d.partial, d.attachments = nil, nil
		return p, atts, nil
	}
	if d.partial != nil {
		return nil, nil, ErrUnexpectedBinary
	}
	p, err := Decode(data)
	if err != nil {
		return nil, nil, err
	}
	// Args were copied by encoding/json; the raw payload aliases data.
	p.Data = append(json.RawMessage(nil), p.Data...)
	if (p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck) && p.Attachments > 0 {
		d.partial = &p
		return nil, nil, nil
	}
	return &p, nil, nil
}
