package engineio

import (
	"encoding/binary"

	"github.com/gobwas/ws"
)

// Message is an outgoing Engine.IO packet, encoded once into its websocket
// frame and shared read-only by every session it is sent to: a broadcast to
// ten thousand sockets builds one Message, not ten thousand.
type Message struct {
	binary bool
	hdr    int    // length of the websocket frame header at the start of frame
	frame  []byte // websocket frame: header, then the packet
}

// NewTextMessage returns a message packet ('4' + data) for text data.
func NewTextMessage(data []byte) *Message {
	return newPacket(PacketMessage, data)
}

// NewTextMessageString is NewTextMessage for a string.
func NewTextMessageString(data string) *Message {
	m := newFrame(ws.OpText, 1+len(data))
	m.frame[m.hdr] = byte(PacketMessage)
	copy(m.frame[m.hdr+1:], data)
	return m
}

// NewBinaryMessage returns a binary message packet carrying data.
func NewBinaryMessage(data []byte) *Message {
	m := newFrame(ws.OpBinary, len(data))
	m.binary = true
	copy(m.frame[m.hdr:], data)
	return m
}

func newPacket(t PacketType, data []byte) *Message {
	m := newFrame(ws.OpText, 1+len(data))
	m.frame[m.hdr] = byte(t)
	copy(m.frame[m.hdr+1:], data)
	return m
}

func newFrame(op ws.OpCode, n int) *Message {
	h := ws.Header{Fin: true, OpCode: op, Length: int64(n)}
	hs := ws.HeaderSize(h)
	m := &Message{hdr: hs, frame: make([]byte, hs+n)}
	putHeader(m.frame, h)
	return m
}

// putHeader writes an unmasked server frame header into dst, which has room
// for ws.HeaderSize(h) bytes.
func putHeader(dst []byte, h ws.Header) {
	dst[0] = byte(h.OpCode)
	if h.Fin {
		dst[0] |= 0x80
	}
	switch n := h.Length; {
	case n < 126:
		dst[1] = byte(n)
	case n <= 0xffff:
		dst[1] = 126
		binary.BigEndian.PutUint16(dst[2:], uint16(n))
	default:
		dst[1] = 127
		binary.BigEndian.PutUint64(dst[2:], uint64(n))
	}
}

// Binary reports whether m is a binary message.
func (m *Message) Binary() bool { return m.binary }

// Packet returns the Engine.IO packet: type byte and data for text packets,
// raw data for binary messages. The caller must not modify it.
func (m *Message) Packet() []byte { return m.frame[m.hdr:] }

// Frame returns the complete websocket frame. The caller must not modify it.
func (m *Message) Frame() []byte { return m.frame }

// Control packets shared by every session.
var (
	pingMessage  = newPacket(PacketPing, nil)
	noopMessage  = newPacket(PacketNoop, nil)
	closeMessage = newPacket(PacketClose, nil)
	probeMessage = newPacket(PacketPong, []byte("probe"))
)
