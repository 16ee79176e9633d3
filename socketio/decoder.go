package socketio

import (
	"encoding/json"
	"errors"
)

// Errors of the decoder of a client's packets; each disconnects the client.
var (
	// ErrUnexpectedBinary is returned for a binary message that no binary
	// packet announced, or for a text packet while attachments are due.
	ErrUnexpectedBinary = errors.New("socketio: unexpected binary attachment")
	// ErrPacketTooBig is returned once a packet and its attachments pass
	// the budget of one packet (the engine's MaxPayload).
	ErrPacketTooBig = errors.New("socketio: packet and attachments too large")
	// ErrBinaryBeforeConnect is returned for a binary packet from a client
	// that no namespace accepted yet.
	ErrBinaryBeforeConnect = errors.New("socketio: binary packet before connect")
)

// decoder reassembles packets from a client's Engine.IO messages: a text
// packet, followed, for binary types, by its attachments as binary messages.
type decoder struct {
	partial     *Packet
	attachments [][]byte
	size        int // bytes of the partial packet so far
}

// add takes one message. It returns a complete packet and its attachments,
// or nil while attachments are still due. The packet and attachments do not
// alias data. A packet and its attachments together may take budget bytes,
// checked before anything is kept; binary packets are refused unless
// connected. After an error the decoder must be reset.
func (d *decoder) add(data []byte, binary bool, budget int, connected bool) (*Packet, [][]byte, error) {
	if binary {
		if d.partial == nil {
			return nil, nil, ErrUnexpectedBinary
		}
		if d.size+len(data) > budget {
			return nil, nil, ErrPacketTooBig
		}
		d.size += len(data)
		d.attachments = append(d.attachments, append([]byte(nil), data...))
		if len(d.attachments) < d.partial.Attachments {
			return nil, nil, nil
		}
		p, atts := d.partial, d.attachments
		d.partial, d.attachments, d.size = nil, nil, 0
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
	if p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck {
		if !connected {
			return nil, nil, ErrBinaryBeforeConnect
		}
		if len(data) > budget {
			return nil, nil, ErrPacketTooBig
		}
	}
	if (p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck) && p.Attachments > 0 {
		d.partial, d.size = &p, len(data)
		return nil, nil, nil
	}
	return &p, nil, nil
}
