package engineio

import (
	"bytes"
	"encoding/base64"
	"errors"
)

// PacketType is the first byte of an Engine.IO text packet (protocol 4).
type PacketType byte

// Packet types of Engine.IO protocol 4, as their ASCII digit.
const (
	PacketOpen    PacketType = '0'
	PacketClose   PacketType = '1'
	PacketPing    PacketType = '2'
	PacketPong    PacketType = '3'
	PacketMessage PacketType = '4'
	PacketUpgrade PacketType = '5'
	PacketNoop    PacketType = '6'
)

// recordSeparator separates packets in an HTTP long-polling payload.
const recordSeparator = '\x1e'

// Errors returned by the decoders. They never carry input bytes.
var (
	ErrEmptyPacket   = errors.New("engineio: empty packet")
	ErrUnknownPacket = errors.New("engineio: unknown packet type")
	ErrBadBase64     = errors.New("engineio: invalid base64 in binary packet")
	ErrPayloadTooBig = errors.New("engineio: payload too large")
)

// Packet is one decoded Engine.IO packet. Data aliases the decoded input
// unless the packet came base64-encoded, in which case it is freshly allocated.
type Packet struct {
	Type   PacketType
	Binary bool
	Data   []byte
}

// DecodeText decodes one packet received as text (a websocket text frame or
// one record of a polling payload). A record starting with 'b' is a
// base64-encoded binary message, as sent by polling clients.
func DecodeText(p []byte) (Packet, error) {
	if len(p) == 0 {
		return Packet{}, ErrEmptyPacket
	}
	if p[0] == 'b' {
		data := make([]byte, base64.StdEncoding.DecodedLen(len(p)-1))
		n, err := base64.StdEncoding.Decode(data, p[1:])
		if err != nil {
			return Packet{}, ErrBadBase64
		}
		return Packet{Type: PacketMessage, Binary: true, Data: data[:n]}, nil
	}
	t := PacketType(p[0])
	if t < PacketOpen || t > PacketNoop {
		return Packet{}, ErrUnknownPacket
	}
	return Packet{Type: t, Data: p[1:]}, nil
}

// DecodePayload splits a polling payload into packets and calls fn for each,
// in order. It stops at the first malformed record and returns its error;
// packets before it have already been passed to fn.
func DecodePayload(payload []byte, fn func(Packet) error) error {
	if len(payload) == 0 {
		return ErrEmptyPacket
	}
	for len(payload) > 0 {
		rec := payload
		if i := bytes.IndexByte(payload, recordSeparator); i >= 0 {
			rec, payload = payload[:i], payload[i+1:]
			if len(payload) == 0 {
				return ErrEmptyPacket // trailing separator
			}
		} else {
			payload = nil
		}
		pkt, err := DecodeText(rec)
		if err != nil {
			return err
		}
		if err := fn(pkt); err != nil {
			return err
		}
	}
	return nil
}

// appendPolling appends m as one record of a polling payload: text packets as
// they are, binary messages as 'b' + base64.
func appendPolling(dst []byte, m *Message) []byte {
	if !m.binary {
		return append(dst, m.Packet()...)
	}
	dst = append(dst, 'b')
	return base64.StdEncoding.AppendEncode(dst, m.Packet())
}

// pollingSize is the number of bytes appendPolling writes for m.
func pollingSize(m *Message) int {
	if !m.binary {
		return len(m.Packet())
	}
	return 1 + base64.StdEncoding.EncodedLen(len(m.Packet()))
}
