// Package socketio implements the server side of Socket.IO protocol 5 on
// top of package engineio: namespaces, connection middleware, sockets,
// rooms, events with binary attachments, and acknowledgements both ways.
package socketio

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// PacketType is the type of a Socket.IO packet (protocol 5).
type PacketType byte

// Packet types of Socket.IO protocol 5.
const (
	PacketConnect PacketType = iota
	PacketDisconnect
	PacketEvent
	PacketAck
	PacketConnectError
	PacketBinaryEvent
	PacketBinaryAck
)

// Decoding errors. A client that sends a malformed packet is disconnected
// with reason "parse error".
var (
	ErrEmptyPacket    = errors.New("socketio: empty packet")
	ErrBadPacketType  = errors.New("socketio: unknown packet type")
	ErrBadAttachments = errors.New("socketio: invalid attachment count")
	ErrBadID          = errors.New("socketio: invalid ack id")
	ErrBadPayload     = errors.New("socketio: invalid payload for packet type")
	ErrTooManyAttach  = errors.New("socketio: too many attachments")
	ErrInvalidUTF8    = errors.New("socketio: packet is not valid UTF-8")
)

// MaxAttachments bounds the binary attachments of one packet; together
// they also stay within one packet's byte budget (the engine's MaxPayload).
const MaxAttachments = 10

// Packet is a decoded Socket.IO packet header and its JSON payload.
type Packet struct {
	Type        PacketType
	Namespace   string // "/" when absent on the wire
	HasID       bool
	ID          uint64
	Attachments int             // binary attachments that follow (binary types)
	Data        json.RawMessage // the JSON payload, nil when absent
	// Args are the elements of an event's or ack's array payload, set by
	// Decode; for events Args[0] is the event name.
	Args []json.RawMessage
}

// reservedEvents cannot be emitted by clients (socket.io-parser's rule).
var reservedEvents = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true,
	"disconnecting": true, "newListener": true, "removeListener": true,
}

// Reserved reports whether name is one of the event names that Socket.IO
// keeps for itself ("connect", "disconnect", ...): clients may not emit
// them, and an event sent under one would confuse every client.
func Reserved(name string) bool { return reservedEvents[name] }

// Decode parses the text form of a packet: type, [attachments "-"],
// [namespace ","], [ack id], [JSON]. The payload is checked against the
// packet type as the reference parser does. Data aliases b.
func Decode(b []byte) (Packet, error) {
	if len(b) == 0 {
		return Packet{}, ErrEmptyPacket
	}
	// Nothing of a packet that is not UTF-8 (its namespace, say) may be
	// echoed back in a text frame.
	if !utf8.Valid(b) {
		return Packet{}, ErrInvalidUTF8
	}
	p, i, err := decodeHeader(b)
	if err != nil {
		return p, err
	}
	if i < len(b) {
		p.Data = b[i:]
		if !json.Valid(p.Data) {
			return p, ErrBadPayload
		}
	}
	if !payloadValid(&p) {
		return p, ErrBadPayload
	}
	return p, nil
}

// decodeHeader parses what precedes a packet's payload: type,
// [attachments "-"], [namespace ","], [ack id]. It returns the packet so
// far and the index of its payload in b; b must not be empty.
func decodeHeader(b []byte) (Packet, int, error) {
	var p Packet
	if b[0] < '0' || b[0] > '6' {
		return p, 0, ErrBadPacketType
	}
	p.Type = PacketType(b[0] - '0')
	i := 1
	if p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start || i >= len(b) || b[i] != '-' || i-start > 3 {
			return p, 0, ErrBadAttachments
		}
		n, _ := strconv.Atoi(string(b[start:i]))
		if n > MaxAttachments {
			return p, 0, ErrTooManyAttach
		}
		p.Attachments = n
		i++
	}
	p.Namespace = "/"
	if i < len(b) && b[i] == '/' {
		start := i
		for i < len(b) && b[i] != ',' {
			i++
		}
		p.Namespace = string(b[start:i])
		if i < len(b) {
			i++ // the comma
		}
	}
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i > start {
		id, err := strconv.ParseUint(string(b[start:i]), 10, 63)
		if err != nil {
			return p, 0, ErrBadID
		}
		p.HasID, p.ID = true, id
	}
	return p, i, nil
}

func payloadValid(p *Packet) bool {
	first := byte(0)
	if len(p.Data) > 0 {
		first = firstByte(p.Data)
	}
	switch p.Type {
	case PacketConnect:
		return p.Data == nil || first == '{'
	case PacketDisconnect:
		return p.Data == nil
	case PacketConnectError:
		return first == '{' || first == '"'
	case PacketEvent, PacketBinaryEvent:
		if first != '[' {
			return false
		}
		if json.Unmarshal(p.Data, &p.Args) != nil || len(p.Args) == 0 {
			return false
		}
		var name string
		if json.Unmarshal(p.Args[0], &name) == nil {
			return !reservedEvents[name]
		}
		var num float64
		return json.Unmarshal(p.Args[0], &num) == nil
	case PacketAck, PacketBinaryAck:
		return first == '[' && json.Unmarshal(p.Data, &p.Args) == nil
	}
	return false
}

func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

// AppendHeader appends the text form of p without its payload.
func (p *Packet) AppendHeader(dst []byte) []byte {
	dst = append(dst, byte('0'+p.Type))
	if p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck {
		dst = strconv.AppendInt(dst, int64(p.Attachments), 10)
		dst = append(dst, '-')
	}
	if p.Namespace != "" && p.Namespace != "/" {
		dst = append(dst, p.Namespace...)
		dst = append(dst, ',')
	}
	if p.HasID {
		dst = strconv.AppendUint(dst, p.ID, 10)
	}
	return dst
}

// Append appends the text form of p, payload included.
func (p *Packet) Append(dst []byte) []byte {
	return append(p.AppendHeader(dst), p.Data...)
}
